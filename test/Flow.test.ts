import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { Errors, Flow, RunStore, Task, TaskRunner } from "effect-taskflow"
import { captureWarnings, settle } from "./helpers.js"

const double = Task.make("flow-double", (n: number) => Effect.succeed(n * 2))
const fail = Task.make("flow-fail", (message: string) => Effect.fail(new Error(message)))
const sleepy = Task.make("flow-sleepy", (ms: number) => Effect.as(Effect.sleep(ms), ms))

const flowRuns = (name: string) => Effect.flatMap(RunStore.RunStore, (store) => store.listRuns({ kind: "flow", name }))

describe("Flow", () => {
  it.effect("a flow call is a recorded flow run whose returned futures are resolved", () =>
    Effect.gen(function*() {
      const pipeline = Flow.make(
        { name: "flow-pipeline", taskRunner: TaskRunner.concurrent({ maxConcurrency: 2 }) },
        (xs: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            const futures = yield* double.map(xs)
            const total = yield* double.submit(futures.at(0)!)
            return { futures, total, label: "done" }
          })
      )
      const result = yield* pipeline([1, 2, 3])
      expect(result).toEqual({ futures: [2, 4, 6], total: 4, label: "done" })
      const [run] = yield* flowRuns("flow-pipeline")
      expect(run.state.type).toBe("COMPLETED")
      expect(run.parameters).toEqual([[1, 2, 3]])
      const store = yield* RunStore.RunStore
      const tasks = yield* store.listRuns({ kind: "task", flowRunId: run.id })
      expect(tasks.length).toBe(4)
      expect(tasks.every((task) => task.state.type === "COMPLETED")).toBe(true)
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a flow without a run store in context still records its runs in its own", () =>
    Effect.gen(function*() {
      const flow = Flow.make("flow-no-store", () => Effect.map(double.submit(1), (f) => [f]))
      expect(yield* flow()).toEqual([2])
    }))

  it.effect("returned futures that failed fail the flow: 'k/n states failed.'", () =>
    Effect.gen(function*() {
      const flow = Flow.make("flow-returns-failures", () =>
        Effect.gen(function*() {
          const ok = yield* double.submit(1)
          const bad = yield* fail.submit("returned failure")
          return [ok, bad]
        }))
      const error = yield* Effect.flip(flow())
      expect((error as Error).message).toBe("returned failure")
      const [run] = yield* flowRuns("flow-returns-failures")
      const [failed] = yield* Effect.flatMap(
        RunStore.RunStore,
        (store) => store.listRuns({ kind: "task", name: "flow-fail", flowRunId: run.id })
      )
      expect(run.state).toMatchObject({
        type: "FAILED",
        message: `1/2 states failed. The first task run to fail: 'flow-fail' (${failed.id}) is FAILED: ` +
          "Error: returned failure"
      })
    }).pipe(Effect.provide(RunStore.memory)))

  // A flow used to fail naming only the NotReady run downstream of the timeout.
  it.effect("a flow whose task timed out names the first run that failed and why, not the NotReady one", () =>
    Effect.gen(function*() {
      const slow = Task.make({ name: "flow-slow-task", timeout: "1 second" }, () => Effect.never)
      const flow = Flow.make("flow-with-timed-out-task", () =>
        Effect.gen(function*() {
          const first = yield* slow.submit()
          const second = yield* double.submit(first as never)
          const third = yield* double.submit(second)
          return yield* third.result()
        }))
      const fiber = yield* Effect.fork(Effect.flip(flow()))
      yield* settle
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      const [run] = yield* flowRuns("flow-with-timed-out-task")
      const store = yield* RunStore.RunStore
      const [timedOut] = yield* store.listRuns({ name: "flow-slow-task", flowRunId: run.id })
      const why = `FAILED (TimedOut): Task run 'flow-slow-task' (${timedOut.id}) exceeded its timeout of 1 second.`
      // The error names the run at the root (the third run waited on the second, which never ran).
      expect(error).toBeInstanceOf(Errors.UnfinishedRun)
      expect(error.message).toContain(
        `Upstream task run 'flow-slow-task' (${timedOut.id}) did not reach a 'COMPLETED' state: it is ${why}`
      )
      expect(run.state).toMatchObject({
        type: "FAILED",
        message: `The first task run to fail: 'flow-slow-task' (${timedOut.id}) is ${why}`
      })
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a body failure fails the flow with that error", () =>
    Effect.gen(function*() {
      const flow = Flow.make("flow-body-fails", () => Effect.fail("body failed" as const))
      expect(yield* Effect.flip(flow())).toBe("body failed")
      const [run] = yield* flowRuns("flow-body-fails")
      expect(run.state.type).toBe("FAILED")
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("task runs still running when the flow returns are cancelled, with one warning naming them", () =>
    Effect.gen(function*() {
      let left: ReadonlyArray<string> = []
      const flow = Flow.make("flow-leaves-runs", () =>
        Effect.gen(function*() {
          const a = yield* sleepy.submit(1000)
          const b = yield* sleepy.submit(2000)
          left = [a.taskRunId, b.taskRunId]
          return "returned early"
        }))
      const { exit, warnings } = yield* captureWarnings(flow())
      expect(exit).toEqual(Exit.succeed("returned early"))
      const cancelWarnings = warnings.filter((w) => w.includes("still running"))
      expect(cancelWarnings.length).toBe(1)
      expect(cancelWarnings[0]).toContain(left[0])
      expect(cancelWarnings[0]).toContain(left[1])
      const store = yield* RunStore.RunStore
      for (const id of left) expect((yield* store.getRun(id)).state.type).toBe("CANCELLED")
    }).pipe(Effect.provide(RunStore.memory)))

  // Prefect #16373, #18222, #14470: failures nobody looked at passed silently.
  it.effect("failed task runs that were never resolved do not fail the flow, but a warning names them", () =>
    Effect.gen(function*() {
      let failedId = ""
      const flow = Flow.make("flow-ignores-failure", () =>
        Effect.gen(function*() {
          const bad = yield* fail.submit("ignored")
          yield* bad.wait()
          failedId = bad.taskRunId
          return 1
        }))
      const { exit, warnings } = yield* captureWarnings(flow())
      expect(exit).toEqual(Exit.succeed(1))
      expect(warnings.some((w) => w.includes(failedId) && w.includes("ignored"))).toBe(true)
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a failed run whose outcome was read does not get the warning", () =>
    Effect.gen(function*() {
      const flow = Flow.make("flow-reads-failure", () =>
        Effect.gen(function*() {
          const bad = yield* fail.submit("seen")
          const exits = yield* bad.result({ raiseOnFailure: false })
          return exits._tag
        }))
      const { exit, warnings } = yield* captureWarnings(flow())
      expect(exit).toEqual(Exit.succeed("Failure"))
      expect(warnings).toEqual([])
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("interrupting a flow cancels every task run in it", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<ReadonlyArray<string>>()
      const flow = Flow.make("flow-interrupted", () =>
        Effect.gen(function*() {
          const futures = yield* sleepy.map([1000, 2000, 3000])
          yield* Deferred.succeed(started, futures.futures.map((f) => f.taskRunId))
          return yield* futures.result()
        }))
      const fiber = yield* Effect.fork(flow())
      const ids = yield* Deferred.await(started)
      yield* settle
      yield* Fiber.interrupt(fiber)
      const store = yield* RunStore.RunStore
      for (const id of ids) expect((yield* store.getRun(id)).state.type).toBe("CANCELLED")
      const [run] = yield* flowRuns("flow-interrupted")
      expect(run.state.type).toBe("CANCELLED")
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a flow timeout ends it Failed named TimedOut and cancels its task runs", () =>
    Effect.gen(function*() {
      const flow = Flow.make({ name: "flow-timeout", timeout: "5 seconds" }, () =>
        Effect.flatMap(sleepy.submit(60_000), (future) => future.result()))
      const fiber = yield* Effect.fork(Effect.exit(flow()))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.join(fiber)
      // A typed failure, in the flow's error type.
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.getOrThrow(failure)).toBeInstanceOf(Errors.TaskTimeoutError)
      const [run] = yield* flowRuns("flow-timeout")
      expect(run.state).toMatchObject({
        type: "FAILED",
        name: "TimedOut",
        message: `Flow run 'flow-timeout' (${run.id}) exceeded its timeout of 5 seconds.`
      })
      const store = yield* RunStore.RunStore
      const tasks = yield* store.listRuns({ flowRunId: run.id })
      expect(tasks.map((task) =>
        task.state.type
      )).toEqual(["CANCELLED"])
    }).pipe(Effect.provide(RunStore.memory)))

  it.effect("a flow with retries runs its body again", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flow = Flow.make({ name: "flow-retries", retries: 1 }, () =>
        Effect.suspend(() => ++attempts === 1 ? Effect.fail("first") : Effect.succeed("second")))
      expect(yield* flow()).toBe("second")
      const store = yield* RunStore.RunStore
      const [run] = yield* flowRuns("flow-retries")
      const history = yield* store.getHistory(run.id)
      expect(history.map((s) =>
        s.name
      )).toEqual(["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"])
    }).pipe(Effect.provide(RunStore.memory)))

  it("a flow name defined twice is an error", () => {
    Flow.make("flow-unique", () => Effect.void)
    expect(() => Flow.make("flow-unique", () => Effect.void)).toThrow(Errors.DuplicateTaskName)
  })
})
