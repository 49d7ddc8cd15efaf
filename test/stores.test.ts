import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Deferred, Effect, Either, Exit, Fiber, Layer, Schema } from "effect"
import { Errors, Futures, RunStore, State, Task } from "effect-taskflow"
import pg from "pg"
import { CLAIM_RUNS, WRITE_STATES_AND_CLAIM } from "../src/internal/sqlStatements.js"
import { makePrepared } from "../src/internal/sqlStore.js"
import { dropProxy, postgresThroughProxy } from "./support/dropProxy.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable, storeCases, withStore } from "./support/stores.js"

// One suite, every store: the memory store, SQLite and PostgreSQL must behave the same.

class Point extends Schema.Class<Point>("StorePoint")({ x: Schema.Number, y: Schema.Number }) {
  get norm() {
    return Math.hypot(this.x, this.y)
  }
}
class NotFound extends Schema.TaggedError<NotFound>()("StoreNotFound", { key: Schema.String }) {}

// Tasks registered by name, so the SQL stores encode their values with these Schemas.
Task.make(
  { name: "store-point", success: Point, failure: NotFound, parameters: Schema.Tuple(Point) },
  (p: Point) => Effect.succeed(p)
)
Task.make("store-plain", (n: number) => Effect.succeed(n))

const newRun = (id: string, name = "store-plain", state: State.State<unknown, unknown> = State.pending()) => ({
  id,
  kind: "task" as const,
  name,
  state
})
const uuid = () => crypto.randomUUID()

/**
 * `store`, completing `following` once a subscriber of `runId` is given a state that is not final:
 * the future that subscribed has seen the run unfinished and waits, so only a later change ends it.
 */
const tellingWhenFollowed = (
  store: RunStore.Service,
  runId: string,
  following: Deferred.Deferred<void>
): RunStore.Service => ({
  ...store,
  unsafeSubscribe: (id, onChange) =>
    store.unsafeSubscribe(id, (state) => {
      onChange(state)
      if (id === runId && !State.isFinal(state)) Deferred.unsafeDone(following, Exit.void)
    })
})

/** The clock of a machine whose time is `offset` ms off. */
const clockOff = (offset: number): Clock.Clock => {
  const real = Clock.make()
  const millis = () => real.unsafeCurrentTimeMillis() + offset
  const nanos = () => real.unsafeCurrentTimeNanos() + BigInt(offset) * 1_000_000n
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: millis,
    currentTimeMillis: Effect.sync(millis),
    unsafeCurrentTimeNanos: nanos,
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) => real.sleep(duration)
  }
}

