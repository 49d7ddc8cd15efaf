/**
 * The worker-thread pool: `size` threads and a FIFO queue in front of them. Plain callbacks, no
 * fiber per message: the pool's per-run overhead is a postMessage each way.
 *
 * - `poolThread.ts`: a thread and the runs given to it (start, post, end the runs of a dead one).
 * - `poolQueue.ts`: the queue and which run goes to which thread (pipelining).
 * - here: the pool's life (start, replace dead threads, shut down) and a run's (send, cancel).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import type * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import { isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { ResourceLimits } from "node:worker_threads"
import * as Errors from "../../Errors.js"
import type { Service as TaskRunnerService, WorkerPoolOptions } from "../../TaskRunner.js"
import { decodeExit, encodeArguments } from "../codec/wire.js"
import { currentFlowRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { decodeDuration } from "../core/duration.js"
import type { TaskBody } from "../engine/engine.js"
import { tracingOn } from "../telemetry/spanParent.js"
import type { ReplayTarget } from "../telemetry/threadSpans.js"
import { idsOf, replaySpans } from "../telemetry/threadSpans.js"
import type { RunQueue, TaskSpeeds } from "./poolQueue.js"
import { dispatch, drain, enqueue, makeRunQueue, recordSpeed, requeueFirst } from "./poolQueue.js"
import type { Job, PoolThread, ThreadLoader } from "./poolThread.js"
import {
  cancelIfNotBegunJob,
  endJobsOfExited,
  notRunnable,
  settle,
  spawnThread,
  takeAnswered,
  threadLoader
} from "./poolThread.js"
import { makeRunner, TaskRunner } from "./taskRunner.js"
import type { FromPool, Run, ThreadLogLine, ToPool } from "./workerProtocol.js"
import { describeError } from "./workerProtocol.js"

/** The pool's state, shared by the functions below. */
interface Pool {
  /** The URL of the module the threads load. */
  readonly module: string
  readonly resourceLimits: ResourceLimits | undefined
  /** Plain node, or tsx registered first (a TypeScript module, or the library run from its sources). */
  readonly loader: ThreadLoader
  /** How long a cancelled run's thread may take to stop before it is terminated. */
  readonly grace: Duration.Duration
  readonly threads: Array<PoolThread>
  readonly queue: RunQueue
  readonly speeds: TaskSpeeds
  /** Done once the first threads are all ready, or failed with why the pool could not start. */
  readonly started: Deferred.Deferred<void, Errors.WorkerPoolError>
  nextJobId: number
  closed: boolean
}

// Threads: start, load, replace on death.

const addThread = (pool: Pool): void => {
  const thread = spawnThread(pool.module, pool.resourceLimits, pool.loader, {
    onMessage: (thread, message) => onThreadMessage(pool, thread, message),
    onExit: (thread, code) => onThreadExit(pool, thread, code)
  })
  pool.threads.push(thread)
}

const onThreadMessage = (pool: Pool, thread: PoolThread, message: ToPool): void => {
  switch (message._tag) {
    case "Ready": {
      thread.ready = true
      if (pool.threads.every((other) => other.ready)) Deferred.unsafeDone(pool.started, Exit.void)
      return dispatch(pool.queue, pool.threads, pool.speeds)
    }
    case "LoadFailed": {
      thread.loadFailure = `the module ${pool.module} failed to load: ${message.message}`
      thread.ending = thread.loadFailure
      failStartup(pool, message.message)
      void thread.worker.terminate()
      return
    }
    case "Done":
      return onRunDone(pool, thread, message)
    case "Logs": {
      // Sent before the run's Done: its job is still the thread's.
      const job = thread.jobs.find((job) => job.message.runId === message.runId)
      if (job !== undefined && !job.settled) job.relog(message.lines)
      return
    }
  }
}

/** Routes a run's outcome back to its fiber, after giving the thread its next runs. */
const onRunDone = (pool: Pool, thread: PoolThread, message: Extract<ToPool, { _tag: "Done" }>): void => {
  const job = takeAnswered(thread, message.id)
  if (job === undefined) return
  if (!job.settled) recordSpeed(pool.speeds, job.def.name, message.micros)
  // Refill the thread before handling the outcome, so it works while the main thread records it.
  if (!pool.closed) dispatch(pool.queue, pool.threads, pool.speeds)
  // Before the outcome: the body's spans end before the run's span does.
  if (job.tracing !== undefined && message.spans !== undefined) {
    try {
      replaySpans(job.tracing, message.spans)
    } catch {
      // The user's tracer (a span processor) threw: its spans are lost, but the run still settles.
    }
  }
  settle(job, decodeExit(job.def, job.message.runId, message.exit))
}

