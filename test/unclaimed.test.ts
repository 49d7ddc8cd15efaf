/**
 * A run of a task no live worker serves does not wait in silence: a future waiting on it warns once
 * after the store's `unclaimedAfter`, and `getRun` shows `unclaimedFor`. Timed with TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberId, Layer, Logger, LogLevel, TestClock } from "effect"
import { Flow, RunStore, Task, TaskWorker } from "effect-taskflow"
import { settle } from "./helpers.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "./support/stores.js"

const unserved = Task.make("unclaimed-nobody-serves", (n: number) => Effect.succeed(n))
const unservedFlow = Flow.make("unclaimed-flow-nobody-serves", (n: number) => Effect.succeed(n))

const started = new Map<string, Deferred.Deferred<void>>()
const release = new Map<string, Deferred.Deferred<void>>()
/** Runs until its key is released: one run keeps a worker of concurrency 1 busy. */
const busy = Task.make("unclaimed-busy", (key: string) =>
  Effect.zipRight(
    Effect.suspend(() => Deferred.succeed(started.get(key)!, undefined)),
    Effect.suspend(() => Deferred.await(release.get(key)!))
  ))

const WARNING = "No live task worker has claimed runs"

const wholeSeconds = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Math.floor(Duration.toSeconds(duration))

/** The warnings logged by the fibers forked under `logging`. */
const warningsLog = () => {
  const warnings: Array<string> = []
  const warned = Deferred.unsafeMake<void>(FiberId.none)
  const logger = Logger.make(({ logLevel, message }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) {
      const text = Array.isArray(message) ? message.join(" ") : String(message)
      warnings.push(text)
      if (text.includes(WARNING)) Deferred.unsafeDone(warned, Exit.void)
    }
  })
  const logging = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
  return {
    logging,
    unclaimed: () => warnings.filter((warning) => warning.includes(WARNING)),
    /** Done once the unclaimed warning is logged (a SQL store's read takes real time). */
    warned: Deferred.await(warned)
  }
}

/**
 * `delay` stamps a run's Scheduled state with the real time, and a run's wait is judged against the
 * reader's clock: the test clock is set to the real time once the run is made.
 */
const testClockFromNow = Effect.suspend(() => TestClock.setTime(Date.now()))

/** Moves the TestClock on one second at a time (each heartbeat and check runs in its turn). */
const seconds = (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      yield* TestClock.adjust("1 second")
      yield* settle
    }
  })

interface StoreUnderTest {
  readonly name: string
  readonly available: boolean
  readonly make: Effect.Effect<RunStore.Service, unknown, import("effect").Scope.Scope>
}

/** A SQL store on the live clock (its polling runs on real time); the test's fibers keep the TestClock. */
const fromLayer = (layer: Layer.Layer<RunStore.RunStore, unknown>) =>
  Effect.flatMap(
    Layer.build(layer).pipe(Effect.withClock(Clock.make())),
    (context) => Effect.provide(RunStore.RunStore, context)
  )

const stores: ReadonlyArray<StoreUnderTest> = [
  { name: "memory", available: true, make: Effect.sync(() => RunStore.makeMemory()) },
  {
    name: "sqlite",
    available: true,
    make: Effect.suspend(() => fromLayer(RunStore.sqlite({ filename: freshSqliteFile() })))
  },
  {
    name: "postgres",
    available: postgresAvailable,
    make: Effect.suspend(() => fromLayer(RunStore.postgres({ url: freshPostgresUrl() })))
  }
]

