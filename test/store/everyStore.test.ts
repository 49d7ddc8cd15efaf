/**
 * One suite, every store: the memory store, SQLite and PostgreSQL must behave the same (history,
 * not-found, transitions, values and their Schemas, claims, leases). What only the SQL stores have is
 * in sqlStores.test.ts, what only PostgreSQL has in postgres.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Either, Exit, Fiber } from "effect"
import { Errors, Futures, RunStore, State } from "effect-taskflow"
import { newRun, NotFound, Point, uuid } from "../support/storeRuns.js"
import { storeCases, withStore } from "../support/stores.js"

/** `store`, completing `subscribed` once a subscription to `runId` is in place. */
const tellingWhenSubscribed = (
  store: RunStore.Service,
  runId: string,
  subscribed: Deferred.Deferred<void>
): RunStore.Service => ({
  ...store,
  unsafeSubscribe: (id, onChange) => {
    const unsubscribe = store.unsafeSubscribe(id, onChange)
    if (id === runId) Deferred.unsafeDone(subscribed, Exit.void)
    return unsubscribe
  }
})

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
          const subscribed = yield* Deferred.make<void>()
          const future = yield* Futures.PrefectDistributedFuture.make<number, never>(id).pipe(
            Effect.provideService(RunStore.RunStore, tellingWhenSubscribed(s, id, subscribed))
          )
          expect((yield* future.state).type).toBe("PENDING")
          const result = yield* Effect.fork(future.result())
          // The run is created once the waiting `result` listens for it.
          yield* Deferred.await(subscribed)
          const calls: Array<string> = []
          const bothCalled = yield* Deferred.make<void>()
          const called = (call: string) => {
            calls.push(call)
            if (calls.length === 2) Deferred.unsafeDone(bothCalled, Exit.void)
          }
          yield* future.addDoneCallback((f) => {
            called(`first ${f.taskRunId}`)
          })
          yield* future.addDoneCallback(() => {
            called("second")
          })
          yield* s.createRun(newRun(id, "store-plain", State.scheduled()))
          yield* s.setState(id, State.running())
          yield* s.setState(id, State.completed(5))
          expect(yield* Fiber.join(result)).toBe(5)
          yield* Deferred.await(bothCalled).pipe(Effect.timeout("10 seconds"))
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

    it.live("a claim hands back each run's trace context and when it was Scheduled; a bad traceparent is refused", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
          const [child, linked, plain, alike1, alike2] = Array.from({ length: 5 }, uuid)
          const scheduledAt = new Date(Date.now() - 90_000)
          yield* s.createRun({
            ...newRun(child, "store-plain", State.scheduled({ timestamp: scheduledAt })),
            traceContext: { traceparent, join: "parent" }
          })
          yield* s.createRun({
            ...newRun(linked, "store-plain", State.scheduled()),
            traceContext: { traceparent, join: "link" }
          })
          yield* s.createRun(newRun(plain, "store-plain", State.scheduled()))
          // The runs of a mapDelay: one batch, one context.
          const shared = { traceparent, join: "link" } as const
          yield* s.createRuns([alike1, alike2].map((id) => ({
            ...newRun(id, "store-plain", State.scheduled()),
            parameters: [id],
            traceContext: shared
          })))
          const claimed = yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 10, lease: 30_000 })
          const byId = new Map(claimed.map((run) => [run.id, run]))
          expect(byId.size).toBe(5)
          expect(byId.get(child)!.traceContext).toEqual({ traceparent, join: "parent" })
          expect(byId.get(child)!.scheduledAt.getTime()).toBe(scheduledAt.getTime())
          expect(byId.get(child)!.state.timestamp.getTime() - byId.get(child)!.scheduledAt.getTime()).toBeGreaterThan(
            60_000
          )
          expect(byId.get(linked)!.traceContext).toEqual({ traceparent, join: "link" })
          expect(byId.get(plain)!.traceContext).toBeUndefined()
          expect(byId.get(alike1)!.traceContext).toEqual(shared)
          expect(byId.get(alike2)!.traceContext).toEqual(shared)
          // Refused, nothing created: a run a worker could not continue the trace of.
          const bad = uuid()
          const error = yield* Effect.flip(
            s.createRuns([
              newRun(uuid(), "store-plain", State.scheduled()),
              {
                ...newRun(bad, "store-plain", State.scheduled()),
                traceContext: { traceparent: "00-abc", join: "parent" }
              }
            ])
          )
          expect(error._tag).toBe("SerializationError")
          expect(error.message).toContain("traceparent must be a W3C traceparent")
          expect((yield* Effect.flip(s.getRun(bad)))._tag).toBe("RunNotFound")
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

    // The bug this catches: a run given back at shutdown kept the attempt it was given back in, so
    // its next claim was named Retrying and a task with retries: 0 had none left.
    it.live("a give-back is not an attempt, says why, and leaves runs another worker holds alone", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const mine = uuid()
          const waiting = uuid()
          const theirs = uuid()
          for (const id of [mine, waiting]) {
            yield* s.createRun({ ...newRun(id, "store-plain", State.scheduled()), retries: 1 })
          }
          yield* s.createRun(newRun(theirs, "store-plain", State.scheduled()))
          yield* s.claimRuns({ workerId: "w1", names: ["store-plain"], limit: 2, lease: 30_000 })
          yield* s.claimRuns({ workerId: "w2", names: ["store-plain"], limit: 1, lease: 30_000 })
          // `waiting` failed its attempt and waits for its retry, still held.
          yield* s.setState(waiting, State.scheduled({ name: "AwaitingRetry" }), { workerId: "w1" })
          yield* s.releaseRuns("w1", [mine, waiting, theirs], "Given back by task worker w1 on shutdown.")
          const given = yield* s.getRun(mine)
          expect([given.state.type, given.state.name, given.state.message, given.workerId, given.runCount]).toEqual([
            "SCHEDULED",
            "Scheduled",
            "Given back by task worker w1 on shutdown.",
            undefined,
            0
          ])
          // Between attempts: the attempt it made still counts.
          expect((yield* s.getRun(waiting)).runCount).toBe(1)
          const kept = yield* s.getRun(theirs)
          expect([kept.state.type, kept.workerId, kept.runCount]).toEqual(["RUNNING", "w2", 1])
          // Claimed again: a first attempt, not a retry.
          const [again] = yield* s.claimRuns({ workerId: "w2", names: ["store-plain"], limit: 1, lease: 30_000 })
          expect(again.id === mine || again.id === waiting).toBe(true)
          const claimedMine = again.id === mine
            ? again
            : (yield* s.claimRuns({ workerId: "w2", names: ["store-plain"], limit: 1, lease: 30_000 }))[0]
          expect([claimedMine.id, claimedMine.runCount, claimedMine.state.name]).toEqual([mine, 1, "Running"])
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