/** Ends the runs the thread began, puts the others back in the queue, and replaces the thread. */
const onThreadExit = (pool: Pool, thread: PoolThread, code: number): void => {
  pool.threads.splice(pool.threads.indexOf(thread), 1)
  const unstarted = endJobsOfExited(thread, code, pool.closed)
  if (!thread.ready) failStartup(pool, thread.ending ?? `a worker thread exited with code ${code} while starting`)
  if (pool.closed) return
  requeueFirst(pool.queue, unstarted)
  if (thread.loadFailure === undefined) return addThread(pool)
  // The module no longer loads: once no thread is left, queued runs crash rather than wait forever.
  if (pool.threads.length === 0) failQueued(pool, thread.loadFailure)
}

const failStartup = (pool: Pool, message: string): void =>
  Deferred.unsafeDone(
    pool.started,
    Exit.fail(
      new Errors.WorkerPoolError({ module: pool.module, message: `The worker pool could not start: ${message}` })
    )
  )

const failQueued = (pool: Pool, reason: string): void => drain(pool.queue, (job) => settle(job, notRunnable(reason)))

// Runs: send to a thread, cancel.

/** Whether structured clone can copy a value; the error it raised when not. */
const cloneFailure = (value: unknown): unknown => {
  try {
    structuredClone(value)
    return undefined
  } catch (error) {
    return error
  }
}

/** The arguments as a thread receives them, or why they cannot cross: the run then fails before any thread. */
const encodeForThread = (
  def: TaskDefinition,
  runId: string,
  args: ReadonlyArray<unknown>
): Either.Either<unknown, Errors.SerializationError> => {
  const encoded = encodeArguments(def, runId, args)
  // Only objects can fail to clone: plain arguments skip the check.
  if (Either.isLeft(encoded) || !args.some(mayBeUncloneable)) return encoded
  const failure = cloneFailure(encoded.right)
  if (failure === undefined) return encoded
  return Either.left(
    new Errors.SerializationError({
      runId,
      message: `The arguments of task run '${def.name}' (${runId}) cannot be sent to a worker thread: ` +
        `${describeError(failure)}. Pass structured-clone data, or give the task a parameters Schema.`
    })
  )
}

const mayBeUncloneable = (arg: unknown) =>
  typeof arg === "object" || typeof arg === "function" || typeof arg === "symbol"

/** The run's fiber's refs as they are (`getFiberRefs()` writes into them: a copy of its own). */
interface FiberRefsOf {
  readonly _fiberRefs: FiberRefs.FiberRefs
}

/**
 * Logs lines a run logged on its thread on the run's own fiber (suspended, waiting for the thread):
 * through its loggers, with its annotations and spans around the thread's, at its minimum level.
 */
const relogOn = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => (lines: ReadonlyArray<ThreadLogLine>): void => {
  const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
  const context = (fiber as unknown as FiberRefsOf)._fiberRefs
  const annotations = fiber.getFiberRef(FiberRef.currentLogAnnotations)
  const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
  for (const line of lines) {
    const options: Logger.Logger.Options<unknown> = {
      fiberId: fiber.id(),
      logLevel: LogLevel.fromLiteral(line.level as LogLevel.Literal),
      message: line.message,
      cause: Cause.empty,
      context,
      spans: line.spans.length === 0 ? spans : List.appendAll(List.fromIterable(line.spans), spans),
      annotations: HashMap.union(annotations, HashMap.fromIterable(Object.entries(line.annotations))),
      date: new Date(line.timestamp)
    }
    for (const logger of loggers) {
      // The line is an event of the thread span it was logged under already (see `ThreadLogLine`).
      if (line.inSpan === true && logger === Logger.tracerLogger) continue
      logger.log(options)
    }
  }
}

/** The run's fiber's minimum log level, when not the default: its body on the thread logs what it lets through. */
const minLevelOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): string | undefined => {
  const level = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
  return level === LogLevel.Info ? undefined : level._tag
}

/**
 * What the pool needs to replay a run's thread spans, when its fiber traces (a user's tracer is
 * installed): otherwise nothing, and the thread runs the body as it would without tracing.
 */
const tracingOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): ReplayTarget | undefined =>
  tracingOn(fiber)
    ? {
      tracer: fiber.currentTracer,
      clock: Context.get(fiber.currentDefaultServices, Clock.Clock),
      parent: fiber.currentSpan
    }
    : undefined

/** A run the thread records the body's spans of, under the span current in the run's fiber. */
const tracedMessage = (message: Run, tracing: ReplayTarget): Run => ({
  ...message,
  tracing: tracing.parent === undefined ? {} : { parent: idsOf(tracing.parent) }
})

/** The body a run's fiber executes on this runner: the run goes to a thread, its fiber waits for the outcome. */
const runOnThread = (pool: Pool): TaskBody => (def, runId, args) =>
  Effect.withFiberRuntime((fiber) => startOnThread(pool, fiber, def, runId, args))

