/**
 * Cancelling runs of this process held under a SQL store's in-process lease (issue 22), where the
 * run's stop used to miss it: during an inline call's or a flow's retry delay (the next attempt
 * started anyway), while an inline call waited for its future arguments (its body ran after the
 * cancel), and between a child run's create and its start (the child was left held, never ended).
 * SQLite and PostgreSQL (a schema of its own); the retry delays on the TestClock, the stores on the
 * live clock (their renewals and polling run on real time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, FiberId, Layer, Metric, TestClock, TestServices } from "effect"
import { Flow, Futures, RunStore, State, Task, TaskRunner, Telemetry } from "effect-taskflow"
import { targets } from "./distributed/harness.js"
import type { Target } from "./distributed/tasks.js"

/** A store on `target`, built on the live clock; the test's own fibers keep the TestClock. */
const storeOn = (target: Target) =>
  Layer.build(
    target.kind === "sqlite"
      ? RunStore.sqlite({ filename: target.location, maxPollInterval: 100 })
      : RunStore.postgres({ url: target.location, maxPollInterval: 100 })
  ).pipe(Effect.withClock(Clock.make()))

/** Waits, on real time, until `check` holds (a condition met by the store's own fibers). */
const until = <A>(what: string, check: Effect.Effect<A | undefined, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const found = yield* check
      if (found !== undefined) return found
      yield* TestServices.provideLive(Effect.sleep("20 millis"))
    }
    return yield* Effect.dieMessage(`waited 10 s for ${what}`)
  })

/** The one run named `name`, once it is in state `type` (and name `stateName`, if given). */
const runNamed = (store: RunStore.Service, name: string, type: State.StateType, stateName?: string) =>
  until(
    `run '${name}' ${type}`,
    Effect.map(
      store.listRuns({ name }),
      ([run]) => run?.state.type === type && (stateName === undefined || run.state.name === stateName) ? run : undefined
    )
  )

/** Joins `fiber` within 10 s of real time (a run left waiting would hang the test, not fail it). */
const joinSoon = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Fiber.await(fiber).pipe(Effect.timeout("10 seconds"), TestServices.provideLive)

const RETRY_DELAY = "1 hour"