for (const store of stores) {
  describe.skipIf(!store.available)(`a run no worker claims: ${store.name}`, () => {
    it.scoped("a waiting future warns once after 30 seconds, naming the task and the run; getRun shows it", () =>
      Effect.gen(function*() {
        const s = yield* store.make
        const { logging, unclaimed, warned } = warningsLog()
        const future = yield* unserved.delay(1).pipe(Effect.provideService(RunStore.RunStore, s))
        yield* testClockFromNow
        const waiting = yield* Effect.fork(logging(future.result()))
        yield* settle
        yield* seconds(29)
        expect(unclaimed()).toEqual([])
        expect((yield* s.getRun(future.taskRunId)).unclaimedFor).toBeUndefined()
        yield* seconds(1)
        yield* warned
        expect(unclaimed()).toHaveLength(1)
        expect(unclaimed()[0]).toContain("task 'unclaimed-nobody-serves' for 30 seconds")
        expect(unclaimed()[0]).toContain(future.taskRunId)
        const run = yield* s.getRun(future.taskRunId)
        expect(run.state.type).toBe("SCHEDULED")
        expect(wholeSeconds(run.unclaimedFor)).toBe(30)
        const listed = yield* s.listRuns({ name: "unclaimed-nobody-serves" })
        expect(listed.map((r) => wholeSeconds(r.unclaimedFor))).toEqual([30])
        // Once per future, however long it waits.
        yield* seconds(65)
        expect(unclaimed()).toHaveLength(1)
        expect(wholeSeconds((yield* s.getRun(future.taskRunId)).unclaimedFor)).toBe(95)
        yield* Fiber.interrupt(waiting)
      }))

    it.scoped("a flow-run future warns the same, naming the flow", () =>
      Effect.gen(function*() {
        const s = yield* store.make
        const { logging, unclaimed, warned } = warningsLog()
        const future = yield* unservedFlow.delay(1).pipe(Effect.provideService(RunStore.RunStore, s))
        yield* testClockFromNow
        const waiting = yield* Effect.fork(logging(future.wait()))
        yield* settle
        yield* seconds(30)
        yield* warned
        expect(unclaimed()).toHaveLength(1)
        expect(unclaimed()[0]).toContain("flow 'unclaimed-flow-nobody-serves'")
        expect(unclaimed()[0]).toContain(future.flowRunId)
        yield* Fiber.interrupt(waiting)
      }))

    it.scoped("no warning while a live worker serves the task, even one too busy to claim the run", () =>
      Effect.gen(function*() {
        const s = yield* store.make
        const { logging, unclaimed } = warningsLog()
        yield* testClockFromNow
        yield* Effect.forkScoped(
          // A lease of an hour: on PostgreSQL a heartbeat's answer takes real time the test clock
          // does not wait for, and the worker would stop the run it could not renew in time.
          TaskWorker.serve([busy], {
            concurrency: 1,
            lease: "1 hour",
            heartbeatInterval: "1 second",
            shutdownGracePeriod: 0
          }).pipe(
            Effect.provideService(RunStore.RunStore, s)
          )
        )
        const first = crypto.randomUUID()
        started.set(first, yield* Deferred.make<void>())
        release.set(first, yield* Deferred.make<void>())
        yield* busy.delay(first).pipe(Effect.provideService(RunStore.RunStore, s))
        yield* Deferred.await(started.get(first)!)
        // The worker's one slot is taken: the second run waits, Scheduled, behind the first.
        const second = yield* busy.delay("never-started").pipe(Effect.provideService(RunStore.RunStore, s))
        const waiting = yield* Effect.fork(logging(second.wait()))
        yield* settle
        yield* seconds(65)
        const run = yield* s.getRun(second.taskRunId)
        expect(run.state.type).toBe("SCHEDULED")
        expect(run.unclaimedFor).toBeUndefined()
        expect(unclaimed()).toEqual([])
        yield* Fiber.interrupt(waiting)
        yield* Deferred.succeed(release.get(first)!, undefined)
      }))
  })
}

describe("a run no worker claims: the threshold", () => {
  it.scoped("unclaimedAfter sets it; a worker that stopped no longer counts once its lease is over", () =>
    Effect.gen(function*() {
      const s = RunStore.makeMemory({ unclaimedAfter: "10 seconds" })
      const { logging, unclaimed } = warningsLog()
      yield* testClockFromNow
      const worker = yield* Effect.fork(
        TaskWorker.serve([unserved], { lease: "30 seconds", heartbeatInterval: "1 second", shutdownGracePeriod: 0 })
          .pipe(Effect.provideService(RunStore.RunStore, s))
      )
      yield* settle
      yield* seconds(2)
      yield* Fiber.interrupt(worker)
      const future = yield* unserved.delay(1).pipe(Effect.provideService(RunStore.RunStore, s))
      const waiting = yield* Effect.fork(logging(future.wait()))
      yield* settle
      // The stopped worker's last heartbeat keeps it live for its lease (30 s from then).
      yield* seconds(20)
      expect(unclaimed()).toEqual([])
      yield* seconds(10)
      expect(unclaimed()).toHaveLength(1)
      // (Over 30 seconds by the real time the run was stamped with: the test clock ran 2 seconds ahead.)
      expect(unclaimed()[0]).toMatch(/for 3\d seconds/)
      yield* Fiber.interrupt(waiting)
    }))

  it.scoped("a waiting future reads nothing more from the store until the threshold passes, then once", () =>
    Effect.gen(function*() {
      const memory = RunStore.makeMemory()
      let reads = 0
      const s: RunStore.Service = {
        ...memory,
        getRun: (runId) => Effect.suspend(() => (reads++, memory.getRun(runId)))
      }
      const future = yield* unserved.delay(1).pipe(Effect.provideService(RunStore.RunStore, s))
      yield* testClockFromNow
      const { logging, unclaimed } = warningsLog()
      const waiting = yield* Effect.fork(logging(future.wait()))
      yield* settle
      yield* seconds(29)
      expect(reads).toBe(0)
      yield* seconds(1)
      expect(reads).toBe(1)
      expect(unclaimed()).toHaveLength(1)
      yield* Fiber.interrupt(waiting)
    }))

  it("an unreadable unclaimedAfter is a defect", () => {
    expect(() => RunStore.makeMemory({ unclaimedAfter: -1 })).toThrow("unclaimedAfter")
    // Effect reads "-1 seconds" as zero: every Scheduled run would be reported unclaimed at once.
    expect(() => RunStore.makeMemory({ unclaimedAfter: "-1 seconds" })).toThrow("unclaimedAfter")
    expect(() => RunStore.makeMemory({ unclaimedAfter: [-1, 0] })).toThrow("unclaimedAfter")
  })
})