for (const store of storeCases) {
  describe.skipIf(!store.available)(`RunStore: ${store.name}`, () => {
    it.live("keeps every run with its state history", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const id = uuid()
          yield* s.createRun({ ...newRun(id), parameters: [1], tags: ["t"], retries: 2 })
          yield* s.setState(id, State.running(), { runCount: 1 })
          yield* s.setState(id, State.completed(2))
          const run = yield* s.getRun(id)
          expect(run).toMatchObject({
            id,
            kind: "task",
            name: "store-plain",
            parameters: [1],
            tags: ["t"],
            runCount: 1,
            retries: 2
          })
          expect(run.state.type).toBe("COMPLETED")
          expect(State.isCompleted(run.state) && run.state.value).toBe(2)
          const history = yield* s.getHistory(id)
          expect(history.map((state) => state.type)).toEqual(["PENDING", "RUNNING", "COMPLETED"])
          // Every change is time-stamped, in order.
          expect(history.every((state, i) => i === 0 || state.timestamp >= history[i - 1].timestamp)).toBe(true)
          expect((yield* s.listRuns({ kind: "flow" })).length).toBe(0)
          expect((yield* s.listRuns({ name: "store-plain" })).map((r) => r.id)).toContain(id)
        })
      ))

    it.live("an unknown run id fails with RunNotFound", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const error = yield* Effect.flip(s.getRun("missing"))
          expect(error).toBeInstanceOf(Errors.RunNotFound)
          expect(error._tag === "RunNotFound" && error.runId).toBe("missing")
          expect((yield* Effect.flip(s.setState("missing", State.running())))._tag).toBe("RunNotFound")
          expect((yield* Effect.flip(s.getHistory("missing")))._tag).toBe("RunNotFound")
          expect((yield* Effect.flip(s.cancelRun("missing")))._tag).toBe("RunNotFound")
        })
      ))

    it.live("lists runs by state type, oldest or newest first, up to a limit; a bad limit is a defect", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const ids: Array<string> = []
          for (let i = 0; i < 5; i++) {
            const id = uuid()
            ids.push(id)
            yield* s.createRun(newRun(id, "store-plain", State.scheduled({ timestamp: new Date(1_000 + i) })))
            // Created in this order, a millisecond apart (the order runs are listed in).
            yield* Effect.sleep(2)
          }
          yield* s.setState(ids[1], State.completed(1))
          yield* s.setState(ids[3], State.failed(Cause.fail("no")))
          const listed = (filter: RunStore.RunFilter) => Effect.map(s.listRuns(filter), (runs) => runs.map((r) => r.id))
          expect(yield* listed({ name: "store-plain" })).toEqual(ids)
          expect(yield* listed({ order: "newest" })).toEqual([...ids].reverse())
          expect(yield* listed({ order: "newest", limit: 2 })).toEqual([ids[4], ids[3]])
          expect(yield* listed({ limit: 2 })).toEqual([ids[0], ids[1]])
          expect(yield* listed({ limit: 0 })).toEqual([])
          expect(yield* listed({ stateType: "SCHEDULED" })).toEqual([ids[0], ids[2], ids[4]])
          expect(yield* listed({ stateType: ["COMPLETED", "FAILED"], order: "newest" })).toEqual([ids[3], ids[1]])
          expect(yield* listed({ stateType: [] })).toEqual([])
          const [completed] = yield* s.listRuns({ stateType: "COMPLETED" })
          expect(State.isCompleted(completed.state) && completed.state.value).toBe(1)
          for (const limit of [-1, 1.5, Number.NaN]) {
            const exit = yield* Effect.exit(s.listRuns({ limit }))
            expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
            expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("limit must be a whole number")
          }
        })
      ))

    it.live("refuses moves out of a final state, and from Cancelling to anything but a final state", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const done = uuid()
          yield* s.createRun(newRun(done))
          yield* s.setState(done, State.completed(1))
          expect(yield* Effect.flip(s.setState(done, State.running()))).toBeInstanceOf(Errors.InvalidTransition)
          const cancelling = uuid()
          yield* s.createRun(newRun(cancelling))
          yield* s.setState(cancelling, State.cancelling())
          expect((yield* Effect.flip(s.setState(cancelling, State.running())))._tag).toBe("InvalidTransition")
          yield* s.setState(cancelling, State.cancelled())
          expect((yield* s.getRun(cancelling)).state.type).toBe("CANCELLED")
          expect((yield* s.getHistory(done)).length).toBe(2) // the refused move left no trace
        })
      ))

    it.live("results, parameters and typed failures keep their Schemas' types", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const ok = uuid()
          yield* s.createRun({ ...newRun(ok, "store-point"), parameters: [new Point({ x: 3, y: 4 })] })
          yield* s.setState(ok, State.completed(new Point({ x: 3, y: 4 })))
          const run = yield* s.getRun(ok)
          expect(run.parameters[0]).toBeInstanceOf(Point)
          expect(State.isCompleted(run.state) && (run.state.value as Point).norm).toBe(5)
          const failed = uuid()
          yield* s.createRun({ ...newRun(failed, "store-point"), parameters: [new Point({ x: 0, y: 0 })] })
          yield* s.setState(failed, State.failed(Cause.fail(new NotFound({ key: "k" }))))
          const future = yield* Futures.PrefectDistributedFuture.make<Point, NotFound>(failed)
          const error = yield* Effect.flip(future.result())
          expect(error).toBeInstanceOf(NotFound)
          expect(error._tag === "StoreNotFound" && error.key).toBe("k")
          // A defect without a Schema keeps its message and fields.
          const died = uuid()
          yield* s.createRun(newRun(died))
          yield* s.setState(died, State.crashed(Cause.die(new Errors.TaskTimeoutError({ message: "too slow" }))))
          const crashed = (yield* s.getRun(died)).state
          expect(State.isCrashed(crashed) && Cause.squash(crashed.cause)).toMatchObject({ message: "too slow" })
        })
      ))

    it.live("a run that kept no result: result() fails with MissingResult", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const id = uuid()
          yield* s.createRun(newRun(id))
          yield* s.setState(id, State.completedWithoutResult())
          const future = yield* Futures.PrefectDistributedFuture.make<number, never>(id)
          expect((yield* Effect.flip(future.result()))._tag).toBe("MissingResult")
        })
      ))

    it.live("a distributed future reads an unknown run as Pending and follows it to its end", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const id = uuid()
          const future = yield* Futures.PrefectDistributedFuture.make<number, never>(id)
          expect((yield* future.state).type).toBe("PENDING")
          const result = yield* Effect.fork(future.result())
          const calls: Array<string> = []
          yield* future.addDoneCallback((f) => {
            calls.push(`first ${f.taskRunId}`)
          })
          yield* future.addDoneCallback(() => {
            calls.push("second")
          })
          yield* Effect.sleep(20)
          yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
          yield* s.setState(id, State.running())
          yield* s.setState(id, State.completed(5))
          expect(yield* Fiber.join(result)).toBe(5)
          yield* Effect.sleep(10)
          expect(calls.sort()).toEqual([`first ${id}`, "second"])
        })
      ))

    it.live("claims each Scheduled run once, only for the names a worker serves", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const ids = Array.from({ length: 30 }, uuid)
          for (const id of ids) yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
          const other = uuid()
          yield* s.createRun(newRun(other, "store-not-served", State.scheduled()))
          const claims = yield* Effect.all(
            Array.from({ length: 4 }, (_, i) =>
              s.claimRuns({ workerId: `w${i}`, names: ["store-plain"], limit: 10, lease: 30_000 })),
            { concurrency: "unbounded" }
          )
          const claimed = claims.flat().map((run) =>
            run.id
          )
          expect(new Set(claimed).size).toBe(30)
          expect(claimed.length).toBe(30)
          expect(claims.flat().every((run) => Either.isRight(run.parameters))).toBe(true)
          const held = yield* s.getRun(ids[0])
          expect(held.state.type).toBe("RUNNING")
          expect(held.runCount).toBe(1)
          expect((yield* s.getHistory(ids[0])).map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING"])
          expect(held.workerId).toMatch(/^w\d$/)
          // A task no worker serves stays Scheduled, visible as such.
          expect((yield* s.getRun(other)).state.type).toBe("SCHEDULED")
          expect(yield* s.claimRuns({ workerId: "w9", names: ["store-plain"], limit: 10, lease: 30_000 })).toEqual([])
        })
      ))

    it.live("a claim sent with state changes: each lands, and a run moved in the same write is not claimed", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const held = uuid()
          yield* s.createRun(newRun(held, "store-plain", State.scheduled()))
          yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 1, lease: 30_000 })
          const waiting = Array.from({ length: 5 }, uuid)
          for (const id of waiting) yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
          const cancelled = uuid()
          yield* s.createRun(newRun(cancelled, "store-plain", State.scheduled()))
          const pacer = uuid()
          yield* s.createRun(newRun(pacer, "store-plain"))
          // Sent together (with the task name, so no read comes first): while the SQL stores write
          // the pacer's change, the others queue up, and go in one statement or transaction: the
          // held run's final state, a Scheduled run's cancel, and the worker's next claim.
          const [, , , claimed] = yield* Effect.all([
            s.setState(pacer, State.running(), { name: "store-plain" }),
            s.setState(held, State.completed(1), { workerId: "w1", name: "store-plain" }),
            s.setState(cancelled, State.cancelled(), { name: "store-plain" }),
            s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 10, lease: 30_000 })
          ], { concurrency: "unbounded" })
          const finished = yield* s.getRun(held)
          expect(State.isCompleted(finished.state) && finished.state.value).toBe(1)
          const claimedIds = claimed.map((run) => run.id)
          expect(claimedIds.filter((id) => id !== cancelled).sort()).toEqual([...waiting].sort())
          for (const id of waiting) {
            expect((yield* s.getHistory(id)).map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING"])
            expect((yield* s.getRun(id)).workerId).toBe("w1")
          }
          // Either order is right, but never both at once: cancelled before the claim saw it (not
          // claimed), or claimed first and then cancelled while running.
          expect((yield* s.getRun(cancelled)).state.type).toBe("CANCELLED")
          expect((yield* s.getHistory(cancelled)).map((state) => state.type)).toEqual(
            claimedIds.includes(cancelled)
              ? ["SCHEDULED", "PENDING", "RUNNING", "CANCELLED"]
              : ["SCHEDULED", "CANCELLED"]
          )
        })
      ))

    it.live("a run is written only by the worker holding it; heartbeats report cancels and lost runs", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const a = uuid()
          const b = uuid()
          yield* s.createRun(newRun(a, "store-plain", State.scheduled()))
          yield* s.createRun(newRun(b, "store-plain", State.scheduled()))
          yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 2, lease: 30_000 })
          expect((yield* Effect.flip(s.setState(a, State.running(), { workerId: "w2" })))._tag).toBe(
            "InvalidTransition"
          )
          yield* s.setState(a, State.running(), { workerId: "w1", runCount: 1 })
          expect((yield* s.cancelRun(a)).type).toBe("CANCELLING")
          const beat = yield* s.heartbeat("w1", [a, b, "gone"], 30_000)
          expect(beat.cancelling).toEqual([a])
          expect(beat.lost).toEqual(["gone"])
          yield* s.setState(a, State.cancelled(), { workerId: "w1" })
          expect((yield* s.getRun(a)).state.type).toBe("CANCELLED")
          // Cancelling a run no worker holds ends it at once.
          const c = uuid()
          yield* s.createRun(newRun(c, "store-plain", State.scheduled()))
          expect((yield* s.cancelRun(c)).type).toBe("CANCELLED")
          expect((yield* s.cancelRun(c)).type).toBe("CANCELLED") // a finished run is left as it is
          // Released runs are Scheduled again for another worker.
          yield* s.releaseRuns("w1", [b])
          expect((yield* s.getRun(b)).state.type).toBe("SCHEDULED")
          expect((yield* s.getRun(b)).workerId).toBeUndefined()
        })
      ))

    it.live("runs of a worker whose lease expired are retried where they have retries left, else Crashed", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const retried = uuid()
          const crashed = uuid()
          const cancelled = uuid()
          yield* s.createRun({ ...newRun(retried, "store-plain", State.scheduled()), retries: 1 })
          yield* s.createRun(newRun(crashed, "store-plain", State.scheduled()))
          yield* s.createRun(newRun(cancelled, "store-plain", State.scheduled()))
          yield* s.claimRuns({ workerId: "dead", names: ["store-plain"], limit: 3, lease: 1 })
          for (const id of [retried, crashed, cancelled]) {
            yield* s.setState(id, State.running(), { workerId: "dead", runCount: 1 })
          }
          yield* s.cancelRun(cancelled)
          yield* Effect.sleep(5)
          const recovered = yield* s.recoverExpired()
          expect([...recovered].sort()).toEqual([retried, crashed, cancelled].sort())
          expect(yield* s.recoverExpired()).toEqual([])
          const again = (yield* s.getRun(retried)).state
          expect([again.type, again.name]).toEqual(["SCHEDULED", "AwaitingRetry"])
          expect((yield* s.getRun(crashed)).state.type).toBe("CRASHED")
          expect((yield* s.getRun(cancelled)).state.type).toBe("CANCELLED")
          const future = yield* Futures.PrefectDistributedFuture.make<number, never>(crashed)
          expect((yield* Effect.flip(future.result()))._tag).toBe("CrashedRun")
        })
      ))
  })
}

