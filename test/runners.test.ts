/**
 * One suite, two runners: the futures semantics that must not depend on where a run executes.
 * Tasks come from a module the worker threads load too (test/fixtures/poolTasks.ts).
 */
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Chunk, Effect, Either, Exit, Fiber, Option, Stream, TestClock } from "effect"
import { Errors, Futures, Task, TaskRunner } from "effect-taskflow"
import {
  add,
  defect,
  describeUpstream,
  double,
  forever,
  norm,
  Point,
  refuse,
  Refused,
  refuseWithSchema
} from "./fixtures/poolTasks.js"
import { settle } from "./helpers.js"

const poolModule = new URL("./fixtures/poolTasks.ts", import.meta.url)

const runners = [
  { name: "concurrent", layer: TaskRunner.concurrent() },
  { name: "workerPool", layer: TaskRunner.workerPool({ size: 2, module: poolModule }) }
] as const

const historyOf = (taskRunId: string) =>
  Effect.flatMap(
    TaskRunner.TaskRunner,
    (runner) => (runner as unknown as TaskRunner.Service).store.getHistory(taskRunId)
  )

const recordOf = (taskRunId: string) =>
  Effect.flatMap(
    TaskRunner.TaskRunner,
    (runner) => (runner as unknown as TaskRunner.Service).store.getRun(taskRunId)
  )

const alwaysFails = refuse.with({ retries: 2 })

for (const runner of runners) {
  describe(`runner: ${runner.name}`, () => {
    layer(runner.layer, { timeout: 60_000 })((it) => {
      it.effect("submit + result returns the value; the store has Pending → Running → Completed", () =>
        Effect.gen(function*() {
          const future = yield* double.submit(21)
          expect(yield* future.result()).toBe(42)
          const history = yield* historyOf(future.taskRunId)
          expect(history.map((state) => state.name)).toEqual(["Pending", "Running", "Completed"])
        }))

      it.effect("map zips its iterables and repeats unmapped values; futures as arguments are resolved", () =>
        Effect.gen(function*() {
          const sums = yield* add.map([1, 2, 3], Task.unmapped(10))
          expect(yield* sums.result()).toEqual([11, 12, 13])
          const doubled = yield* double.submit(5)
          const chained = yield* add.submit(doubled, 1)
          expect(yield* chained.result()).toBe(11)
        }))

      it.effect("typed failures come back typed, defects as defects", () =>
        Effect.gen(function*() {
          const refused = yield* refuse.submit("no")
          const error = yield* Effect.flip(refused.result())
          expect(error).toMatchObject({ _tag: "Refused", reason: "no" })
          const recovered = yield* refused.result().pipe(
            Effect.catchTag("Refused", (refusal) => Effect.succeed(`caught ${refusal.reason}`))
          )
          expect(recovered).toBe("caught no")
          const exit = yield* Effect.exit((yield* defect.submit("boom")).result())
          expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
          if (Exit.isFailure(exit)) expect(String(Cause.squash(exit.cause))).toContain("boom")
        }))

      it.effect("under allowFailure an upstream's error reaches the body with its name, _tag and fields", () =>
        Effect.gen(function*() {
          const refused = yield* refuse.submit("no")
          const described = yield* describeUpstream.submit(Task.allowFailure(refused))
          // On a thread, as a store keeps it: an Error with the same name and fields (its name an own field).
          expect(yield* described.result()).toMatchObject({
            error: "Refused",
            fields: { _tag: "Refused", reason: "no" }
          })
        }))

      it.effect("Schemas restore class instances on the way back", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip((yield* refuseWithSchema.submit("why")).result())
          expect(error).toBeInstanceOf(Refused)
          const normed = yield* (yield* norm.submit(new Point({ x: 3, y: 4 }))).result()
          expect(normed).toBeInstanceOf(Point)
          expect(normed.x).toBe(5)
        }))

      it.effect("an upstream that failed makes the run Pending/NotReady; it never runs", () =>
        Effect.gen(function*() {
          const upstream = yield* refuse.submit("upstream")
          const downstream = yield* double.submit(upstream as never)
          yield* downstream.wait()
          const state = yield* downstream.state
          expect([state.type, state.name]).toEqual(["PENDING", "NotReady"])
        }))

      it.effect("retries record AwaitingRetry and Retrying, then the run fails", () =>
        Effect.gen(function*() {
          const future = yield* alwaysFails.submit("again")
          yield* future.wait()
          const history = yield* historyOf(future.taskRunId)
          expect(history.map((state) => state.name)).toEqual([
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Failed"
          ])
          // Each AwaitingRetry says which error caused it.
          expect(history[2].message).toBe(`Retry 1 of 2 after a failure: Refused: { "reason": "again" }`)
          // The run's record counts what the run did and may do.
          const record = yield* recordOf(future.taskRunId)
          expect([record.runCount, record.retries]).toEqual([3, 2])
        }))

      it.effect("a task timeout ends the run Failed named TimedOut; result() fails with a typed TaskTimeoutError", () =>
        Effect.gen(function*() {
          const future = yield* forever.with({ timeout: "1 second" }).submit()
          const downstream = yield* double.submit(future as never)
          yield* settle
          yield* TestClock.adjust("1 second")
          yield* future.wait()
          const state = yield* future.state
          const message = `Task run 'pool-forever' (${future.taskRunId}) exceeded its timeout of 1 second.`
          expect([state.type, state.name, state.message]).toEqual(["FAILED", "TimedOut", message])
          const either = yield* Effect.either(future.result())
          expect(Either.isLeft(either) && either.left).toBeInstanceOf(Errors.TaskTimeoutError)
          expect(Either.isLeft(either) && either.left.message).toBe(message)
          // A run downstream of it names it, its state and why.
          yield* downstream.wait()
          expect((yield* downstream.state).message).toBe(
            `Upstream task run 'pool-forever' (${future.taskRunId}) did not reach a 'COMPLETED' state: ` +
              `it is FAILED (TimedOut): ${message}`
          )
        }))

      it.effect("interrupting a run's fiber cancels it", () =>
        Effect.gen(function*() {
          const future = yield* forever.submit()
          yield* settle
          yield* Fiber.interrupt(future.wrappedFuture)
          expect((yield* future.state).type).toBe("CANCELLED")
        }))

      it.effect("wait FIRST_EXCEPTION returns at the first failure; asCompleted yields every future once", () =>
        Effect.gen(function*() {
          const stuck = yield* forever.submit()
          const failing = yield* refuse.submit("first")
          const { done, notDone } = yield* Futures.wait([stuck, failing], { returnWhen: "FIRST_EXCEPTION" })
          expect(done.has(failing)).toBe(true)
          expect(notDone.has(stuck)).toBe(true)
          yield* Fiber.interrupt(stuck.wrappedFuture)
          const futures = yield* double.map([1, 2, 3, 4, 5])
          const seen = yield* Stream.runCollect(Futures.asCompleted(futures))
          expect(Chunk.size(seen)).toBe(5)
          expect(new Set(Chunk.toReadonlyArray(seen)).size).toBe(5)
          expect(Option.isSome(Option.fromNullable(seen))).toBe(true)
        }))
    })
  })
}
