import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, type Duration, Effect, Either, FiberId, Layer, TestClock } from "effect"
import { Errors, RunStore, State, Task, TaskWorker } from "effect-taskflow"
import { settle } from "./helpers.js"
import { postgresThroughProxy } from "./support/dropProxy.js"
import { newRun, uuid } from "./support/storeRuns.js"
import { postgresAvailable, storeCases, withStore } from "./support/stores.js"

// A store that goes away for longer than a SQL store's `reconnectFor`, and a claim answered late:
// what a worker holds survives, nothing runs twice at once, and nothing is treated as dead too soon.

/** What a SQL store's call gives after `reconnectFor` while the store is away. */
const away = () =>
  new Errors.RunStoreError({ message: "The run store could not be reached (test outage)", unreachable: true })

/**
 * `store` as a worker sees it through an outage: while `isAway()`, its heartbeats and final states
 * fail (as a SQL store's calls do once `reconnectFor` is over); once back, a heartbeat answers only
 * after `heartbeatDelay` (a live worker's call waiting out its backoff).
 */
const throughOutage = (store: RunStore.Service, isAway: () => boolean, heartbeatDelay: Duration.DurationInput = 0) =>
  ({
    ...store,
    heartbeat: (workerId, runIds, lease, served) =>
      Effect.suspend(() =>
        isAway()
          ? Effect.fail(away())
          : Effect.zipRight(Effect.sleep(heartbeatDelay), store.heartbeat(workerId, runIds, lease, served))
      ),
    setState: (runId, state, options) =>
      Effect.suspend(() =>
        isAway() && State.isFinal(state) ? Effect.fail(away()) : store.setState(runId, state, options)
      ),
    recoverExpired: () => Effect.suspend(() => isAway() ? Effect.fail(away()) : store.recoverExpired())
  }) satisfies RunStore.Service

describe("an outage longer than reconnectFor", () => {
  let executions = 0
  const bodyEnded = new Map<string, Deferred.Deferred<void>>()
  const finishes = Task.make("outage-finishes", (key: string) =>
    Effect.suspend(() => {
      executions++
      return Effect.as(Deferred.succeed(bodyEnded.get(key)!, undefined), `done ${key}`)
    }))
  const serve = (store: RunStore.Service, workerId: string) =>
    TaskWorker.serve([finishes], {
      workerId,
      lease: "30 seconds",
      heartbeatInterval: "1 second",
      shutdownGracePeriod: 0
    }).pipe(Effect.provideService(RunStore.RunStore, store))

  // The bug this catches: the worker gave up on a finished run's final state after `reconnectFor`,
  // its lease deadline stopped it as if it still ran, and another worker cut off as well recovered
  // it the moment the store was back (Crashed, or with retries, its body run twice).
  it.scoped("a body that finished while the store was away ends Completed once it is back, run once", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      let isAway = false
      const key = uuid()
      bodyEnded.set(key, yield* Deferred.make<void>())
      executions = 0
      // The holder's heartbeat, once the store is back, answers 1.5 s late (its backoff); the other
      // worker's at once: it would recover the holder's expired lease first.
      yield* Effect.forkScoped(serve(throughOutage(store, () => isAway, "1500 millis"), "holder"))
      const future = yield* finishes.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      // The store goes away as the body runs; the body ends during the outage.
      isAway = true
      yield* TestClock.adjust("10 millis")
      yield* Deferred.await(bodyEnded.get(key)!)
      yield* Effect.forkScoped(serve(throughOutage(store, () => isAway), "other"))
      yield* TestClock.adjust("60 seconds")
      expect((yield* store.getRun(future.taskRunId)).state.type).toBe("RUNNING")
      isAway = false
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      const run = yield* store.getRun(future.taskRunId)
      expect([run.state.type, run.state.type === "COMPLETED" ? run.state.value : undefined]).toEqual([
        "COMPLETED",
        `done ${key}`
      ])
      expect(executions).toBe(1)
      expect((yield* store.getHistory(future.taskRunId)).map((state) => state.type)).toEqual([
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "COMPLETED"
      ])
    }))

  it.scoped("a run taken over while its outcome waited: the late outcome is refused, the new holder's stands", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      let isAway = false
      const key = uuid()
      bodyEnded.set(key, yield* Deferred.make<void>())
      executions = 0
      const holder = yield* Effect.forkScoped(serve(throughOutage(store, () => isAway), "holder"))
      const future = yield* finishes.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      isAway = true
      yield* TestClock.adjust("10 millis")
      yield* Deferred.await(bodyEnded.get(key)!)
      // Only the holder is cut off: its lease ends, and the store's own recovery moves the run on.
      yield* TestClock.adjust("31 seconds")
      expect(yield* store.recoverExpired()).toEqual([future.taskRunId])
      expect((yield* store.getRun(future.taskRunId)).state.type).toBe("CRASHED")
      isAway = false
      yield* TestClock.adjust("5 seconds")
      // The holder's late Completed was refused (it no longer holds the run), and it goes on serving.
      expect((yield* store.getRun(future.taskRunId)).state.type).toBe("CRASHED")
      expect(holder.unsafePoll()).toBeNull()
    }))
})

