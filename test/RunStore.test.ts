import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Futures, RunStore, State } from "effect-taskflow"
import { settle } from "./helpers.js"

const newRun = (id: string) => ({ id, kind: "task" as const, name: "store-task", state: State.pending() })

// The store's own behaviour (history, not-found, transitions, claims, leases) is one suite run
// against every store: test/stores.test.ts. What is here is about futures and delay over the store.

describe("futures that follow a run in the store", () => {
  // Prefect #18278: the result of a deferred run could miss a completion that happened before the wait.
  it.effect("a distributed future reads an unknown run as Pending and follows it to its end", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const future = yield* Futures.PrefectDistributedFuture.make<number, never>("later")
      expect((yield* future.state).type).toBe("PENDING")
      const result = yield* Effect.fork(future.result())
      yield* settle
      yield* store.createRun({ ...newRun("later"), state: State.scheduled() })
      yield* store.setState("later", State.running())
      yield* store.setState("later", State.completed(5))
      expect(yield* Fiber.join(result)).toBe(5)
      const calls: Array<string> = []
      yield* future.addDoneCallback((f) => {
        calls.push(f.taskRunId)
      })
      expect(calls).toEqual(["later"])
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a completed run whose result was not kept fails result() with MissingResult", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun(newRun("unkept"))
      yield* store.setState("unkept", State.completedWithoutResult())
      const future = yield* Futures.PrefectFlowRunFuture.make<unknown, never>("unkept")
      expect(future.flowRunId).toBe("unkept")
      expect((yield* Effect.flip(future.result()))._tag).toBe("MissingResult")
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a flow-run future's timeout names the flow run", () =>
    Effect.gen(function*() {
      const future = yield* Futures.PrefectFlowRunFuture.make<unknown, never>("never-created")
      const error = yield* Effect.flip(future.result({ timeout: 0 }))
      expect(error.message).toBe("Flow run never-created did not complete within 0 seconds")
    }).pipe(Effect.provide(RunStore.memory)))
})

describe("delay", () => {
  it.effect("task.delay and flow.delay schedule runs in the store and follow them by id", () =>
    Effect.gen(function*() {
      const { Flow, Task } = yield* Effect.promise(() => import("effect-taskflow"))
      const later = Task.make("store-delayed-task", (n: number) => Effect.succeed(n))
      const laterFlow = Flow.make("store-delayed-flow", (n: number) => Effect.succeed(n))
      const store = yield* RunStore.RunStore
      const future = yield* later.delay(3)
      const run = yield* store.getRun(future.taskRunId)
      expect(run).toMatchObject({ kind: "task", name: "store-delayed-task", parameters: [3] })
      expect((yield* future.state).type).toBe("SCHEDULED")
      const flowFuture = yield* laterFlow.delay(4)
      expect((yield* store.getRun(flowFuture.flowRunId)).kind).toBe("flow")
      // A worker (the SQL store's TaskWorker) would do this; here the test plays the worker.
      yield* store.setState(future.taskRunId, State.running())
      yield* store.setState(future.taskRunId, State.completed(3))
      expect(yield* future.result()).toBe(3)
    }).pipe(Effect.provide(RunStore.memory)))
})
