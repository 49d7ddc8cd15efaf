import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger } from "effect"
import { RunStore, Task, TaskRunner } from "effect-taskflow"

const forever = Task.make("logging-forever", () => Effect.never)

/**
 * A memory store whose `setState` logs each write. `Object.entries` leaves out the memory store's
 * synchronous writes (offered under a symbol), so every write goes through `setState`.
 */
const loggingStore = (): RunStore.Service => {
  const base = RunStore.makeMemory()
  return {
    ...(Object.fromEntries(Object.entries(base)) as unknown as RunStore.Service),
    setState: (runId, state, options) =>
      Effect.zipRight(Effect.logWarning(`store write: ${state.type}`), base.setState(runId, state, options))
  }
}

describe("logs go through the user's Logger", () => {
  it.live("the concurrent runner's write of an interrupted run logs through the runtime it was built in", () =>
    Effect.gen(function*() {
      const cancelledWrite = yield* Deferred.make<string>()
      const logger = Logger.make(({ message }) => {
        const text = String(Array.isArray(message) ? message[0] : message)
        if (text === "store write: CANCELLED") Deferred.unsafeDone(cancelledWrite, Effect.succeed(text))
      })
      const runner = TaskRunner.concurrent().pipe(Layer.provide(Layer.succeed(RunStore.RunStore, loggingStore())))
      yield* Effect.gen(function*() {
        const future = yield* forever.submit()
        // The run's fiber is interrupted from outside: the runner itself records it Cancelled.
        yield* Fiber.interrupt(future.wrappedFuture)
        expect(yield* Deferred.await(cancelledWrite)).toBe("store write: CANCELLED")
      }).pipe(Effect.provide(runner), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    }))
})
