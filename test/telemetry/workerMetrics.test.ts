/**
 * A task worker's metrics: how long runs waited to be claimed (`scheduleDelay`), the runs a
 * recovery of expired leases ended Crashed (`crashesRecovered`), and the Scheduled runs per served
 * name (`runsScheduled`, read every 10 seconds).
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Metric, Random, TestClock } from "effect"
import { RunStore, State, Task, TaskWorker, Telemetry } from "effect-taskflow"
import type { MaybeCountScheduled } from "../../src/internal/store/runStore.js"
import { CountScheduledKey } from "../../src/internal/store/runStore.js"
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
      // Every 10 seconds give or take 20 %: not before 8, by 12.
      yield* TestClock.adjust("7 seconds")
      yield* settle
      expect(yield* scheduledOf(b.name)).toBe(0)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(counts).toBe(2)
      expect(yield* scheduledOf(b.name)).toBe(1)
      expect(yield* scheduledOf(a.name)).toBe(3)
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("runsScheduled: read about every 10 seconds, jittered (workers started together spread out)", () =>
    Effect.gen(function*() {
      const task = Task.make(`wm-jitter-${uuid()}`, () => Effect.void)
      const store = yield* RunStore.RunStore
      const readAt: Array<number> = []
      const counting: RunStore.Service = {
        ...store,
        claimRuns: () => Effect.succeed([]),
        countRuns: (filter, options) =>
          Effect.tap(
            store.countRuns(filter, options),
            () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => readAt.push(now)))
          )
      }
      yield* Effect.forkScoped(TaskWorker.serve([task]).pipe(Effect.provideService(RunStore.RunStore, counting)))
      yield* settle
      for (let i = 0; i < 100; i++) {
        yield* TestClock.adjust("500 millis")
        yield* settle
      }
      // 50 seconds: a read at 0 and every 8 to 12 seconds, not all 10 apart.
      const gaps = readAt.slice(1).map((at, i) => at - readAt[i])
      expect(readAt[0]).toBe(0)
      expect(gaps.length).toBeGreaterThanOrEqual(4)
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(8_000)
        expect(gap).toBeLessThanOrEqual(12_500)
      }
      expect(gaps.some((gap) => gap !== 10_000)).toBe(true)
    }).pipe(Effect.provide(RunStore.memory), Effect.withRandom(Random.make("wm-jitter"))))

  it.effect("runsScheduled: 0 once the worker stops (a stopped worker's backlog is no one's)", () =>
    Effect.gen(function*() {
      const task = Task.make(`wm-stop-${uuid()}`, () => Effect.void)
      const store = yield* RunStore.RunStore
      for (let i = 0; i < 2; i++) yield* store.createRun(newRun(uuid(), task.name, State.scheduled()))
      const unclaiming: RunStore.Service = { ...store, claimRuns: () => Effect.succeed([]) }
      const worker = yield* Effect.fork(
        TaskWorker.serve([task]).pipe(Effect.provideService(RunStore.RunStore, unclaiming))
      )
      yield* settle
      expect(yield* scheduledOf(task.name)).toBe(2)
      yield* Fiber.interrupt(worker)
      expect(yield* scheduledOf(task.name)).toBe(0)
    }).pipe(Effect.provide(RunStore.memory)))

  // The claim is stamped by the worker's clock (the TestClock): a run Scheduled 5 seconds before it
  // stands for a run that waited that long.
  it.effect("scheduleDelay: a run claimed 5 seconds after it was Scheduled waited 5 seconds", () =>
    Effect.gen(function*() {
      const ran = yield* Deferred.make<void>()
      const task = Task.make(`wm-delay-${uuid()}`, () => Deferred.succeed(ran, undefined))
      const histogram = Telemetry.scheduleDelay.pipe(Metric.tagged(runKind, "task"), Metric.tagged(runName, task.name))
      const store = yield* RunStore.RunStore
      yield* TestClock.adjust("1 hour")
      const now = yield* Clock.currentTimeMillis
      yield* store.createRun(newRun(uuid(), task.name, State.scheduled({ timestamp: new Date(now - 5_000) })))
      const worker = yield* Effect.fork(TaskWorker.serve([task]))
      yield* Deferred.await(ran)
      yield* Fiber.interrupt(worker)
      const waited = yield* Metric.value(histogram)
      expect(waited.count).toBe(1)
      expect(waited.sum).toBe(5)
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
            // The SQL stores count by their own statement, never `countRuns` (which reads every Scheduled run).
            const noCountRuns: RunStore.Service = store.name === "memory"
              ? s
              : { ...s, countRuns: () => Effect.die("countRuns is not the Scheduled count") }
            yield* readScheduled(noCountRuns, scheduledGauges([a, b]))
            expect(yield* scheduledOf(a)).toBe(3)
            expect(yield* scheduledOf(b)).toBe(0)
            expect(yield* scheduledOf(other)).toBe(0)
          })
        ))

      it.live("runsScheduled stops at 10,000 a name: the count's cost does not grow with the backlog", () =>
        withStore(
          store,
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const [many, few] = [`wm-cap-many-${uuid()}`, `wm-cap-few-${uuid()}`]
            yield* s.createRuns(Array.from({ length: 10_005 }, () => newRun(uuid(), many, State.scheduled())))
            yield* s.createRuns(Array.from({ length: 7 }, () => newRun(uuid(), few, State.scheduled())))
            yield* readScheduled(s, scheduledGauges([many, few]))
            expect(yield* scheduledOf(many)).toBe(10_000)
            expect(yield* scheduledOf(few)).toBe(7)
            // A SQL store's statement itself stops there: it never reads the 10,001st entry.
            const count = (s as RunStore.Service & MaybeCountScheduled)[CountScheduledKey]
            if (store.name !== "memory") expect(yield* count!([many, few])).toEqual(new Map([[many, 10_000], [few, 7]]))
          })
        ), 60_000)

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
