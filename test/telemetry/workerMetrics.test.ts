/**
 * A task worker's metrics: how long runs waited to be claimed (`scheduleDelay`), the runs a
 * recovery of expired leases ended Crashed (`crashesRecovered`), and the Scheduled runs per served
 * name (`runsScheduled`, read every 10 seconds).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric, TestClock } from "effect"
import { RunStore, State, Task, TaskWorker, Telemetry } from "effect-taskflow"
import { readScheduled, scheduledGauges } from "../../src/internal/worker/scheduledGauge.js"
import { newRun, uuid } from "../support/storeRuns.js"
import { storeCases, withStore } from "../support/stores.js"

const { runKind, runName } = Telemetry.Attributes

const scheduledOf = (name: string) =>
  Effect.map(Metric.value(Telemetry.runsScheduled.pipe(Metric.tagged(runName, name))), (state) => state.value)

const crashesOf = (kind: RunStore.RunKind) =>
  Effect.map(Metric.value(Telemetry.crashesRecovered.pipe(Metric.tagged(runKind, kind))), (state) => state.count)

/** The fibers forked so far run until they wait (the worker's first claim, its first gauge read). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("task worker metrics", () => {
  it.scoped("runsScheduled: the Scheduled runs of each served name, 0 for none, read again every 10 seconds", () =>
    Effect.gen(function*() {
      const a = Task.make(`wm-gauge-a-${uuid()}`, () => Effect.void)
      const b = Task.make(`wm-gauge-b-${uuid()}`, () => Effect.void)
      const other = `wm-gauge-other-${uuid()}`
      const store = yield* RunStore.RunStore
      for (let i = 0; i < 3; i++) yield* store.createRun(newRun(uuid(), a.name, State.scheduled()))
      for (let i = 0; i < 2; i++) yield* store.createRun(newRun(uuid(), other, State.scheduled()))
      // A worker whose claims find nothing: the runs stay Scheduled, counted.
      let counts = 0
      const unclaiming: RunStore.Service = {
        ...store,
        claimRuns: () => Effect.succeed([]),
        countRuns: (filter, options) => Effect.tap(store.countRuns(filter, options), () => Effect.sync(() => counts++))
      }
      yield* Effect.forkScoped(TaskWorker.serve([a, b]).pipe(Effect.provideService(RunStore.RunStore, unclaiming)))
      yield* settle
      expect(counts).toBe(1)
      expect(yield* scheduledOf(a.name)).toBe(3)
      expect(yield* scheduledOf(b.name)).toBe(0)
      // Not a name the worker serves: no gauge of it.
      expect(yield* scheduledOf(other)).toBe(0)
      yield* store.createRun(newRun(uuid(), b.name, State.scheduled()))
      yield* TestClock.adjust("9 seconds")
      yield* settle
      expect(yield* scheduledOf(b.name)).toBe(0)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(counts).toBe(2)
      expect(yield* scheduledOf(b.name)).toBe(1)
      expect(yield* scheduledOf(a.name)).toBe(3)
    }).pipe(Effect.provide(RunStore.memory)))

  // Live: a run's Scheduled state is stamped by the wall clock; one Scheduled 5 seconds ago stands
  // for a run that waited that long.
  it.live("scheduleDelay: a run claimed 5 seconds after it was Scheduled waited 5 seconds", () =>
    Effect.gen(function*() {
      const ran = yield* Deferred.make<void>()
      const task = Task.make(`wm-delay-${uuid()}`, () => Deferred.succeed(ran, undefined))
      const histogram = Telemetry.scheduleDelay.pipe(Metric.tagged(runKind, "task"), Metric.tagged(runName, task.name))
      const store = yield* RunStore.RunStore
      yield* store.createRun(newRun(uuid(), task.name, State.scheduled({ timestamp: new Date(Date.now() - 5_000) })))
      const worker = yield* Effect.fork(TaskWorker.serve([task]))
      yield* Deferred.await(ran)
      yield* Fiber.interrupt(worker)
      const waited = yield* Metric.value(histogram)
      expect(waited.count).toBe(1)
      expect(waited.sum).toBeGreaterThanOrEqual(5)
      expect(waited.sum).toBeLessThan(6)
      // Not tagged by run: one key per task name.
      const keys = (yield* Effect.sync(() => Metric.unsafeSnapshot())).filter((pair) =>
        pair.metricKey.name === "taskflow.run.schedule_delay" &&
        pair.metricKey.tags.some((tag) => tag.key === runName && tag.value === task.name)
      )
      expect(keys.length).toBe(1)
    }).pipe(Effect.provide(RunStore.memory)))

  for (const store of storeCases) {
    describe.skipIf(!store.available)(`on ${store.name}`, () => {
      it.live("runsScheduled is read in one count: the Scheduled runs of each served name, not others', nor other states", () =>
        withStore(
          store,
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const [a, b, other] = [`wm-read-a-${uuid()}`, `wm-read-b-${uuid()}`, `wm-read-other-${uuid()}`]
            for (let i = 0; i < 4; i++) yield* s.createRun(newRun(uuid(), a, State.scheduled()))
            yield* s.createRun(newRun(uuid(), other, State.scheduled()))
            yield* s.createRun(newRun(uuid(), b, State.pending()))
            yield* s.claimRuns({ workerId: "w", names: [a], limit: 1, lease: 60_000 })
            yield* readScheduled(s, scheduledGauges([a, b]))
            expect(yield* scheduledOf(a)).toBe(3)
            expect(yield* scheduledOf(b)).toBe(0)
            expect(yield* scheduledOf(other)).toBe(0)
          })
        ))

      it.live("crashesRecovered: runs a recovery ends Crashed after their lease expired, by kind; a retry is not one", () =>
        withStore(
          store,
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const name = `wm-crash-${uuid()}`
            const [crashed, flowCrashed, retried] = [uuid(), uuid(), uuid()]
            yield* s.createRun(newRun(crashed, name, State.scheduled()))
            yield* s.createRun({ ...newRun(flowCrashed, name, State.scheduled()), kind: "flow" })
            yield* s.createRun({ ...newRun(retried, name, State.scheduled()), retries: 1 })
            const [tasksBefore, flowsBefore] = [yield* crashesOf("task"), yield* crashesOf("flow")]
            // A lease already over when taken: the worker is dead as far as the store can tell.
            yield* s.claimRuns({ workerId: "dead", names: [name], limit: 3, lease: -60_000 })
            const recovered = yield* s.recoverExpired()
            expect([...recovered].sort()).toEqual([crashed, flowCrashed, retried].sort())
            expect((yield* s.getRun(crashed)).state.type).toBe("CRASHED")
            expect((yield* s.getRun(retried)).state.type).toBe("SCHEDULED")
            expect((yield* crashesOf("task")) - tasksBefore).toBe(1)
            expect((yield* crashesOf("flow")) - flowsBefore).toBe(1)
          })
        ))
    })
  }
})