describe.each(storeCases.filter((store) => store.name !== "memory" && store.available))("SQL store: $name", (store) => {
  // Workers on other machines have clocks minutes apart. Leases timed by them went wrong both ways:
  // a worker whose clock ran behind had its runs recovered (and run again) while it still ran them;
  // one whose clock ran ahead, once dead, kept its runs held for as long as it was ahead.
  it.live("leases are timed by the store's clock, not by the clocks of the workers' machines", () =>
    Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const tenMinutes = 10 * 60_000
      const held = uuid()
      yield* s.createRun(newRun(held, "store-plain", State.scheduled()))
      const onClockBehind = Effect.withClock(clockOff(-tenMinutes))
      const [claimed] = yield* onClockBehind(
        s.claimRuns({ workerId: "behind", names: ["store-plain"], limit: 1, lease: 30_000 })
      )
      expect(claimed?.id).toBe(held)
      const dead = uuid()
      yield* s.createRun(newRun(dead, "store-plain", State.scheduled()))
      yield* s.claimRuns({ workerId: "ahead", names: ["store-plain"], limit: 1, lease: 1 }).pipe(
        Effect.withClock(clockOff(tenMinutes))
      )
      yield* Effect.sleep(20)
      // Only the lease that really expired is recovered, by a worker whose clock is right.
      expect(yield* s.recoverExpired()).toEqual([dead])
      expect((yield* s.getRun(dead)).state.type).toBe("CRASHED")
      const beat = yield* onClockBehind(s.heartbeat("behind", [held], 30_000))
      expect(beat).toEqual({ cancelling: [], lost: [] })
      const leaseLeft = (yield* s.getRun(held)).leaseExpiresAt!.getTime() - Date.now()
      expect(leaseLeft).toBeGreaterThan(20_000)
      expect(leaseLeft).toBeLessThanOrEqual(30_000)
      expect((yield* s.getRun(held)).state.type).toBe("RUNNING")
    }).pipe(Effect.provide(store.fresh())))

  it.live("a result that does not decode with its Schema fails with an error naming the run and the Schema", () =>
    Effect.gen(function*() {
      const name = `store-decode-${store.name}`
      const id = uuid()
      const s = yield* RunStore.RunStore
      yield* s.createRun(newRun(id, name))
      // Written before the task (and its Schema) exists in this process: stored as JSON.
      yield* s.setState(id, State.completed("not a number"))
      Task.make({ name, success: Schema.Number }, () => Effect.succeed(1))
      const error = yield* Effect.flip(s.getRun(id))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain(id)
      expect(error.message).toContain("success Schema number")
      const future = yield* Futures.PrefectDistributedFuture.make<number, never>(id)
      const exit = yield* Effect.exit(future.result())
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("does not decode")
    }).pipe(Effect.provide(store.fresh())))

  it.live("a result its Schema rejects: the run is Failed with the reason, for subscribers here and readers elsewhere", () =>
    Effect.gen(function*() {
      const name = `store-reject-${store.name}`
      Task.make({ name, success: Schema.Number }, () => Effect.succeed(1))
      const layer = store.fresh()
      const here = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const elsewhere = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const id = uuid()
      yield* here.createRun(newRun(id, name))
      const seen: Array<State.State<unknown, unknown>> = []
      here.unsafeSubscribe(id, (state) => seen.push(state))
      yield* here.setState(id, State.completed("not a number"))
      const stored = yield* elsewhere.getRun(id)
      expect(stored.state.type).toBe("FAILED")
      expect(stored.state.message).toBeUndefined()
      expect(Cause.pretty((stored.state as State.Failed<unknown>).cause)).toContain("cannot be encoded")
      // What this process's subscribers are told is what the store keeps.
      expect(seen.at(-1)?.type).toBe("FAILED")
    }).pipe(Effect.scoped))

  // A batch whose runs differ only in ids and parameters (a mapDelay's) is written by another
  // statement than a mixed one: both must store the same run.
  it.live("runs created in a batch of alike runs are stored as the same run created alone", () =>
    Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const state = State.scheduled({ message: "queued" })
      const made = (id: string, n: number): RunStore.NewRun => ({
        id,
        kind: "task",
        name: "store-plain",
        flowRunId: "flow-1",
        parentTaskRunId: "parent-1",
        parameters: [n, { nested: [n] }],
        tags: ["a", "b"],
        retries: 2,
        state
      })
      const batch = [uuid(), uuid(), uuid()]
      const alone = uuid()
      yield* s.createRuns(batch.map((id, i) => made(id, i)))
      yield* s.createRun(made(alone, 2))
      const expected = { ...(yield* s.getRun(alone)), id: batch[2] }
      expect(yield* s.getRun(batch[2])).toEqual(expected)
      const first = yield* s.getRun(batch[0])
      expect(first.parameters).toEqual([0, { nested: [0] }])
      expect(yield* s.getHistory(batch[1])).toEqual(yield* s.getHistory(alone))
    }).pipe(Effect.provide(store.fresh())))

  it.live("parameters that cannot be encoded fail createRun with SerializationError, and nothing is written", () =>
    Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const id = uuid()
      const error = yield* Effect.flip(s.createRun({ ...newRun(id, "store-point"), parameters: ["not a point"] }))
      expect(error._tag).toBe("SerializationError")
      expect((yield* Effect.flip(s.getRun(id)))._tag).toBe("RunNotFound")
    }).pipe(Effect.provide(store.fresh())))

  // A run this process created needs no read when it is followed later: its final state arrives in
  // the notification (PostgreSQL) or by the change poll (SQLite), even before anyone follows it.
  it.live("runs created here and finished elsewhere before anyone follows them: each future gets its final state", () =>
    Effect.gen(function*() {
      const layer = store.fresh()
      const here = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const elsewhere = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const [small, failed, large] = [uuid(), uuid(), uuid()]
      // Too large for a PostgreSQL notification (8,000 bytes): that one is read from the store.
      const big = "x".repeat(20_000)
      yield* here.createRuns([
        { ...newRun(small, "store-point", State.scheduled()), parameters: [new Point({ x: 0, y: 0 })] },
        { ...newRun(failed, "store-point", State.scheduled()), parameters: [new Point({ x: 0, y: 0 })] },
        newRun(large, "store-plain", State.scheduled())
      ])
      const claimed = yield* elsewhere.claimRuns({
        workerId: "w",
        names: ["store-point", "store-plain"],
        limit: 3,
        lease: 30_000
      })
      expect(claimed.length).toBe(3)
      yield* elsewhere.setState(small, State.completed(new Point({ x: 3, y: 4 })), { workerId: "w" })
      yield* elsewhere.setState(failed, State.failed(Cause.fail(new NotFound({ key: "k" }))), { workerId: "w" })
      yield* elsewhere.setState(large, State.completed(big), { workerId: "w" })
      // Heard while nobody follows them yet.
      yield* Effect.sleep(150)
      const follow = <A, E>(id: string) =>
        Effect.flatMap(Futures.PrefectDistributedFuture.make<A, E>(id), (future) => future.result())
      const point = yield* follow<Point, never>(small).pipe(Effect.provideService(RunStore.RunStore, here))
      expect(point).toBeInstanceOf(Point)
      expect(point.norm).toBe(5)
      const error = yield* Effect.flip(
        follow<never, NotFound>(failed).pipe(Effect.provideService(RunStore.RunStore, here))
      )
      expect(error).toEqual(new NotFound({ key: "k" }))
      expect(yield* follow<string, never>(large).pipe(Effect.provideService(RunStore.RunStore, here))).toBe(big)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  // The bug this would catch: PostgreSQL refuses a notification of 8,000 bytes or more, and one
  // refused notification fails the whole batch of state changes it belongs to.
  it.live("a batch of final states larger than one notification is written whole and heard", () =>
    Effect.gen(function*() {
      const layer = store.fresh()
      const here = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const elsewhere = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const ids = Array.from({ length: 40 }, () => uuid())
      // About 60,000 bytes of notices in all; half of them in two-byte UTF-8 characters.
      const resultOf = (i: number) => (i % 2 === 0 ? "x" : "é").repeat(1_500) + i
      yield* here.createRuns(ids.map((id) => newRun(id, "store-plain", State.scheduled())))
      const claimed = yield* elsewhere.claimRuns({ workerId: "w", names: ["store-plain"], limit: 40, lease: 30_000 })
      expect(claimed.length).toBe(40)
      // At once, so they are written together.
      yield* Effect.forEach(
        ids,
        (id, i) => elsewhere.setState(id, State.completed(resultOf(i)), { workerId: "w", name: "store-plain" }),
        { concurrency: "unbounded", discard: true }
      )
      const results = yield* Effect.forEach(
        ids,
        (id) =>
          Effect.flatMap(Futures.PrefectDistributedFuture.make<string, never>(id), (future) => future.result()).pipe(
            Effect.provideService(RunStore.RunStore, here)
          )
      )
      expect(results).toEqual(ids.map((_, i) => resultOf(i)))
    }).pipe(Effect.scoped, Effect.timeout("10 seconds")))

  // The bug this would catch: subscribers are called from the store's writer fiber; one that threw
  // ended that fiber, and every later write in the process waited forever.
  it.live("a subscriber that throws stops no later write", () =>
    Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const [first, second] = [uuid(), uuid()]
      yield* s.createRuns([
        newRun(first, "store-plain", State.scheduled()),
        newRun(second, "store-plain", State.scheduled())
      ])
      const seen: Array<string> = []
      s.unsafeSubscribe(first, (state) => {
        seen.push(state.type)
        if (state.type === "RUNNING") throw new Error("a subscriber's own bug")
      })
      yield* s.setState(first, State.running())
      yield* s.setState(second, State.running())
      yield* s.setState(first, State.completed(1))
      expect((yield* s.getRun(second)).state.type).toBe("RUNNING")
      expect((yield* s.getRun(first)).state.type).toBe("COMPLETED")
      expect(seen).toContain("RUNNING")
    }).pipe(Effect.provide(store.fresh()), Effect.timeout("10 seconds")))

  it.live("a change made by another process (no notification) is found by polling", () =>
    Effect.gen(function*() {
      // Two layers over one database stand for two processes; only polling connects them.
      const layer = store.fresh()
      const id = uuid()
      const first = yield* Layer.build(layer)
      const s1 = yield* Effect.provide(RunStore.RunStore, first)
      yield* s1.createRun(newRun(id, "store-plain", State.scheduled()))
      // The futures wait on s1, and the change is made once they have seen their run unfinished.
      const following = yield* Deferred.make<void>()
      const future = yield* Futures.PrefectDistributedFuture.make<number, never>(id).pipe(
        Effect.provideService(RunStore.RunStore, tellingWhenFollowed(s1, id, following))
      )
      const waiting = yield* Effect.fork(future.result())
      yield* Deferred.await(following)
      const second = yield* Layer.build(layer)
      const s2 = yield* Effect.provide(RunStore.RunStore, second)
      yield* s2.setState(id, State.completed(7))
      expect(yield* Fiber.join(waiting)).toBe(7)
      // A result too large to travel with the change (SQLite's poll carries small ones) is read.
      const large = uuid()
      const big = "y".repeat(10_000)
      yield* s1.createRun(newRun(large, "store-plain", State.scheduled()))
      const followingLarge = yield* Deferred.make<void>()
      const followed = yield* Futures.PrefectDistributedFuture.make<string, never>(large).pipe(
        Effect.provideService(RunStore.RunStore, tellingWhenFollowed(s1, large, followingLarge))
      )
      const waitingLarge = yield* Effect.fork(followed.result())
      yield* Deferred.await(followingLarge)
      yield* s2.setState(large, State.completed(big))
      expect(yield* Fiber.join(waitingLarge)).toBe(big)
    }).pipe(Effect.scoped))

  // The gap this closes: on SQLite a task worker learned of a cancel asked in another process only
  // at its next heartbeat (NOTIFY pushes it on PostgreSQL).
  it.live("a cancel asked in another process is pushed to this process's cancel subscribers", () =>
    Effect.gen(function*() {
      // Two layers over one database stand for two processes. Polling every minute at most: only a
      // push (NOTIFY, or SQLite's look after a change of its file) can be in time.
      const layer = store.name === "sqlite"
        ? RunStore.sqlite({ filename: freshSqliteFile(), maxPollInterval: 60_000 })
        : RunStore.postgres({ url: freshPostgresUrl(), maxPollInterval: 60_000 })
      const s1 = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      const heard = yield* Deferred.make<string>()
      s1.unsafeSubscribeCancelling((runId) => Deferred.unsafeDone(heard, Exit.succeed(runId)))
      const id = uuid()
      yield* s1.createRun(newRun(id, "store-plain", State.scheduled()))
      yield* s1.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 1, lease: 3_600_000 })
      const s2 = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
      expect((yield* s2.cancelRun(id)).type).toBe("CANCELLING")
      expect(yield* Deferred.await(heard).pipe(Effect.timeout("10 seconds"))).toBe(id)
    }).pipe(Effect.scoped))
})

