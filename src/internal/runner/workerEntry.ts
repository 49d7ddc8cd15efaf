/**
 * The entry of a worker-pool thread: loads the module that defines the tasks, then runs the task
 * runs the pool sends (one per message, or several in a RunMany, started in order). A body that
 * finishes synchronously runs without a fiber; one that suspends keeps its fiber until it ends.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { parentPort, workerData } from "node:worker_threads"
import * as Errors from "../../Errors.js"
import { decodeArguments, encodeExit, encodeUncloneable } from "../codec/wire.js"
import type { TaskDefinition } from "../core/definition.js"
import { lookup } from "../core/registry.js"
import { beginRun } from "./runProgress.js"
import type { FromPool, Run, ThreadData, ToPool } from "./workerProtocol.js"
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

const finish = (
  id: number,
  runId: string,
  def: TaskDefinition | undefined,
  exit: Exit.Exit<unknown, unknown>,
  begin: number
) => {
  running.delete(id)
  const micros = (performance.now() - begin) * 1000
  try {
    send({ _tag: "Done", id, exit: encodeExit(def, runId, exit), micros })
  } catch (error) {
    // Structured clone refused the value (a function, a symbol, …): say so rather than hang.
    send({ _tag: "Done", id, exit: encodeUncloneable(def, runId, error), micros })
  }
}

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
  // Most bodies finish synchronously: run them so, and keep a fiber only for those that suspend.
  const exit = Effect.runSyncExit(def.fn(...args.right) as Effect.Effect<unknown, unknown>)
  const suspended = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
  if (!Runtime.isAsyncFiberException(suspended)) return finish(message.id, message.runId, def, exit, begin)
  const fiber = suspended.fiber
  running.set(message.id, fiber)
  fiber.addObserver((exit) => finish(message.id, message.runId, def, exit, begin))
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
