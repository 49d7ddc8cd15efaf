import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { Futures, RunStore, State, Task, TaskRunner } from "effect-taskflow"
import { settle } from "./helpers.js"

const keptTask = Task.make("store-kept", (n: number) => Effect.succeed(n))
const newRun = (id: string) => ({ id, kind: "task" as const, name: "store-task", state: State.pending() })

// The store's own behaviour (history, not-found, transitions, claims, leases) is one suite run
// against every store: test/store/. What is here is about futures and delay over the store.

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

describe("a memory store that keeps only its newest finished runs", () => {
  it.effect("forgets the oldest finished run past `keepFinished`; unfinished runs are always kept", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory({ keepFinished: 2 })
      for (const id of ["a", "b", "c", "d"]) yield* store.createRun(newRun(id))
      yield* store.setState("b", State.completed(2))
      yield* store.setState("a", State.failed(Cause.fail("no")))
      yield* store.setState("d", State.running())
      expect((yield* store.listRuns()).map((run) => run.id)).toEqual(["a", "b", "c", "d"])
      yield* store.setState("c", State.completed(3))
      // b finished first: forgotten. a and c are the newest two finished; d is running.
      expect((yield* store.listRuns()).map((run) => run.id)).toEqual(["a", "c", "d"])
      expect((yield* Effect.flip(store.getRun("b")))._tag).toBe("RunNotFound")
      expect((yield* store.getHistory("c")).map((state) => state.type)).toEqual(["PENDING", "COMPLETED"])
      // A run created finished counts too.
      yield* store.createRun({ ...newRun("e"), state: State.completed(5) })
      expect((yield* store.listRuns()).map((run) => run.id)).toEqual(["c", "d", "e"])
    }))

  it.effect("a bound that is not a whole number of 0 or more is a defect", () =>
    Effect.gen(function*() {
      for (const keepFinished of [-1, 0.5, Number.NaN]) {
        expect(() => RunStore.makeMemory({ keepFinished })).toThrow("keepFinished must be a whole number")
      }
      const exit = yield* Effect.exit(Effect.provide(RunStore.RunStore, RunStore.memoryWith({ keepFinished: -1 })))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      // Zero keeps no finished run; Infinity keeps them all.
      const none = RunStore.makeMemory({ keepFinished: 0 })
      yield* none.createRun({ ...newRun("x"), state: State.completed(1) })
      expect(yield* none.listRuns()).toEqual([])
    }))

  // The leak this bounds: a TaskRunner layer that lives as long as its process kept every run it
  // ever ran (about 500 bytes each) in a store nothing else reads.
  it.effect("a TaskRunner's own store keeps its newest 10,000 finished runs, not every run", () =>
    Effect.gen(function*() {
      const runner = yield* TaskRunner.TaskRunner
      const first = yield* keptTask.submit(0)
      yield* first.wait()
      for (let n = 1; n <= 10_050; n++) yield* Effect.flatMap(keptTask.submit(n), (future) => future.wait())
      const kept = yield* runner.store.listRuns()
      expect(kept.length).toBe(10_000)
      expect((yield* Effect.flip(runner.store.getRun(first.taskRunId)))._tag).toBe("RunNotFound")
      // The future itself still holds its run's outcome.
      expect(yield* first.result()).toBe(0)
    }).pipe(Effect.provide(TaskRunner.concurrent())))
})