const startOnThread = (
  pool: Pool,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  def: TaskDefinition,
  runId: string,
  args: ReadonlyArray<unknown>
) =>
  Effect.async<unknown, unknown>((resume) => {
    const encoded = encodeForThread(def, runId, args)
    if (Either.isLeft(encoded)) return resume(Effect.die(encoded.left))
    const id = pool.nextJobId++
    const flowRunId = fiber.getFiberRef(currentFlowRunId)
    const minLevel = minLevelOf(fiber)
    const tracing = tracingOf(fiber)
    const message: Run = {
      _tag: "Run",
      id,
      runId,
      name: def.name,
      args: encoded.right,
      ...(flowRunId === undefined ? {} : { flowRunId }),
      ...(minLevel === undefined ? {} : { minLevel })
    }
    const job: Job = {
      id,
      def,
      message: tracing === undefined ? message : tracedMessage(message, tracing),
      relog: relogOn(fiber),
      tracing,
      resume,
      thread: undefined,
      seq: -1,
      settled: false,
      answered: undefined
    }
    enqueue(pool.queue, job)
    dispatch(pool.queue, pool.threads, pool.speeds)
    return Effect.suspend(() => cancel(pool, job))
  })

/** Cooperative first; a thread that does not stop within the grace period is replaced. */
const cancel = (pool: Pool, job: Job): Effect.Effect<void> => {
  if (job.settled) return Effect.void
  const thread = job.thread
  if (thread === undefined || cancelIfNotBegunJob(thread, job)) {
    // Still queued, or waiting behind another run on its thread: skipped there (which still answers).
    job.settled = true
    return Effect.void
  }
  thread.worker.postMessage({ _tag: "Interrupt", id: job.id } satisfies FromPool)
  const answered = Deferred.unsafeMake<void>(FiberId.none)
  job.answered = answered
  // A canceller runs uninterruptibly: the racers must be interruptible, or the loser is awaited.
  return Effect.raceFirst(
    Effect.interruptible(Deferred.await(answered)),
    Effect.interruptible(Effect.zipRight(Effect.sleep(pool.grace), terminateFor(thread, job, answered)))
  )
}

/** Terminates the thread of a run that did not stop in time; the run then ends Cancelled. */
const terminateFor = (thread: PoolThread, job: Job, answered: Deferred.Deferred<void>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (job.settled) return Effect.void
    thread.terminatedFor = job
    thread.ending ??= "terminated after a cancellation grace period"
    return Effect.promise(() => thread.worker.terminate()).pipe(Effect.zipRight(Deferred.await(answered)))
  })

// The pool: start, shut down.

const awaitStartup = (pool: Pool, timeout: Duration.Duration): Effect.Effect<void, Errors.WorkerPoolError> =>
  Deferred.await(pool.started).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new Errors.WorkerPoolError({
          module: pool.module,
          message: `The worker pool could not start: no worker thread was ready within ${Duration.format(timeout)}.`
        })
    })
  )

const shutdown = (pool: Pool): Effect.Effect<void> =>
  Effect.suspend(() => {
    pool.closed = true
    failQueued(pool, "the worker pool was shut down")
    return Effect.promise(() => Promise.all(pool.threads.map((thread) => thread.worker.terminate())))
  })

/** Starts the threads; the layer fails with `WorkerPoolError` if they are not all ready within `startupTimeout`. */
const makePool = (
  options: WorkerPoolOptions,
  module: string
): Effect.Effect<Pool, Errors.WorkerPoolError, Scope.Scope> =>
  Effect.gen(function*() {
    const loader = threadLoader(module)
    if (Either.isLeft(loader)) {
      return yield* new Errors.WorkerPoolError({
        module,
        message: `The worker pool could not start: ${loader.left}.`
      })
    }
    const pool: Pool = {
      module,
      resourceLimits: options.resourceLimits,
      loader: loader.right,
      grace: Duration.decode(options.interruptGracePeriod ?? "1 second"),
      threads: [],
      queue: makeRunQueue(),
      speeds: new Map(),
      started: yield* Deferred.make<void, Errors.WorkerPoolError>(),
      nextJobId: 0,
      closed: false
    }
    yield* Effect.addFinalizer(() => shutdown(pool))
    const startupTimeout = Duration.decode(options.startupTimeout ?? "30 seconds")
    for (let i = 0; i < options.size; i++) addThread(pool)
    yield* awaitStartup(pool, startupTimeout)
    return pool
  })

const moduleHref = (module: URL | string): string => {
  if (module instanceof URL) return module.href
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href
}

const validate = (options: WorkerPoolOptions) => {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new Cause.IllegalArgumentException(`'size' must be a positive integer, got ${String(options.size)}`)
  }
  decodeDuration("interruptGracePeriod", options.interruptGracePeriod)
  decodeDuration("startupTimeout", options.startupTimeout)
}

/** @internal */
export const workerPool = (options: WorkerPoolOptions): Layer.Layer<TaskRunner, Errors.WorkerPoolError> =>
  Layer.scoped(
    TaskRunner,
    Effect.suspend((): Effect.Effect<TaskRunnerService, Errors.WorkerPoolError, Scope.Scope> => {
      validate(options)
      return Effect.flatMap(makePool(options, moduleHref(options.module)), (pool) =>
        makeRunner({
          kind: "workerPool",
          maxConcurrency: undefined,
          execution: runOnThread(pool)
        }))
    })
  )
