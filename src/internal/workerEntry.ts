/**
 * The entry of a worker-pool thread: loads the module that defines the tasks, then runs the task
 * runs the pool sends, one message per run, each on its own fiber.
 * @internal
 */
import { Cause, Effect, Either, Exit, Fiber, Option, Runtime } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import * as Errors from "../Errors.js"
import type { TaskDefinition } from "./engine.js"
import { lookup } from "./task.js"
import { decodeArguments, encodeExit, encodeUncloneable } from "./wire.js"
import type { FromPool, ToPool } from "./workerProtocol.js"

const port = parentPort!
const { module } = workerData as { readonly module: string }
const send = (message: ToPool) => port.postMessage(message)

const running = new Map<number, Fiber.RuntimeFiber<unknown, unknown>>()

const finish = (id: number, runId: string, def: TaskDefinition | undefined, exit: Exit.Exit<unknown, unknown>) => {
  running.delete(id)
  try {
    send({ _tag: "Done", id, exit: encodeExit(def, runId, exit) })
  } catch (error) {
    // Structured clone refused the value (a function, a symbol, …): say so rather than hang.
    send({ _tag: "Done", id, exit: encodeUncloneable(def, runId, error) })
  }
}

const run = (message: Extract<FromPool, { _tag: "Run" }>) => {
  const def = lookup(message.name)
  if (def === undefined) {
    return finish(
      message.id,
      message.runId,
      undefined,
      Exit.die(
        new Errors.UnknownTask({
          name: message.name,
          message: `The worker pool's module ${module} does not define a task named '${message.name}'.`
        })
      )
    )
  }
  const args = decodeArguments(def, message.runId, message.args)
  if (Either.isLeft(args)) return finish(message.id, message.runId, def, Exit.die(args.left))
  // Most bodies finish synchronously: run them so, and keep a fiber only for those that suspend.
  const exit = Effect.runSyncExit(def.fn(...args.right) as Effect.Effect<unknown, unknown>)
  const suspended = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
  if (!Runtime.isAsyncFiberException(suspended)) return finish(message.id, message.runId, def, exit)
  const fiber = suspended.fiber
  running.set(message.id, fiber)
  fiber.addObserver((exit) => finish(message.id, message.runId, def, exit))
}

const describe = (error: unknown) => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

try {
  await import(module)
  port.on("message", (message: FromPool) => {
    if (message._tag === "Run") return run(message)
    // Cooperative cancellation: the pool terminates the thread if the fiber does not stop in time.
    const fiber = running.get(message.id)
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(fiber.id())
  })
  send({ _tag: "Ready" })
} catch (error) {
  send({ _tag: "LoadFailed", message: describe(error) })
}
