/**
 * What the SQL stores (SQLite and PostgreSQL) have beyond the suite every store runs: a database
 * several processes share (two layers over one database stand for two processes), the store's clock,
 * values encoded with their Schemas, batches, notifications and polling.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Deferred, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { Futures, RunStore, State, Task } from "effect-taskflow"
import { newRun, NotFound, Point, uuid } from "../support/storeRuns.js"
import { freshPostgresUrl, freshSqliteFile, storeCases } from "../support/stores.js"

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

  it.live("a result heard before its task's Schema is registered is decoded with that Schema when followed", () =>
    Effect.gen(function*() {
      const name = `store-decode-late-${store.name}`
      const early = uuid()
      const marker = uuid()
      const s = yield* RunStore.RunStore
      yield* s.createRuns([newRun(early, name), newRun(marker)])
      yield* s.setState(early, State.completed("not a number"))
      yield* s.setState(marker, State.completed(1))
      // The marker's end is heard after the early run's (one notification line, or one change poll,
      // after the other): once the marker's future ends, the early run's state has been heard too.
      yield* (yield* Futures.PrefectDistributedFuture.make<number, never>(marker)).result()
      Task.make({ name, success: Schema.Number }, () => Effect.succeed(1))
      const future = yield* Futures.PrefectDistributedFuture.make<number, never>(early)
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
