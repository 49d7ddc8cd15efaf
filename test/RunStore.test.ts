import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Errors, Futures, RunStore, State } from "effect-taskflow"
import { settle } from "./helpers.js"

const newRun = (id: string) => ({ id, kind: "task" as const, name: "store-task", state: State.pending() })

describe("RunStore.memory", () => {
  it.effect("keeps every run with its state history", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun({ ...newRun("a"), parameters: [1], tags: ["t"] })
      yield* store.setState("a", State.running(), { runCount: 1 })
      yield* store.setState("a", State.completed(2))
      const run = yield* store.getRun("a")
      expect(run).toMatchObject({
        id: "a",
        kind: "task",
        name: "store-task",
        parameters: [1],
        tags: ["t"],
        runCount: 1
      })
      expect(run.state.type).toBe("COMPLETED")
      expect((yield* store.getHistory("a")).map((s) => s.type)).toEqual(["PENDING", "RUNNING", "COMPLETED"])
      expect((yield* store.listRuns({ kind: "flow" })).length).toBe(0)
      expect((yield* store.listRuns()).length).toBe(1)
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("an unknown run id fails with RunNotFound", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const error = yield* Effect.flip(store.getRun("missing"))
      expect(error).toBeInstanceOf(Errors.RunNotFound)
      expect(error._tag === "RunNotFound" && error.runId).toBe("missing")
      expect((yield* Effect.flip(store.setState("missing", State.running())))._tag).toBe("RunNotFound")
      expect((yield* Effect.flip(store.getHistory("missing")))._tag).toBe("RunNotFound")
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("refuses transitions out of a final state, and from Cancelling to anything but a final state", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* store.createRun(newRun("done"))
      yield* store.setState("done", State.completed(1))
      const refused = yield* Effect.flip(store.setState("done", State.running()))
      expect(refused).toBeInstanceOf(Errors.InvalidTransition)
      yield* store.createRun(newRun("cancelling"))
      yield* store.setState("cancelling", State.cancelling())
      expect((yield* Effect.flip(store.setState("cancelling", State.running())))._tag).toBe("InvalidTransition")
      yield* store.setState("cancelling", State.cancelled())
      expect((yield* store.getRun("cancelling")).state.type).toBe("CANCELLED")
    }).pipe(Effect.provide(RunStore.memory)))
})

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