for (const where of targets) {
  describe.skipIf(!where.available)(`cancelling in-process runs: ${where.name}`, () => {
    const attempts = { flow: 0, inline: 0 }
    const firstFailed = {
      flow: Deferred.unsafeMake<void>(FiberId.none),
      inline: Deferred.unsafeMake<void>(FiberId.none)
    }
    const retrying = (which: "flow" | "inline") =>
      Effect.suspend(() => {
        attempts[which]++
        return attempts[which] === 1
          ? Effect.zipRight(Deferred.succeed(firstFailed[which], undefined), Effect.fail("first attempt"))
          : Effect.succeed("second attempt")
      })
    const retryingFlow = Flow.make(
      { name: `cancel-retrying-flow-${where.name}`, retries: 1, retryDelay: RETRY_DELAY },
      () => retrying("flow")
    )
    const retryingTask = Task.make(
      { name: `cancel-retrying-task-${where.name}`, retries: 1, retryDelay: RETRY_DELAY },
      () => retrying("inline")
    )

    for (const which of ["flow", "inline"] as const) {
      it.scoped(
        `a cancel during a${
          which === "flow" ? " flow's" : "n inline call's"
        } retry delay ends it Cancelled, with no next attempt`,
        () =>
          Effect.gen(function*() {
            yield* TestClock.setTime(Date.now())
            const here = yield* storeOn(where.make())
            const store = yield* Effect.provide(RunStore.RunStore, here)
            const call = which === "flow" ? retryingFlow() : retryingTask()
            const running = yield* Effect.fork(call.pipe(Effect.provide(here)))
            yield* Deferred.await(firstFailed[which])
            const name = which === "flow" ? retryingFlow.name : retryingTask.name
            const run = yield* runNamed(store, name, "SCHEDULED", "AwaitingRetry")
            expect((yield* store.cancelRun(run.id)).type).toBe("CANCELLING")
            // Ends now, in the delay: the TestClock has not moved.
            const exit = yield* joinSoon(running)
            expect(exit).toBeDefined()
            // The delay passing changes nothing: no second attempt started.
            yield* TestClock.adjust(RETRY_DELAY)
            expect(attempts[which]).toBe(1)
            // Nor was one counted as a retry.
            const retried = yield* Metric.value(Telemetry.retries.pipe(
              Metric.tagged("taskflow.run.kind", which === "flow" ? "flow" : "task"),
              Metric.tagged("taskflow.run.name", name)
            ))
            expect(retried.count).toBe(0)
            expect(Exit.isInterrupted(exit!)).toBe(true)
            const stored = yield* store.getRun(run.id)
            expect(stored.state.type).toBe("CANCELLED")
            const history = yield* store.getHistory(run.id)
            expect(history.filter((state) => state.type === "RUNNING")).toHaveLength(1)
          }),
        30_000
      )
    }

    it.scoped(
      "an inline call cancelled while it waits for its future arguments never runs its body",
      () =>
        Effect.gen(function*() {
          const here = yield* storeOn(where.make())
          const store = yield* Effect.provide(RunStore.RunStore, here)
          const gate = yield* Deferred.make<void>()
          yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
          let bodyRan = false
          const up = Task.make(`cancel-upstream-${where.name}`, () => Effect.as(Deferred.await(gate), "up"))
          const down = Task.make(`cancel-waiting-inline-${where.name}`, (value: string) =>
            Effect.sync(() => {
              bodyRan = true
              return `${value}!`
            }))
          const runner = yield* Layer.build(Layer.provide(TaskRunner.concurrent(), Layer.succeedContext(here)))
          const upstream = yield* up.submit().pipe(Effect.provide(runner), Effect.provide(here))
          const waiting = yield* Effect.fork(
            down(upstream as unknown as string).pipe(Effect.provide(runner), Effect.provide(here))
          )
          const run = yield* runNamed(store, down.name, "PENDING")
          // Something here runs it (it waits for its inputs): asked to stop, not ended behind its back.
          expect((yield* store.cancelRun(run.id)).type).toBe("CANCELLING")
          const exit = yield* joinSoon(waiting)
          yield* Deferred.succeed(gate, undefined)
          expect(yield* upstream.result({ timeout: "5 seconds" })).toBe("up")
          expect(Exit.isInterrupted(exit!)).toBe(true)
          expect(bodyRan).toBe(false)
          expect((yield* store.getRun(run.id)).state.type).toBe("CANCELLED")
          const history = yield* store.getHistory(run.id)
          expect(history.map((state) => state.type)).not.toContain("RUNNING")
        }),
      30_000
    )

    it.scoped(
      "a flow cancelled while it submits children leaves none held and unfinished",
      () =>
        Effect.gen(function*() {
          const here = yield* storeOn(where.make())
          const store = yield* Effect.provide(RunStore.RunStore, here)
          const started = yield* Deferred.make<void>()
          let children = 0
          const child = Task.make(`cancel-child-${where.name}`, (i: number) =>
            Effect.zipRight(
              Effect.suspend(() => ++children === 3 ? Deferred.succeed(started, undefined) : Effect.void),
              Effect.as(Effect.never, i)
            ))
          // Submits children until it is cancelled: the cancel lands while a child is being created.
          const submitting = Flow.make(`cancel-submitting-flow-${where.name}`, () =>
            Effect.gen(function*() {
              for (let i = 0;; i++) {
                yield* child.submit(i)
                // On SQLite a create never waits on I/O: without a yield, the loop starves the event loop.
                yield* Effect.yieldNow()
              }
            }))
          const running = yield* Effect.fork(submitting().pipe(Effect.provide(here)))
          yield* Deferred.await(started)
          const flowRun = yield* runNamed(store, submitting.name, "RUNNING")
          yield* store.cancelRun(flowRun.id)
          expect(Exit.isInterrupted((yield* joinSoon(running))!)).toBe(true)
          const made = yield* store.listRuns({ flowRunId: flowRun.id })
          expect(made.length).toBeGreaterThanOrEqual(3)
          // Each one ends (Cancelled by the flow's runner), none is left Pending or Running under this process.
          for (const run of made) {
            const future = yield* Futures.PrefectDistributedFuture.make(run.id).pipe(Effect.provide(here))
            yield* future.wait({ timeout: "5 seconds" }).pipe(TestServices.provideLive)
            expect((yield* store.getRun(run.id)).state.type).toBe("CANCELLED")
          }
          expect((yield* store.getRun(flowRun.id)).state.type).toBe("CANCELLED")
        }),
      30_000
    )
  })
}