describe("a claim answered late", () => {
  const started = new Map<string, Deferred.Deferred<void>>()
  const release = new Map<string, Deferred.Deferred<void>>()
  let interrupted = 0
  const waits = Task.make("outage-waits", (key: string) =>
    Effect.zipRight(
      Effect.suspend(() => Deferred.succeed(started.get(key)!, undefined)),
      Effect.onInterrupt(Effect.suspend(() => Deferred.await(release.get(key)!)), () =>
        Effect.sync(() => {
          interrupted++
        }))
    ))

  // The bug this catches: a claim tried again through an outage was answered 29 s after it was first
  // sent; its runs were judged unrenewed at once, started, and interrupted a moment later.
  it.scoped("its runs' leases are renewed before they start: none is started and then stopped", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const key = uuid()
      started.set(key, yield* Deferred.make<void>())
      release.set(key, yield* Deferred.make<void>())
      interrupted = 0
      let isAway = true
      // The store is away for 29 s: heartbeats fail, and the claim waits (its tries failing), then
      // takes the run as the store comes back.
      const lateClaims: RunStore.Service = {
        // Once it is back, a heartbeat answers 1.5 s late (its call waiting out its backoff).
        ...throughOutage(store, () => isAway, "1500 millis"),
        claimRuns: (options) =>
          Effect.suspend(() =>
            isAway
              ? Effect.zipRight(
                Effect.sleep("29 seconds"),
                Effect.suspend(() => {
                  isAway = false
                  return store.claimRuns(options)
                })
              )
              : store.claimRuns(options)
          )
      }
      const future = yield* waits.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      yield* Effect.forkScoped(
        TaskWorker.serve([waits], {
          workerId: "w",
          lease: "30 seconds",
          heartbeatInterval: "1 second",
          shutdownGracePeriod: 0
        }).pipe(Effect.provideService(RunStore.RunStore, lateClaims))
      )
      yield* settle
      yield* TestClock.adjust("29 seconds")
      yield* TestClock.adjust("2 seconds")
      yield* Deferred.await(started.get(key)!)
      yield* TestClock.adjust("3 seconds")
      expect(interrupted).toBe(0)
      expect((yield* store.getRun(future.taskRunId)).state.type).toBe("RUNNING")
      yield* Deferred.succeed(release.get(key)!, undefined)
      yield* TestClock.adjust("10 millis")
      expect((yield* store.getRun(future.taskRunId)).state.type).toBe("COMPLETED")
      expect((yield* store.getHistory(future.taskRunId)).map((state) => state.type)).toEqual([
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "COMPLETED"
      ])
    }))
})

