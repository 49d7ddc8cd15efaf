/**
 * The entry of a worker-pool thread: loads the module that defines the tasks, then runs the task
 * runs the pool sends (one per message, or several in a RunMany, started in order). A body that
 * finishes synchronously runs without a fiber; one that suspends keeps its fiber until it ends.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashSet from "effect/HashSet"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Tracer from "effect/Tracer"
import { parentPort, workerData } from "node:worker_threads"
import * as Errors from "../../Errors.js"
import { decodeArguments, encodeExit, encodeUncloneable } from "../codec/wire.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { lookup } from "../core/registry.js"
import { cut, MAX_MESSAGE, renderMessage } from "../store/runLogs.js"
import type { SpanRecorder, ThreadSpans } from "../telemetry/threadSpans.js"
import { makeRecorder } from "../telemetry/threadSpans.js"
import { beginRun } from "./runProgress.js"
import type { FromPool, Run, ThreadData, ThreadLogLine, ToPool } from "./workerProtocol.js"
import { describeError } from "./workerProtocol.js"

const port = parentPort!
const data: ThreadData = workerData
const module = data.module
/** Shared with the pool: which runs this thread has begun, which the pool cancelled before (`runProgress.ts`). */
const progress = new Int32Array(data.shared)
/** How many runs this thread has begun: the next run's place among those sent to it. */
let begun = 0
const send = (message: ToPool) => port.postMessage(message)

const running = new Map<number, Fiber.RuntimeFiber<unknown, unknown>>()

// Logs: a body's lines are kept by run and sent to the pool (before the run's Done, and every 50 ms
// while it runs), which logs them on the run's own fiber: the user's Logger prints them there, with
// the run's annotations, and the run logs record them. The thread's own loggers print nothing.

/** Lines not yet sent, by run id. */
const unsent = new Map<string, Array<ThreadLogLine>>()
let flushTimer: ReturnType<typeof setTimeout> | undefined

const sendLines = (runId: string) => {
  const lines = unsent.get(runId)
  if (lines === undefined) return
  unsent.delete(runId)
  send({ _tag: "Logs", runId, lines })
}

const flushAll = () => {
  flushTimer = undefined
  for (const runId of Array.from(unsent.keys())) sendLines(runId)
}

const keepLine = (options: Logger.Logger.Options<unknown>, inSpan: boolean) => {
  const runId = FiberRefs.getOrDefault(options.context, currentTaskRunId)
  if (runId === undefined) return
  const annotations: Record<string, string> = {}
  for (const [key, value] of options.annotations) annotations[key] = cut(Inspectable.toStringUnknown(value, 0), 1024)
  let lines = unsent.get(runId)
  if (lines === undefined) unsent.set(runId, lines = [])
  const line: ThreadLogLine = {
    level: options.logLevel._tag,
    message: cut(renderMessage(options.message, options.cause), MAX_MESSAGE),
    timestamp: options.date.getTime(),
    annotations,
    spans: Array.from(options.spans, (span) => ({ label: span.label, startTime: span.startTime }))
  }
  lines.push(inSpan ? { ...line, inSpan } : line)
  flushTimer ??= setTimeout(flushAll, 50)
}

const threadLogger = Logger.make<unknown, void>((options) => keepLine(options, false))

/** Whether a line was logged under a span the body made on this thread (not the run's own span). */
const underThreadSpan = (context: FiberRefs.FiberRefs): boolean => {
  const span = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
  return Option.isSome(span) && span.value._tag === "Span"
}

/** A traced run's: Effect's tracer logger makes its lines events of the thread spans, as in-process. */
const tracedThreadLogger = Logger.make<unknown, void>((options) => keepLine(options, underThreadSpan(options.context)))

/** The refs every body starts with: the thread logger alone. */
const baseRefs = FiberRefs.unsafeMake(
  new Map([[FiberRef.currentLoggers, [[FiberId.none, HashSet.make<[Logger.Logger<unknown, unknown>]>(threadLogger)]]]])
)

/** A traced run's: lines are also events of the spans they were logged under (`Logger.tracerLogger`). */
const tracedRefs = FiberRefs.unsafeMake(
  new Map([[
    FiberRef.currentLoggers,
    [[FiberId.none, HashSet.make<Array<Logger.Logger<unknown, unknown>>>(tracedThreadLogger, Logger.tracerLogger)]]
  ]])
)