describe.skipIf(!postgresAvailable)("PostgreSQL store", () => {
  // The gap this closes: a batch cut off half-way (its first statements committed, then the store out
  // of reach for good) failed saying nothing of the runs it had created, which run with no future.
  it.live("a batch cut off half-way: its error says how many of its runs were created, and those exist", () =>
    Effect.gen(function*() {
      const { proxy, store: cut, url } = yield* postgresThroughProxy({ reconnectFor: "1 second" })
      // The answer to the batch's first statement (500 runs) gets through; then nothing does.
      proxy.cutOffAfter("notified")
      const runs = Array.from({ length: 1200 }, () => newRun(uuid(), "store-plain", State.scheduled()))
      const error = yield* Effect.flip(cut.createRuns(runs))
      expect(error._tag).toBe("RunStoreError")
      expect(error.message).toContain("The batch's first 500 of 1200 runs were created before that")
      const direct = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(RunStore.postgres({ url })))
      const listed = yield* direct.listRuns({ name: "store-plain" })
      expect(listed.map((run) => run.id).sort()).toEqual(runs.slice(0, 500).map((run) => run.id).sort())
    }).pipe(Effect.scoped))

  // The bug this catches: a run was only known to its creator once the create's answer was read. A
  // worker in another process could claim and finish it before that (a `mapDelay` of 10,000 runs
  // sends 20 statements, one after the other): its final state, heard first, was dropped, and its
  // future waited for the polling fallback. It cost a quarter of a second of every bench pass.
  // The gap this closes: a store was ready before its LISTEN session was up. What other processes did
  // meanwhile went unheard: a cancel asked then was not pushed, and the runs of a `mapDelay` sent at
  // once were read back when followed.
  it.live("a store hears other processes as soon as its layer is built", () =>
    Effect.gen(function*() {
      const url = freshPostgresUrl()
      const other = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(RunStore.postgres({ url })))
      const id = uuid()
      yield* other.createRun(newRun(id, "store-plain", State.scheduled()))
      yield* other.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 1, lease: 3_600_000 })
      // Each of this store's connections is slow to open, its LISTEN session's too, which opens last.
      const proxy = yield* dropProxy(url)
      proxy.connectNewAfter(300)
      const store = yield* Effect.provide(
        RunStore.RunStore,
        yield* Layer.build(RunStore.postgres({ url: proxy.urlThrough(url), maxPollInterval: 60_000 }))
      )
      const heard = yield* Deferred.make<string>()
      store.unsafeSubscribeCancelling((runId) => Deferred.unsafeDone(heard, Exit.succeed(runId)))
      expect((yield* other.cancelRun(id)).type).toBe("CANCELLING")
      expect(yield* Deferred.await(heard).pipe(Effect.timeout("5 seconds"))).toBe(id)
    }).pipe(Effect.scoped))

  it.live("a run that ends before its create's answer is read is followed without polling", () =>
    Effect.gen(function*() {
      // Polling at most every minute: only the final-state notification can end the wait in time.
      const { proxy, store: creator, url } = yield* postgresThroughProxy({ maxPollInterval: 60_000 })
      const worker = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(RunStore.postgres({ url })))
      // The creator hears notifications in commit order: once it hears of a cancel the worker asks
      // for, it has heard all the worker did before.
      const cancelHeard = Effect.gen(function*() {
        const marker = uuid()
        const heard = yield* Deferred.make<void>()
        const unsubscribe = creator.unsafeSubscribeCancelling((runId) => {
          if (runId === marker) Deferred.unsafeDone(heard, Exit.void)
        })
        yield* worker.createRun(newRun(marker, "store-marker", State.scheduled()))
        yield* worker.claimRuns({ workerId: "w", names: ["store-marker"], limit: 1, lease: 30_000 })
        yield* worker.cancelRun(marker)
        yield* Deferred.await(heard).pipe(Effect.timeout("1 second"), Effect.ensuring(Effect.sync(unsubscribe)))
      })
      // Its LISTEN session is up once it hears one (it connects in the background).
      yield* Effect.retry(cancelHeard, { times: 10 })

      // The create's answer is held back; the run commits, and the worker claims and finishes it.
      const passAnswer = proxy.holdNext("notified")
      const id = uuid()
      const creating = yield* Effect.fork(creator.createRun(newRun(id, "store-plain", State.scheduled())))
      const claimed = yield* worker.claimRuns({ workerId: "w", names: ["store-plain"], limit: 1, lease: 30_000 }).pipe(
        Effect.repeat({ until: (runs) => runs.length === 1 }),
        Effect.timeout("10 seconds")
      )
      expect(claimed.map((run) => run.id)).toEqual([id])
      yield* worker.setState(id, State.completed(5), { workerId: "w" })
      // The creator has heard the final state, before the create's answer.
      yield* cancelHeard

      passAnswer()
      yield* Fiber.join(creating)
      const completed = yield* Deferred.make<State.State<unknown, unknown>>()
      creator.unsafeSubscribe(id, (state) => {
        if (State.isFinal(state)) Deferred.unsafeDone(completed, Exit.succeed(state))
      })
      const state = yield* Deferred.await(completed).pipe(Effect.timeout("10 seconds"))
      expect(state).toMatchObject({ type: "COMPLETED", value: 5 })
    }).pipe(Effect.scoped))

  // The bug this catches: two worker processes started at once on a new schema raced to create
  // the migrations table; the loser's CREATE TABLE IF NOT EXISTS failed and the process exited.
  it.live("stores opened at once on a new schema all migrate it", () => {
    const layer = RunStore.postgres({ url: freshPostgresUrl(), maxConnections: 2 })
    return Effect.gen(function*() {
      const stores = yield* Effect.forEach(
        Array.from({ length: 6 }, () => layer),
        (store) => Effect.flatMap(Layer.build(store), (context) => Effect.provide(RunStore.RunStore, context)),
        { concurrency: "unbounded" }
      )
      const id = uuid()
      yield* stores[0].createRun(newRun(id))
      for (const s of stores) expect((yield* s.getRun(id)).id).toBe(id)
    }).pipe(Effect.scoped)
  })

  /** A plan from `EXPLAIN (FORMAT JSON)`: the kinds of its nodes, and of those that read taskflow_runs. */
  const planNodes = (explained: pg.QueryResult) => {
    const nodes: Array<string> = []
    const readsRuns: Array<string> = []
    const walk = (node: { "Node Type": string; "Relation Name"?: string; Plans?: Array<never> }) => {
      nodes.push(node["Node Type"])
      if (node["Relation Name"] === "taskflow_runs" && node["Node Type"] !== "ModifyTable") {
        readsRuns.push(node["Node Type"])
      }
      for (const child of node.Plans ?? []) walk(child)
    }
    walk(explained.rows[0]["QUERY PLAN"][0].Plan)
    return { nodes, readsRuns }
  }

  /** A worker's final states of `runIds`: one array per column of WRITE_STATES, in its order. */
  const finalStates = (runIds: ReadonlyArray<string>) => {
    const values = (
      id: string
    ) => [id, "COMPLETED", "Completed", null, Date.now(), null, "1", null, "w1", false, null, true, true, null, 0]
    return values("").map((_, column) => runIds.map((id) => values(id)[column]))
  }

  // The bug this catches: a claim updated its picked runs by `id IN (…)`. Once ANALYZE (which
  // autovacuum runs; this machine's server has autovacuum off) had seen a table of mostly Scheduled
  // runs, the planner chose a hash semi join over a sequential scan of the whole table, for every
  // claim. A claim now updates its runs by position (a TID scan), whatever the statistics say.
  it.live("a claim never scans the whole table, whatever the planner's statistics say", () => {
    const url = freshPostgresUrl()
    return Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const ids = Array.from({ length: 10_000 }, () => uuid())
      yield* s.createRuns(ids.map((id) => newRun(id, "store-plain", State.scheduled())))
      const client = new pg.Client(url)
      yield* Effect.acquireRelease(Effect.promise(() => client.connect()), () => Effect.promise(() => client.end()))
      yield* Effect.promise(() => client.query("ANALYZE taskflow_runs"))
      /** The plan nodes that read taskflow_runs whole, in the plan of `text` with `values`. */
      const wholeScans = (text: string, values: ReadonlyArray<unknown>) =>
        Effect.promise(() => client.query(`EXPLAIN (FORMAT JSON) ${text}`, [...values])).pipe(
          Effect.map((explained) => planNodes(explained).readsRuns.filter((kind) => /Seq Scan|Bitmap/.test(kind)))
        )
      const claim = [["store-plain"], 50, Date.now(), "w1", 30_000]
      expect(yield* wholeScans(CLAIM_RUNS, claim)).toEqual([])
      // A busy worker's claim rides with its runs' final states.
      const moves = finalStates([ids[0]!])
      expect(yield* wholeScans(WRITE_STATES_AND_CLAIM, [...moves, ...claim])).toEqual([])
      // And the claim still takes its runs, each once.
      const claimed = yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 50, lease: 30_000 })
      const created = new Set<string>(ids)
      expect(new Set(claimed.map((run) => run.id)).size).toBe(50)
      expect(claimed.every((run) => created.has(run.id) && run.state.type === "RUNNING")).toBe(true)
    }).pipe(Effect.provide(RunStore.postgres({ url })), Effect.scoped)
  })

  /**
   * The store's runner of its hot statements (`makePrepared`) on a pool of one connection, the
   * settings that connection refused, and queries on it between the runner's statements.
   */
  const oneConnection = (url: string, settings?: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const pool = new pg.Pool({ connectionString: url, max: 1 })
      yield* Effect.addFinalizer(() => Effect.promise(() => pool.end()))
      const refused: Array<Error> = []
      const prepared = makePrepared(pool, (error) => refused.push(error), settings)
      const onConnection = <A>(use: (client: pg.PoolClient) => Promise<A>) =>
        Effect.promise(async () => {
          const client = await pool.connect()
          try {
            return await use(client)
          } finally {
            client.release()
          }
        })
      const setting = (name: string) =>
        onConnection((client) => client.query(`SHOW ${name}`).then((result) => result.rows[0][name]))
      return { prepared, refused, onConnection, setting }
    })

  // The bug this catches: PostgreSQL moves a prepared statement to a generic plan after five
  // executions, planned on the table as it was then and kept. A worker's connections planned on a
  // new store's nearly empty table, and each write-and-claim then read every run of the table (a
  // hash join over a sequential scan) and every Scheduled one, however large the table grew.
  it.live("a hot statement planned on a small table reads only its own runs once the table has grown", () => {
    const url = freshPostgresUrl()
    return Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const { onConnection, prepared, refused, setting } = yield* oneConnection(url)

      const claim = (limit: number) => [["store-plain"], limit, Date.now(), "w1", 30_000]

      // Six rounds of a worker's statements on a table of five runs: PostgreSQL's default plans the
      // seventh from a cached generic plan.
      yield* s.createRuns(Array.from({ length: 5 }, () => newRun(uuid(), "store-plain", State.scheduled())))
      let held: ReadonlyArray<string> = []
      for (let round = 0; round < 6; round++) {
        const written = yield* prepared<{ claimed: Array<{ id: string }> | null }>(
          "plan_write_and_claim",
          WRITE_STATES_AND_CLAIM,
          [...finalStates(held), ...claim(1)]
        )
        held = (written[0]!.claimed ?? []).map((row) => row.id)
        yield* prepared("plan_claim", CLAIM_RUNS, claim(0))
      }
      // The connection keeps the settings the first statement sent.
      expect(refused).toEqual([])
      expect(yield* setting("plan_cache_mode")).toBe("force_generic_plan")
      expect(yield* setting("enable_seqscan")).toBe("off")

      const ids = Array.from({ length: 10_000 }, () => uuid())
      yield* s.createRuns(ids.map((id) => newRun(id, "store-plain", State.scheduled())))
      /** The plan that EXECUTE `name` with `values` runs now: the kinds of its nodes, and those that read taskflow_runs. */
      const planOf = (name: string, values: ReadonlyArray<unknown>) =>
        Effect.gen(function*() {
          const explained = yield* onConnection((client) => {
            const literal = (value: unknown): string =>
              Array.isArray(value)
                ? client.escapeLiteral(
                  `{${value.map((v) => v === null ? "NULL" : JSON.stringify(String(v))).join(",")}}`
                )
                : value === null
                ? "NULL"
                : client.escapeLiteral(String(value))
            return client.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${values.map(literal).join(", ")})`)
          })
          return planNodes(explained)
        })

      const writeAndClaim = yield* planOf("plan_write_and_claim", [...finalStates([ids[0]!]), ...claim(50)])
      expect(writeAndClaim.nodes).not.toContain("Hash Join")
      expect(writeAndClaim.nodes).not.toContain("Merge Join")
      // The final states' runs by their key, the claimed ones by position, the Scheduled ones by the
      // index of the task's name, oldest first.
      expect([...new Set(writeAndClaim.readsRuns)].sort()).toEqual(["Index Scan", "Tid Scan"])
      const claimOnly = yield* planOf("plan_claim", claim(50))
      expect([...new Set(claimOnly.readsRuns)].sort()).toEqual(["Index Scan", "Tid Scan"])

      // And the cached statements still do their work: the claim takes the oldest runs, each once.
      const claimed = yield* prepared<{ claimed: Array<{ id: string; state_type: string }> }>(
        "plan_claim",
        CLAIM_RUNS,
        claim(50)
      )
      const claimedRows = claimed[0]!.claimed
      const created = new Set<string>(ids)
      expect(new Set(claimedRows.map((row) => row.id)).size).toBe(50)
      expect(claimedRows.every((row) => row.state_type === "RUNNING" && created.has(row.id))).toBe(true)
    }).pipe(Effect.provide(RunStore.postgres({ url })), Effect.scoped)
  })

  // A server older than PostgreSQL 12 refuses `plan_cache_mode`: the statements must still run, with
  // the settings it took.
  it.live("a planner setting the server refuses is reported, and the statements still run with the others", () => {
    const url = freshPostgresUrl()
    return Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const { prepared, refused, setting } = yield* oneConnection(url, [
        "SET enable_seqscan = off",
        "SET taskflow_no_such_setting_value = off_by_one",
        "SET enable_hashjoin = off"
      ])
      const id = uuid()
      yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
      const claim = [["store-plain"], 1, Date.now(), "w1", 30_000]
      const first = yield* prepared<{ claimed: Array<{ id: string }> }>("refused_claim", CLAIM_RUNS, claim)
      expect(first[0]!.claimed.map((row) => row.id)).toEqual([id])
      // Sent once: the connection's next statement does not send them again.
      yield* prepared("refused_claim", CLAIM_RUNS, claim)
      expect(refused).toHaveLength(1)
      expect(refused[0]!.message).toContain("taskflow_no_such_setting_value")
      expect(yield* setting("enable_seqscan")).toBe("off")
      expect(yield* setting("enable_hashjoin")).toBe("off")
    }).pipe(Effect.provide(RunStore.postgres({ url })), Effect.scoped)
  })

  // The bug this catches: a heartbeat's UPDATE and the worker's group-committed final write locked
  // the same rows in different orders; PostgreSQL aborted one as a deadlock and a finished run ended
  // Crashed when its lease expired.
  it.live("a heartbeat neither waits on a run whose state is being written nor reports it lost", () => {
    const url = freshPostgresUrl()
    return Effect.gen(function*() {
      const s = yield* RunStore.RunStore
      const id = uuid()
      yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
      yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 1, lease: 30_000 })
      // Another statement holds the row, as the worker's own final write does while it commits.
      const other = new pg.Client(url)
      yield* Effect.promise(() => other.connect())
      yield* Effect.promise(() => other.query("BEGIN"))
      yield* Effect.promise(() => other.query("UPDATE taskflow_runs SET state_message = 'busy' WHERE id = $1", [id]))
      const beat = yield* s.heartbeat("w1", [id], 30_000).pipe(Effect.timeout("5 seconds"))
      expect(beat).toEqual({ cancelling: [], lost: [] })
      yield* Effect.promise(() => other.query("ROLLBACK").then(() => other.end()))
      // Once the row is free, the lease is renewed as usual.
      const renewed = yield* s.heartbeat("w1", [id], 60_000)
      expect(renewed).toEqual({ cancelling: [], lost: [] })
      expect((yield* s.getRun(id)).leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 45_000)
    }).pipe(Effect.provide(RunStore.postgres({ url })))
  })
})