describe("the store's fence on holder and attempt", () => {
  for (const store of storeCases) {
    it.live.skipIf(!store.available)(
      `${store.name}: a late write of an attempt the run moved on from is refused`,
      () =>
        withStore(
          store,
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const id = uuid()
            yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
            const [claimed] = yield* s.claimRuns({ workerId: "w", names: ["store-plain"], limit: 1, lease: 30_000 })
            expect(claimed?.runCount).toBe(1)
            // Its attempt 1 failed and attempt 2 began (the same worker, as after a take-over and a new claim).
            yield* s.setState(id, State.running({ name: "Retrying" }), { workerId: "w", attempt: 1, runCount: 2 })
            const late = yield* Effect.either(s.setState(id, State.completed(1), { workerId: "w", attempt: 1 }))
            expect(Either.isLeft(late) && late.left._tag === "InvalidTransition" ? late.left.message : late).toContain(
              "is on its attempt 2, not 1"
            )
            expect((yield* s.getRun(id)).state.type).toBe("RUNNING")
            yield* s.setState(id, State.completed(2), { workerId: "w", attempt: 2 })
            expect((yield* s.getRun(id)).state.type).toBe("COMPLETED")
          })
        )
    )
  }
})

describe("a claim tried again through an outage, on PostgreSQL", () => {
  const started = Deferred.unsafeMake<void>(FiberId.none)
  let interrupted = 0
  const holds = Task.make("outage-holds", (_: number) =>
    Effect.zipRight(
      Deferred.succeed(started, undefined),
      Effect.onInterrupt(Effect.never, () =>
        Effect.sync(() => {
          interrupted++
        }))
    ))

  // The bug this catches: the worker timed the leases of a claim's runs from its first try, sent
  // before the outage; answered after it, the runs were judged unrenewed at once, started, and
  // stopped a moment later (a partial execution of a body that may not be idempotent).
  it.live.skipIf(!postgresAvailable)(
    "its run starts on a lease from the try that claimed it, and keeps running",
    () =>
      Effect.gen(function*() {
        const { proxy, store, url } = yield* postgresThroughProxy({ maxPollInterval: 60_000 })
        const direct = Context.get(yield* Layer.build(RunStore.postgres({ url })), RunStore.RunStore)
        proxy.cutOffNow()
        yield* Effect.forkScoped(
          TaskWorker.serve([holds], {
            workerId: "w",
            lease: "3 seconds",
            heartbeatInterval: "500 millis",
            shutdownGracePeriod: 0
          }).pipe(
            // Its heartbeats answer a second late: only the claim's own lease keeps the run at first.
            Effect.provideService(RunStore.RunStore, {
              ...store,
              heartbeat: (...args) => Effect.zipRight(Effect.sleep("1 second"), store.heartbeat(...args))
            })
          )
        )
        // The worker's first claim is sent into the outage and tried again; the run is made meanwhile.
        const future = yield* holds.delay(1).pipe(Effect.provideService(RunStore.RunStore, direct))
        while (proxy.refused() < 3) yield* Effect.sleep(50)
        yield* Effect.sleep(3_000)
        proxy.reconnect()
        yield* Deferred.await(started)
        // Longer than the worker's lease deadline (lease − a heartbeat) counted from the first try.
        yield* Effect.sleep(1_500)
        expect(interrupted).toBe(0)
        const run = yield* direct.getRun(future.taskRunId)
        expect([run.state.type, run.workerId, run.runCount]).toEqual(["RUNNING", "w", 1])
      }).pipe(Effect.scoped),
    20_000
  )
})

describe("recovery after an outage", () => {
  const idle = Task.make("outage-idle", (_: number) => Effect.void)

  // The bug this catches: a store that stays slow (every heartbeat longer than an interval) kept the
  // gate shut at every beat, and a dead worker's runs were never recovered.
  it.scoped("a store that stays slow delays recovery once, not for ever", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const id = uuid()
      yield* store.createRun(newRun(id, "outage-idle", State.scheduled()))
      // A worker that died holding the run.
      yield* store.claimRuns({ workerId: "dead", names: ["outage-idle"], limit: 1, lease: 30_000 })
      const slow: RunStore.Service = {
        ...store,
        heartbeat: (...args) => Effect.zipRight(Effect.sleep("1500 millis"), store.heartbeat(...args))
      }
      yield* Effect.forkScoped(
        TaskWorker.serve([idle], { workerId: "live", heartbeatInterval: "1 second" }).pipe(
          Effect.provideService(RunStore.RunStore, slow)
        )
      )
      yield* settle
      for (let i = 0; i < 45; i++) yield* TestClock.adjust("1 second")
      const history = (yield* store.getHistory(id)).map((state) => state.type)
      expect(history.slice(0, 4)).toEqual(["SCHEDULED", "PENDING", "RUNNING", "CRASHED"])
    }))
})

