import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Context,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberId,
  Layer,
  Logger,
  Queue,
  Schema,
  TestClock
} from "effect"
import { Errors, Flow, Futures, RunStore, State, Task, TaskWorker } from "effect-taskflow"
import { settle } from "./helpers.js"
import { postgresThroughProxy } from "./support/dropProxy.js"
import { newRun, uuid } from "./support/storeRuns.js"
import { freshPostgresUrl, postgresAvailable, storeCases } from "./support/stores.js"

/** `store` with its claims counted; `firstClaim` is done once the first is sent. */
const countingClaims = (store: RunStore.Service) => {
  let claims = 0
  const firstClaim = Deferred.unsafeMake<void>(FiberId.none)
  const counting: RunStore.Service = {
    ...store,
    claimRuns: (options) =>
      Effect.suspend(() => {
        claims++
        Deferred.unsafeDone(firstClaim, Exit.void)
        return store.claimRuns(options)
      })
  }
  return { claims: () => claims, counting, firstClaim }
}

/** A clock whose timers never fire: a worker on it claims only when something wakes it (a push, a run's end). */
const timersNeverFire: Clock.Clock = (() => {
  const real = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => real.unsafeCurrentTimeMillis(),
    currentTimeMillis: real.currentTimeMillis,
    unsafeCurrentTimeNanos: () => real.unsafeCurrentTimeNanos(),
    currentTimeNanos: real.currentTimeNanos,
    sleep: () => Effect.never
  }
})()

// Task workers in this process, against every store. Workers in other processes (kill -9, two
// workers, 10,000 runs) are in test/distributed/.

const double = Task.make("worker-double", (n: number) => Effect.succeed(n * 2))
class Boom extends Schema.TaggedError<Boom>()("WorkerBoom", { n: Schema.Number }) {}
const boom = Task.make({ name: "worker-boom", failure: Boom }, (n: number) => Effect.fail(new Boom({ n })))
let flakyCalls = 0
const flaky = Task.make(
  { name: "worker-flaky", retries: 2 },
  (n: number) => Effect.suspend(() => ++flakyCalls < 2 ? Effect.dieMessage("flaky") : Effect.succeed(n))
)
const started = new Map<string, Deferred.Deferred<void>>()
const blocking = Task.make("worker-blocking", (key: string) =>
  Effect.zipRight(
    Effect.suspend(() => Deferred.succeed(started.get(key)!, undefined)),
    Effect.never
  ))
const notServed = Task.make("worker-not-served", () => Effect.succeed(1))
const sumFlow = Flow.make("worker-sum-flow", (xs: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const futures = yield* double.map(xs)
    return futures
  }))
const unkept = Task.make({ name: "worker-unkept", persistResult: false }, () => Effect.succeed("gone"))
const nothing = Task.make("worker-void", () => Effect.void)
const pointTask = Task.make(
  { name: "worker-point", parameters: Schema.Tuple(Schema.Number) },
  (n: number) => Effect.succeed(n)
)

let bodies = 0
let mostBodies = 0
const counted = Task.make("worker-counted", (n: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      bodies++
      mostBodies = Math.max(mostBodies, bodies)
    }),
    () => Effect.as(Effect.sleep("5 millis"), n),
    () => Effect.sync(() => bodies--)
  ))

// Times out on every attempt; its failure Schema does not list TaskTimeoutError, which must come back anyway.
const slow = Task.make(
  { name: "worker-slow", timeout: "20 millis", retries: 1, failure: Boom },
  (_: number) => Effect.never
)
const slowFlow = Flow.make("worker-slow-flow", () =>
  Effect.gen(function*() {
    const first = yield* slow.submit(1)
    const second = yield* double.submit(first as never)
    return yield* second.result()
  }))

const served = [double, boom, flaky, blocking, sumFlow, unkept, pointTask, nothing, counted, slow, slowFlow]