/**
 * The runtime a run's body runs in: its run id (and flow run id, minimum log level) set, for its logs
 * and `Task.currentRunId`; when the run is traced, the recorder's tracer and the run's span as parent.
 */
const runtimeOf = (message: Run, recorder: SpanRecorder | undefined): Runtime.Runtime<never> => {
  let refs = FiberRefs.updateAs(recorder === undefined ? baseRefs : tracedRefs, {
    fiberId: FiberId.none,
    fiberRef: currentTaskRunId,
    value: message.runId
  })
  if (message.flowRunId !== undefined) {
    refs = FiberRefs.updateAs(refs, { fiberId: FiberId.none, fiberRef: currentFlowRunId, value: message.flowRunId })
  }
  if (message.minLevel !== undefined) {
    refs = FiberRefs.updateAs(refs, {
      fiberId: FiberId.none,
      fiberRef: FiberRef.currentMinimumLogLevel,
      value: LogLevel.fromLiteral(message.minLevel as LogLevel.Literal)
    })
  }
  let context = Context.empty()
  if (recorder !== undefined) {
    refs = FiberRefs.updateAs(refs, {
      fiberId: FiberId.none,
      fiberRef: DefaultServices.currentServices,
      value: Context.add(DefaultServices.liveServices, Tracer.Tracer, recorder.tracer)
    })
    if (recorder.parent !== undefined) context = Context.make(Tracer.ParentSpan, recorder.parent)
  }
  return Runtime.make({ context, runtimeFlags: Runtime.defaultRuntime.runtimeFlags, fiberRefs: refs })
}

const finish = (
  id: number,
  runId: string,
  def: TaskDefinition | undefined,
  exit: Exit.Exit<unknown, unknown>,
  begin: number,
  recorder?: SpanRecorder
) => {
  running.delete(id)
  const micros = (performance.now() - begin) * 1000
  // The run's lines go before its outcome: the pool records its final state after them.
  if (unsent.size > 0) sendLines(runId)
  // With the outcome, so the pool replays them before the run's own span ends.
  const spans = recorder?.takeEnded()
  try {
    send(doneMessage(id, encodeExit(def, runId, exit), micros, spans))
  } catch (error) {
    // Structured clone refused the value (a function, a symbol, …): say so rather than hang.
    send(doneMessage(id, encodeUncloneable(def, runId, error), micros, spans))
  }
}

const doneMessage = (id: number, exit: unknown, micros: number, spans: ThreadSpans | undefined): ToPool =>
  spans === undefined ? { _tag: "Done", id, exit, micros } : { _tag: "Done", id, exit, micros, spans }

const run = (message: Run) => {
  const begin = performance.now()
  if (!beginRun(progress, begun++)) {
    return finish(message.id, message.runId, undefined, Exit.interrupt(FiberId.none), begin)
  }
  const def = lookup(message.name)
  if (def === undefined) {
    return finish(
      message.id,
      message.runId,
      undefined,
      Exit.die(
        new Errors.UnknownTask({
          taskName: message.name,
          message: `The worker pool's module ${module} does not define a task named '${message.name}'.`
        })
      ),
      begin
    )
  }
  const args = decodeArguments(def, message.runId, message.args)
  if (Either.isLeft(args)) return finish(message.id, message.runId, def, Exit.die(args.left), begin)
  // Only a traced run records spans: an untraced body keeps Effect's default tracer, as in-process.
  const recorder = message.tracing === undefined ? undefined : makeRecorder(message.tracing.parent)
  // Most bodies finish synchronously: run them so, and keep a fiber only for those that suspend.
  const exit = Runtime.runSyncExit(runtimeOf(message, recorder))(
    def.fn(...args.right) as Effect.Effect<unknown, unknown>
  )
  const suspended = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
  if (!Runtime.isAsyncFiberException(suspended)) return finish(message.id, message.runId, def, exit, begin, recorder)
  const fiber = suspended.fiber
  running.set(message.id, fiber)
  fiber.addObserver((exit) => finish(message.id, message.runId, def, exit, begin, recorder))
}

try {
  await import(module)
  port.on("message", (message: FromPool) => {
    if (message._tag === "Run") return run(message)
    if (message._tag === "RunMany") {
      for (const one of message.runs) run(one)
      return
    }
    // Cooperative cancellation: the pool terminates the thread if the fiber does not stop in time.
    const fiber = running.get(message.id)
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(fiber.id())
  })
  send({ _tag: "Ready" })
} catch (error) {
  send({ _tag: "LoadFailed", message: describeError(error) })
}