describe("the attempt fence and a cancel", () => {
  let calls = 0
  const retried = new Map<string, Deferred.Deferred<void>>()
  const failsThenWaits = Task.make(
    { name: "outage-fails-then-waits", retries: 2 },
    (key: string) =>
      Effect.suspend(() => {
        calls++
        return calls === 1 ? Effect.fail("first attempt fails") : Effect.zipRight(
          Deferred.succeed(retried.get(key)!, undefined),
          Effect.never
        )
      })
  )

  // The bug this catches: the worker fenced on attempt 2 as soon as it asked for it; a cancel that
  // overtook the retry refused attempt 2's Running, and the Cancelled write, fenced on the unwritten
  // attempt, was refused too: the run stayed Cancelling until its lease ended.
  it.scoped("a cancel that overtakes a retry ends the run Cancelled at once", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const key = uuid()
      calls = 0
      retried.set(key, yield* Deferred.make<void>())
      // The cancel lands between the failed attempt and the next one's Running.
      let cancelled = false
      let runId = ""
      const cancelsAtRetry: RunStore.Service = {
        ...store,
        // The worker hears of no cancel by push: only its heartbeat would tell it.
        unsafeSubscribeCancelling: () => () => {},
        setState: (id, state, options) =>
          Effect.suspend(() =>
            !cancelled && state.type === "SCHEDULED" && id === runId
              ? Effect.zipRight(
                store.setState(id, state, options),
                Effect.suspend(() => {
                  cancelled = true
                  return Effect.orDie(Effect.asVoid(store.cancelRun(id)))
                })
              )
              : store.setState(id, state, options)
          )
      }
      const future = yield* failsThenWaits.delay(key).pipe(Effect.provideService(RunStore.RunStore, store))
      runId = future.taskRunId
      yield* Effect.forkScoped(
        TaskWorker.serve([failsThenWaits], { workerId: "w", heartbeatInterval: "1 second" }).pipe(
          Effect.provideService(RunStore.RunStore, cancelsAtRetry)
        )
      )
      yield* settle
      for (let i = 0; i < 3 && !cancelled; i++) yield* TestClock.adjust("1 second")
      expect(cancelled).toBe(true)
      // The next heartbeat tells the worker; its Cancelled lands.
      yield* TestClock.adjust("2 seconds")
      const run = yield* store.getRun(future.taskRunId)
      expect(run.state.type).toBe("CANCELLED")
    }))
})

describe("a worker that starts as the store comes back", () => {
  const idle = Task.make("outage-idle-start", (_: number) => Effect.void)

  it.scoped("waits 2 s + a third of its lease before recovering expired leases", () =>
    Effect.gen(function*() {
      const store = RunStore.makeMemory()
      const id = uuid()
      yield* store.createRun(newRun(id, "outage-idle-start", State.scheduled()))
      yield* store.claimRuns({ workerId: "dead", names: ["outage-idle-start"], limit: 1, lease: 1_000 })
      yield* TestClock.adjust("2 seconds")
      yield* Effect.forkScoped(
        TaskWorker.serve([idle], { workerId: "new", lease: "30 seconds", heartbeatInterval: "1 second" }).pipe(
          Effect.provideService(RunStore.RunStore, store)
        )
      )
      yield* settle
      for (let i = 0; i < 11; i++) yield* TestClock.adjust("1 second")
      expect((yield* store.getRun(id)).state.type).toBe("RUNNING")
      for (let i = 0; i < 3; i++) yield* TestClock.adjust("1 second")
      expect((yield* store.getHistory(id)).map((state) => state.type).slice(0, 4)).toEqual([
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "CRASHED"
      ])
    }))
})