for (const store of storeCases) {
  describe.skipIf(!store.available)(`TaskWorker on ${store.name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, RunStore.RunStore>) =>
      Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(TaskWorker.serve(served, { concurrency: 4, heartbeatInterval: 20 }))
        return yield* effect
      })).pipe(Effect.provide(store.fresh()))

    it.live("runs delayed tasks and flows; futures follow them to their results", () =>
      run(Effect.gen(function*() {
        const f = yield* double.delay(21)
        expect(yield* f.result({ timeout: "10 seconds" })).toBe(42)
        const s = yield* RunStore.RunStore
        const history = yield* s.getHistory(f.taskRunId)
        expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"])
        expect((yield* s.getRun(f.taskRunId)).workerId).toBeUndefined()
        const flowFuture = yield* sumFlow.delay([1, 2, 3])
        expect(yield* flowFuture.result({ timeout: "10 seconds" })).toEqual([2, 4, 6])
        const inner = yield* s.listRuns({ flowRunId: flowFuture.flowRunId })
        expect(inner.length).toBe(3)
        expect(inner.every((r) => r.state.type === "COMPLETED")).toBe(true)
        // Another future made from the id alone sees the same result.
        const again = yield* Futures.PrefectFlowRunFuture.make<ReadonlyArray<number>, never>(flowFuture.flowRunId)
        expect(yield* again.result()).toEqual([2, 4, 6])
      })))

    it.live("runs at most `concurrency` task bodies at once, and keeps that many busy", () =>
      run(Effect.gen(function*() {
        bodies = 0
        mostBodies = 0
        const list = yield* counted.mapDelay(Array.from({ length: 40 }, (_, i) => i))
        expect(yield* list.result({ timeout: "20 seconds" })).toEqual(Array.from({ length: 40 }, (_, i) => i))
        expect(mostBodies).toBe(4)
      })))

    it.live("mapDelay schedules a batch; futures as delay arguments are waited for, a failed one makes NotReady", () =>
      run(Effect.gen(function*() {
        const list = yield* double.mapDelay([1, 2, 3])
        expect(yield* list.result({ timeout: "10 seconds" })).toEqual([2, 4, 6])
        const chained = yield* double.delay(list.at(2)!)
        expect(yield* chained.result({ timeout: "10 seconds" })).toBe(12)
        const failed = yield* boom.delay(1)
        const notReady = yield* double.delay(failed as unknown as Futures.PrefectFuture<number, never>)
        const state = yield* notReady.state
        expect([state.type, state.name]).toEqual(["PENDING", "NotReady"])
        const mismatch = yield* Effect.flip(double.mapDelay(Task.unmapped(3)))
        expect(mismatch._tag).toBe("MappingMissingIterable")
      })))

    it.live("a typed failure comes back typed; retries go AwaitingRetry then Retrying", () =>
      run(Effect.gen(function*() {
        const failed = yield* boom.delay(7)
        const error = yield* Effect.flip(failed.result({ timeout: "10 seconds" }))
        expect(error).toBeInstanceOf(Boom)
        expect(error._tag === "WorkerBoom" && error.n).toBe(7)
        flakyCalls = 0
        const retried = yield* flaky.delay(5)
        expect(yield* retried.result({ timeout: "10 seconds" })).toBe(5)
        const s = yield* RunStore.RunStore
        expect((yield* s.getHistory(retried.taskRunId)).map((state) => state.name)).toEqual([
          "Scheduled",
          "Pending",
          "Running",
          "AwaitingRetry",
          "Retrying",
          "Completed"
        ])
        expect((yield* s.getRun(retried.taskRunId)).runCount).toBe(2)
      })))

    it.live("a timed-out run comes back as a typed TaskTimeoutError, its states say why, its record counts retries", () =>
      run(Effect.gen(function*() {
        const future = yield* slow.delay(1)
        const either = yield* Effect.either(future.result({ timeout: "10 seconds" }))
        const error = Either.isLeft(either) ? either.left : undefined
        expect(error).toBeInstanceOf(Errors.TaskTimeoutError)
        const message = `Task run 'worker-slow' (${future.taskRunId}) exceeded its timeout of 0.02 seconds.`
        expect(error?.message).toBe(message)
        const s = yield* RunStore.RunStore
        const history = yield* s.getHistory(future.taskRunId)
        expect(history.map((state) => state.name)).toEqual([
          "Scheduled",
          "Pending",
          "Running",
          "AwaitingRetry",
          "Retrying",
          "TimedOut"
        ])
        expect(history[3].message).toBe(`Retry 1 of 1 after a timeout: TaskTimeoutError: ${message}`)
        expect(history[5].message).toBe(message)
        const record = yield* s.getRun(future.taskRunId)
        expect([record.runCount, record.retries]).toEqual([2, 1])
        // A flow run whose task timed out names that run, not the NotReady one after it.
        const flowRun = yield* slowFlow.delay()
        const flowError = yield* Effect.flip(flowRun.result({ timeout: "10 seconds" }))
        const [timedOut] = yield* s.listRuns({ name: "worker-slow", flowRunId: flowRun.flowRunId })
        expect(flowError.message).toContain(`'worker-slow' (${timedOut.id})`)
        expect(flowError.message).toContain("FAILED (TimedOut)")
        const flowState = (yield* s.getRun(flowRun.flowRunId)).state
        expect(flowState.message).toContain(
          `The first task run to fail: 'worker-slow' (${timedOut.id}) is FAILED (TimedOut)`
        )
      })))

    it.live("cancelling a running run from the store interrupts it on its worker: it ends Cancelled", () =>
      run(Effect.gen(function*() {
        const key = crypto.randomUUID()
        const isStarted = yield* Deferred.make<void>()
        started.set(key, isStarted)
        const f = yield* blocking.delay(key)
        yield* Deferred.await(isStarted)
        yield* Futures.cancel(f)
        yield* f.wait({ timeout: "10 seconds" })
        expect((yield* f.state).type).toBe("CANCELLED")
        const s = yield* RunStore.RunStore
        expect((yield* s.getHistory(f.taskRunId)).map((state) => state.type)).toContain("CANCELLING")
      })))

    it.live("a cancel in this process stops the run at once, long before the worker's next heartbeat", () =>
      Effect.gen(function*() {
        const key = crypto.randomUUID()
        const isStarted = yield* Deferred.make<void>()
        started.set(key, isStarted)
        yield* Effect.forkScoped(TaskWorker.serve([blocking], { lease: "2 hours", heartbeatInterval: "1 hour" }))
        const f = yield* blocking.delay(key)
        yield* Deferred.await(isStarted)
        yield* Futures.cancel(f)
        yield* f.wait({ timeout: "10 seconds" })
        expect((yield* f.state).type).toBe("CANCELLED")
      }).pipe(Effect.scoped, Effect.provide(store.fresh())))

    it.live("a task no worker serves stays Scheduled; a result not kept reads as MissingResult", () =>
      run(Effect.gen(function*() {
        const f = yield* notServed.delay()
        const g = yield* unkept.delay()
        yield* g.wait({ timeout: "10 seconds" })
        expect((yield* Effect.flip(g.result()))._tag).toBe("MissingResult")
        // A task that returns nothing keeps "nothing" (not null, not a failure).
        const v = yield* nothing.delay()
        expect(yield* v.result({ timeout: "10 seconds" })).toBeUndefined()
        expect((yield* f.state).type).toBe("SCHEDULED")
      })))

    it.live("arguments its parameters Schema rejects: delay fails with SerializationError, no run is made", () =>
      run(Effect.gen(function*() {
        const error = yield* Effect.flip(pointTask.delay("nope" as unknown as number))
        expect(error._tag).toBe("SerializationError")
        expect(error.message).toContain("parameters")
        expect(yield* (yield* RunStore.RunStore).listRuns({ name: "worker-point" })).toEqual([])
      })))

    it.live("stopping a worker gives back what it holds; another worker finishes it", () =>
      Effect.gen(function*() {
        const key = crypto.randomUUID()
        const isStarted = yield* Deferred.make<void>()
        started.set(key, isStarted)
        const f = yield* blocking.delay(key)
        const first = yield* Effect.fork(TaskWorker.serve([blocking], { shutdownGracePeriod: 0 }))
        yield* Deferred.await(isStarted)
        yield* Fiber.interrupt(first)
        const s = yield* RunStore.RunStore
        const released = yield* s.getRun(f.taskRunId)
        expect(released.state.type).toBe("SCHEDULED")
        expect(released.workerId).toBeUndefined()
        // The next worker takes it; this time it is cancelled, which ends it.
        const again = yield* Deferred.make<void>()
        started.set(key, again)
        yield* Effect.forkScoped(TaskWorker.serve([blocking], { heartbeatInterval: 20 }))
        yield* Deferred.await(again)
        yield* Futures.cancel(f)
        yield* f.wait({ timeout: "10 seconds" })
        expect((yield* f.state).type).toBe("CANCELLED")
      }).pipe(Effect.scoped, Effect.provide(store.fresh())))
  })
}

// With TestClock: a heartbeat's deadline is measured in leases, not in real seconds.
describe("TaskWorker leases", () => {
  const stopped = new Map<string, Deferred.Deferred<void>>()
  const endless = Task.make("worker-endless", (key: string) =>
    Effect.zipRight(
      Effect.suspend(() => Deferred.succeed(started.get(key)!, undefined)),
      Effect.onInterrupt(Effect.never, () => Deferred.succeed(stopped.get(key)!, undefined))
    ))

  /**
   * Serves `endless` on `workerStore` (over `store`; unless `serve` is false: one serves it already),
   * starts one run of it and waits until it runs.
   */
  const startEndless = (store: RunStore.Service, workerStore: RunStore.Service, serve = true) =>
    Effect.gen(function*() {
      const key = crypto.randomUUID()
      const isStarted = yield* Deferred.make<void>()
      const isStopped = yield* Deferred.make<void>()
      started.set(key, isStarted)
      stopped.set(key, isStopped)
      if (serve) {
        yield* Effect.forkScoped(
          TaskWorker.serve([endless], {
            workerId: "w",
            lease: "30 seconds",
            heartbeatInterval: "1 second",
            shutdownGracePeriod: 0
          }).pipe(
            Effect.provideService(RunStore.RunStore, workerStore)
          )
        )
      }
      const future = yield* endless.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      yield* Deferred.await(isStarted)
      return { id: future.taskRunId, isStopped }
    })

  // Another worker, whose store answers, recovers the runs once their lease ends and runs them
  // again: without the deadline, the first worker still ran them too.
  it.scoped("a worker cut off from the store stops its runs before their lease ends; another worker recovers them", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      // The store out of this worker's reach: its heartbeats wait, as a SQL store's do while it reconnects.
      const unreachable: RunStore.Service = { ...store, heartbeat: () => Effect.never }
      const { id, isStopped } = yield* startEndless(store, unreachable)
      yield* TestClock.adjust("28 seconds")
      expect(yield* Deferred.isDone(isStopped)).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* Deferred.isDone(isStopped)).toBe(true)
      // Stopped, not ended: its Cancelled is not written (the run may be another worker's by now).
      const run = yield* store.getRun(id)
      expect([run.state.type, run.workerId]).toEqual(["RUNNING", "w"])
      yield* TestClock.adjust("2 seconds")
      expect(yield* store.recoverExpired()).toEqual([id])
      expect((yield* store.getRun(id)).state.type).toBe("CRASHED")
    }))

  it.scoped("once the store answers again, the runs it stopped are given back and run again", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const reachable = yield* Deferred.make<void>()
      // Its heartbeats wait until the store is reachable again, then go through.
      const cutOff: RunStore.Service = {
        ...store,
        heartbeat: (workerId, runIds, lease) =>
          Effect.zipRight(Deferred.await(reachable), store.heartbeat(workerId, runIds, lease))
      }
      const { id, isStopped } = yield* startEndless(store, cutOff)
      yield* TestClock.adjust("29 seconds")
      expect(yield* Deferred.isDone(isStopped)).toBe(true)
      yield* Deferred.succeed(reachable, undefined)
      yield* settle
      // Released (not left to be recovered as Crashed), then claimed again by the same worker.
      const history = yield* store.getHistory(id)
      expect(history.map((state) => state.type)).toEqual([
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "SCHEDULED",
        "PENDING",
        "RUNNING"
      ])
      expect(history[3].message).toBe(
        "Released by task worker w, which could not renew its lease in time and stopped the run."
      )
      // A give-back is not an attempt: the run count is the new claim's only.
      expect((yield* store.getRun(id)).runCount).toBe(1)
    }))

  // The bug this catches: a worker stopped while a claim was on its way dropped the claim's answer;
  // its runs, claimed in the store, stayed Running until their leases ended.
  it.scoped("a worker stopped while its claim is on its way gives back the claim's runs", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const claimSent = yield* Deferred.make<void>()
      const answer = yield* Deferred.make<void>()
      // The claim is written in the store at once; its answer comes when the test says.
      const slowAnswer: RunStore.Service = {
        ...store,
        claimRuns: (options) =>
          Effect.tap(
            store.claimRuns(options),
            (runs) =>
              runs.length > 0
                ? Effect.zipRight(Deferred.succeed(claimSent, undefined), Deferred.await(answer))
                : Effect.void
          )
      }
      const worker = yield* Effect.forkScoped(
        TaskWorker.serve([blocking], { workerId: "w", shutdownGracePeriod: 0 }).pipe(
          Effect.provideService(RunStore.RunStore, slowAnswer)
        )
      )
      const key = crypto.randomUUID()
      started.set(key, yield* Deferred.make<void>())
      const future = yield* blocking.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      yield* Deferred.await(claimSent)
      yield* Fiber.interruptFork(worker)
      yield* settle
      yield* Deferred.succeed(answer, undefined)
      yield* TestClock.adjust(0)
      yield* Fiber.await(worker)
      const run = yield* store.getRun(future.taskRunId)
      expect([run.state.type, run.workerId, run.runCount]).toEqual(["SCHEDULED", undefined, 0])
      expect(run.state.message).toContain("Given back by task worker w on shutdown")
    }))

  // The bug this catches: a run this worker lost (recovered, Scheduled again) and claimed again
  // while its old fiber was still ending. The old fiber's end cleared the run's bookkeeping by id,
  // the new claim's too: its lease went unrenewed and was recovered while it ran.
  it.scoped("a run claimed again while its old fiber is still ending keeps its new claim's lease", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const runs = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const letFirstEnd = yield* Deferred.make<void>()
      let executions = 0
      // The first execution's interruption waits for the test; the second runs until stopped.
      const sticky = Task.make("worker-sticky", () =>
        Effect.suspend(() => {
          const n = executions++
          return Effect.zipRight(
            Deferred.succeed(runs[n], undefined),
            n === 0 ? Effect.onInterrupt(Effect.never, () => Deferred.await(letFirstEnd)) : Effect.never
          )
        }))
      const claimsOpen = yield* Deferred.make<void>()
      let gated = false
      const gating: RunStore.Service = {
        ...store,
        claimRuns: (options) =>
          Effect.suspend(() =>
            gated ? Effect.zipRight(Deferred.await(claimsOpen), store.claimRuns(options)) : store.claimRuns(options)
          )
      }
      yield* Effect.forkScoped(
        TaskWorker.serve([sticky], {
          workerId: "w",
          lease: "30 seconds",
          heartbeatInterval: "1 second",
          shutdownGracePeriod: 0
        }).pipe(
          Effect.provideService(RunStore.RunStore, gating)
        )
      )
      const future = yield* sticky.delay().pipe(Effect.provideService(RunStore.RunStore, store))
      yield* Deferred.await(runs[0])
      gated = true
      // As if its lease had expired and it was recovered: Scheduled again, no worker's.
      yield* store.releaseRuns("w", [future.taskRunId])
      // The next heartbeat finds it lost: its fiber is interrupted, and keeps ending.
      yield* TestClock.adjust("1 second")
      yield* settle
      // Claimed again by the same worker.
      yield* Deferred.succeed(claimsOpen, undefined)
      yield* settle
      expect((yield* store.getRun(future.taskRunId)).workerId).toBe("w")
      expect(yield* Deferred.isDone(runs[1])).toBe(false) // not while the old one runs
      yield* Deferred.succeed(letFirstEnd, undefined)
      yield* Deferred.await(runs[1])
      // The new claim is held: heartbeats renew its lease, nothing is recovered.
      yield* TestClock.adjust("45 seconds")
      yield* settle
      expect(yield* store.recoverExpired()).toEqual([])
      const run = yield* store.getRun(future.taskRunId)
      expect([run.state.type, run.workerId]).toEqual(["RUNNING", "w"])
    }))

  // The bug this catches: a run claimed again started, once its old fiber ended, with its lease
  // timed from the claim, though heartbeats had renewed it since: after a long wait for the old
  // fiber, the lease deadline stopped the new run at once.
  it.scoped("a run claimed again and started long after its claim times its lease from its latest renewal", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const runs = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const letFirstEnd = yield* Deferred.make<void>()
      let executions = 0
      let secondStopped = false
      const sticky = Task.make("worker-sticky-late", () =>
        Effect.suspend(() => {
          const n = executions++
          return Effect.zipRight(
            Deferred.succeed(runs[n], undefined),
            Effect.onInterrupt(
              Effect.never,
              () => n === 0 ? Deferred.await(letFirstEnd) : Effect.sync(() => (secondStopped = true))
            )
          )
        }))
      const claimsOpen = yield* Deferred.make<void>()
      let gated = false
      let heartbeatsWait = false
      const gating: RunStore.Service = {
        ...store,
        claimRuns: (options) =>
          Effect.suspend(() =>
            gated ? Effect.zipRight(Deferred.await(claimsOpen), store.claimRuns(options)) : store.claimRuns(options)
          ),
        // Out of reach for heartbeats once the test says: the lease deadline then counts from the last renewal.
        heartbeat: (...args) => Effect.suspend(() => heartbeatsWait ? Effect.never : store.heartbeat(...args))
      }
      yield* Effect.forkScoped(
        TaskWorker.serve([sticky], {
          workerId: "w",
          lease: "30 seconds",
          heartbeatInterval: "1 second",
          shutdownGracePeriod: 0
        }).pipe(
          Effect.provideService(RunStore.RunStore, gating)
        )
      )
      const future = yield* sticky.delay().pipe(Effect.provideService(RunStore.RunStore, store))
      yield* Deferred.await(runs[0])
      gated = true
      yield* store.releaseRuns("w", [future.taskRunId])
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* Deferred.succeed(claimsOpen, undefined)
      yield* settle
      expect((yield* store.getRun(future.taskRunId)).workerId).toBe("w")
      // The old fiber takes 40 seconds to end; meanwhile heartbeats renew the new claim's lease.
      for (let i = 0; i < 40; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      heartbeatsWait = true
      yield* Deferred.succeed(letFirstEnd, undefined)
      yield* Deferred.await(runs[1])
      // Renewed 41 seconds in: not stopped before 70 (29 seconds later), though claimed at 1.
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(secondStopped).toBe(false)
      const run = yield* store.getRun(future.taskRunId)
      expect([run.state.type, run.workerId]).toEqual(["RUNNING", "w"])
    }))

  // The bug this catches: the heartbeat gave back the runs it had stopped before it acted on the
  // beat's cancels, lost runs and expired leases, so a give-back that kept failing held all of them back.
  it.scoped("a give-back that fails does not hold back the heartbeat's cancels", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const reachable = yield* Deferred.make<void>()
      let giveBacks = 0
      const flapping: RunStore.Service = {
        ...store,
        heartbeat: (workerId, runIds, lease) =>
          Effect.zipRight(Deferred.await(reachable), store.heartbeat(workerId, runIds, lease)),
        releaseRuns: () =>
          Effect.suspend(() => {
            giveBacks++
            return Effect.fail(new Errors.RunStoreError({ message: "the store went away again" }))
          }),
        // Only the heartbeat tells this worker of cancels.
        unsafeSubscribeCancelling: () => () => {}
      }
      const first = yield* startEndless(store, flapping)
      yield* TestClock.adjust("29 seconds")
      expect(yield* Deferred.isDone(first.isStopped)).toBe(true)
      yield* Deferred.succeed(reachable, undefined)
      const second = yield* startEndless(store, flapping, false)
      expect(yield* store.cancelRun(second.id)).toMatchObject({ type: "CANCELLING" })
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(giveBacks).toBeGreaterThanOrEqual(2)
      expect(yield* Deferred.isDone(second.isStopped)).toBe(true)
      expect((yield* store.getRun(second.id)).state.type).toBe("CANCELLED")
      // The stopped run stays this worker's to give back: it is neither recovered nor run again.
      expect((yield* store.getRun(first.id)).state.type).toBe("RUNNING")
    }))

  /** A worker of `double` on a memory store whose claims are counted, once its first claim (finding nothing) is over. */
  const idleWorkerCountingClaims = Effect.gen(function*() {
    const { claims, counting } = countingClaims(RunStore.makeMemory())
    yield* Effect.forkScoped(
      TaskWorker.serve([double], { concurrency: 4 }).pipe(Effect.provideService(RunStore.RunStore, counting))
    )
    yield* settle
    expect(claims()).toBe(1) // at start, finding nothing
    return { claims, counting }
  })

  // The waste this catches: after a claim that came back short, the worker claimed again as each
  // of its runs ended, and found nothing (in a `delay` → `result` round trip, one statement in five).
  it.scoped("after a short claim, a run that ends sends no claim; a push or the polling fallback does", () =>
    Effect.gen(function*() {
      const { claims, counting } = yield* idleWorkerCountingClaims
      const future = yield* double.delay(21).pipe(Effect.provideService(RunStore.RunStore, counting))
      expect(yield* future.result()).toBe(42)
      yield* settle
      expect(claims()).toBe(2) // the push's, which took the run; its end sent none
      yield* TestClock.adjust("1 second")
      expect(claims()).toBeGreaterThan(2) // the polling fallback's, within `pollInterval`
    }))

  // The waste this catches: every push woke every worker, and one serving other tasks claimed for nothing.
  it.scoped("a push of runs of a task the worker does not serve sends no claim", () =>
    Effect.gen(function*() {
      const { claims, counting } = yield* idleWorkerCountingClaims
      yield* notServed.delay().pipe(Effect.provideService(RunStore.RunStore, counting))
      yield* settle
      expect(claims()).toBe(1)
      const future = yield* double.delay(21).pipe(Effect.provideService(RunStore.RunStore, counting))
      expect(yield* future.result()).toBe(42)
      expect(claims()).toBe(2)
    }))

  it.scoped("a worker whose heartbeats renew its leases keeps its runs for as long as they run", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const { id, isStopped } = yield* startEndless(store, store)
      for (let second = 0; second < 120; second++) yield* TestClock.adjust("1 second")
      expect(yield* Deferred.isDone(isStopped)).toBe(false)
      expect(yield* store.recoverExpired()).toEqual([])
      expect((yield* store.getRun(id)).state.type).toBe("RUNNING")
    }))
})

// The gap this closes: a claim that committed but whose answer was lost (the connection dropped
// between the two) was sent again and claimed nothing; its run stayed held by a worker that did not
// know it, until its lease ended and it was recovered as Crashed, though it never ran.
describe("TaskWorker with a store of any shape", () => {
  // A user's store may be a class instance: its calls are then on its prototype, not its own properties.
  it.live("a store whose calls live on its prototype is served: the worker's guard keeps every call", () => {
    const onPrototype: RunStore.Service = Object.create(RunStore.makeMemory())
    return Effect.scoped(Effect.gen(function*() {
      yield* Effect.forkScoped(TaskWorker.serve([double], { heartbeatInterval: 20 }))
      const future = yield* double.delay(21)
      expect(yield* future.result({ timeout: "10 seconds" })).toBe(42)
    })).pipe(Effect.provideService(RunStore.RunStore, onPrototype))
  })
})

describe.skipIf(!postgresAvailable)("TaskWorker over a connection that loses an answer", () => {
  /** A task that counts how many times its body ran. */
  const countingTask = (name: string) => {
    let runs = 0
    const task = Task.make(name, (n: number) =>
      Effect.sync(() => {
        runs++
        return n
      }))
    return { task, runs: () => runs }
  }
  const lostAnswer = countingTask("worker-lost-answer")

  // The bug this catches: a give-back read a run Running, then the failed attempt's AwaitingRetry
  // (queued before the give-back) landed, and the give-back set the run count one lower from its
  // read: the failed attempt was no longer counted against `retries`.
  it.live("a give-back overtaken by the run's AwaitingRetry keeps the failed attempt's count", () =>
    Effect.scoped(Effect.gen(function*() {
      const { proxy, store } = yield* postgresThroughProxy()
      const id = uuid()
      yield* store.createRun(newRun(id, "store-plain", State.scheduled()))
      const [claimed] = yield* store.claimRuns({ workerId: "w", names: ["store-plain"], limit: 1, lease: 60_000 })
      expect(claimed.runCount).toBe(1)
      // The give-back's read of the run (Running) is done; its answer is held back...
      const pass = proxy.holdNext(id)
      const release = yield* Effect.fork(store.releaseRuns("w", [id], "Given back."))
      while (!proxy.holding()) yield* Effect.sleep(5)
      // ...while the failed attempt's AwaitingRetry is written.
      yield* store.setState(id, State.scheduled({ name: "AwaitingRetry" }), { workerId: "w" })
      pass()
      yield* Fiber.join(release)
      const run = yield* store.getRun(id)
      expect([run.state.type, run.workerId, run.runCount]).toEqual(["SCHEDULED", undefined, 1])
    })))

  it.live("a claim whose answer was lost: the worker runs what it claimed, once, not after its lease", () =>
    Effect.gen(function*() {
      // Polling at most every minute: no read but the claim's carries the run's row.
      const { proxy, store } = yield* postgresThroughProxy({ maxPollInterval: 60_000 })
      // The claim's answer holds the claimed rows as JSON: the task's name appears as a key's value.
      proxy.arm(`"name":"worker-lost-answer"`)
      yield* Effect.forkScoped(
        TaskWorker.serve([lostAnswer.task], { lease: "3 seconds", heartbeatInterval: "500 millis" }).pipe(
          Effect.provideService(RunStore.RunStore, store)
        )
      )
      const future = yield* lostAnswer.task.delay(7).pipe(Effect.provideService(RunStore.RunStore, store))
      expect(yield* future.result().pipe(Effect.timeout("20 seconds"))).toBe(7)
      expect(proxy.dropped()).toBe(1)
      expect(lostAnswer.runs()).toBe(1)
      const run = yield* store.getRun(future.taskRunId)
      expect(run.runCount).toBe(1)
      expect((yield* store.getHistory(future.taskRunId)).map((state) => state.type)).toEqual(
        ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
      )
    }).pipe(Effect.scoped))

  // The same, when the claim fails outright: the store stays away longer than `reconnectFor`, so the
  // claim is not sent again within its call. Its run used to wait for its lease and end Crashed.
  const failedClaim = countingTask("worker-failed-claim")

  it.live("a claim that failed outright after committing: the worker's next claim runs what it claimed, once", () =>
    Effect.gen(function*() {
      const { proxy, store, url } = yield* postgresThroughProxy({ maxPollInterval: 60_000, reconnectFor: "100 millis" })
      const client = Context.get(yield* Layer.build(RunStore.postgres({ url })), RunStore.RunStore)
      // The claim's answer is lost, then the store is out of reach for a second: far longer than
      // the worker's store tries to reconnect within one call.
      proxy.arm(`"name":"worker-failed-claim"`, { cutOffFor: 1_000 })
      const warnings: Array<unknown> = []
      const keepWarnings = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          warnings.push(Array.isArray(message) ? message[0] : message)
        })
      )
      yield* Effect.forkScoped(
        TaskWorker.serve([failedClaim.task], { lease: "3 seconds", heartbeatInterval: "500 millis" }).pipe(
          Effect.provideService(RunStore.RunStore, store),
          Effect.provide(keepWarnings)
        )
      )
      const future = yield* failedClaim.task.delay(7).pipe(Effect.provideService(RunStore.RunStore, client))
      expect(yield* future.result().pipe(Effect.timeout("20 seconds"))).toBe(7)
      expect(proxy.dropped()).toBe(1)
      expect(warnings.some((message) => String(message).includes("claiming runs failed"))).toBe(true)
      expect(failedClaim.runs()).toBe(1)
      expect((yield* client.getRun(future.taskRunId)).runCount).toBe(1)
      expect((yield* client.getHistory(future.taskRunId)).map((state) => state.type)).toEqual(
        ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
      )
    }).pipe(Effect.scoped))
})

describe.skipIf(!postgresAvailable)("TaskWorker woken by PostgreSQL's pushes", () => {
  it.live("a push from another process names its task: a worker serving others sends no claim", () =>
    Effect.gen(function*() {
      const url = freshPostgresUrl()
      const open = (options: RunStore.SqlOptions = {}) =>
        Effect.map(Layer.build(RunStore.postgres({ ...options, url })), Context.get(RunStore.RunStore))
      const { claims, counting, firstClaim } = countingClaims(yield* open())
      const client = yield* open()
      const notServedPushes = yield* Queue.unbounded<void>()
      // The worker's timers never fire (no polling fallback, however long the store takes to answer):
      // only a push wakes it, so every claim after its first is a push's.
      yield* Effect.forkScoped(
        TaskWorker.serve([double], { pollInterval: "1 minute" }).pipe(
          Effect.provideService(RunStore.RunStore, counting),
          Effect.withClock(timersNeverFire)
        )
      )
      // The worker listens for pushes before it claims.
      yield* Deferred.await(firstClaim)
      // Subscribed after the worker: called after it, for the same push.
      const unsubscribe = counting.unsafeSubscribeScheduled((name) => {
        if (name === "worker-not-served") Queue.unsafeOffer(notServedPushes, undefined)
      })
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
      const pushNotServed = Effect.zipRight(
        notServed.delay().pipe(Effect.provideService(RunStore.RunStore, client)),
        Queue.take(notServedPushes).pipe(Effect.timeout("10 seconds"))
      )
      // A first push heard: the worker's LISTEN session is up. `settle` lets a worker that the push
      // woke send its claim.
      yield* pushNotServed
      yield* settle
      const before = claims()
      expect(before).toBe(1) // at start, finding nothing
      yield* pushNotServed
      yield* settle
      expect(claims()).toBe(before)
      const future = yield* double.delay(21).pipe(Effect.provideService(RunStore.RunStore, client))
      expect(yield* future.result().pipe(Effect.timeout("10 seconds"))).toBe(42)
      expect(claims()).toBeGreaterThan(before)
    }).pipe(Effect.scoped))
})
