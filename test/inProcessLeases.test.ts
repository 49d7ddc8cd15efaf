/**
 * Runs of this process on a SQL store (submitted on the in-process runner, not claimed by a task
 * worker) are held under a lease (issue 22): a process killed with `kill -9` leaves them to be
 * recovered Crashed, with whoever waits on them seeing the end; a cancel asked from another store
 * handle interrupts the body; a Running row nothing holds is recovered; a write after recovery is
 * refused. Real processes where a process dies, SQLite and PostgreSQL (a schema of its own).
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Cause, Chunk, type Context, Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
import { Errors, Flow, Futures, RunStore, State, Task, TaskRunner, TaskWorker } from "effect-taskflow"
import pg from "pg"
import { inProcessLeases } from "../src/internal/store/runStore.js"
import { inProcessTiming } from "../src/internal/store/sql/inProcess.js"
import type { WorkerProcess } from "./distributed/harness.js"
import { startWorker, stopAll, targets, untilOutput } from "./distributed/harness.js"
import type { Target } from "./distributed/tasks.js"

let children: Array<WorkerProcess> = []
afterEach(async () => {
  await stopAll(children)
  children = []
})

/** The lease of the in-process runs in these tests, in ms: short, so a dead process's runs end soon. */
const LEASE = 1_000

/** A handle on the target's store, with a short in-process lease. */
const storeOf = (target: Target) =>
  target.kind === "sqlite"
    ? RunStore.sqlite({ filename: target.location, maxPollInterval: 100, inProcessLease: LEASE })
    : RunStore.postgres({ url: target.location, maxPollInterval: 100, inProcessLease: LEASE })

/** Runs SQL on the target's database through a connection of its own (rows changed behind the store's back). */
const exec = (target: Target, text: string, values: ReadonlyArray<unknown>): Effect.Effect<void> =>
  target.kind === "sqlite"
    ? Effect.sync(() => {
      const db = new Database(target.location, { timeout: 10_000 })
      try {
        db.prepare(text.replace(/\$\d+/g, "?")).run(...values)
      } finally {
        db.close()
      }
    })
    : Effect.promise(async () => {
      const client = new pg.Client({ connectionString: target.location })
      await client.connect()
      try {
        await client.query(text, values as Array<unknown>)
      } finally {
        await client.end()
      }
    })

/**
 * Reads `check` every 50 ms until it holds (at most `within` ms): for what another process or
 * another handle's renewal fiber does, which no Deferred here can tell of.
 */
const eventually = <A>(what: string, read: Effect.Effect<A, unknown>, check: (a: A) => boolean, within = 10_000) =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    while (Date.now() - startedAt < within) {
      const value = yield* Effect.orDie(read)
      if (check(value)) return value
      yield* Effect.sleep(50)
    }
    return yield* Effect.dieMessage(`${what}: not within ${within} ms`)
  })

/** Calls `recoverExpired` every 100 ms until it recovers `runId` (at most `within` ms). */
const recoverUntil = (runId: string, within: number) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const startedAt = Date.now()
    while (Date.now() - startedAt < within) {
      if ((yield* store.recoverExpired()).includes(runId)) return Date.now() - startedAt
      yield* Effect.sleep(100)
    }
    return yield* Effect.dieMessage(`run ${runId} was not recovered within ${within} ms`)
  })

const waitUntil = Task.make("in-process-wait-until", (release: string) =>
  Effect.gen(function*() {
    const gate = gates.get(release)!
    yield* Deferred.succeed(gate.started, undefined)
    yield* Deferred.await(gate.release)
    return "done"
  }).pipe(Effect.onInterrupt(() => Deferred.succeed(gates.get(release)!.interrupted, undefined))))

const waitingFlow = Flow.make("in-process-waiting-flow", (key: string) => waitUntil(key))

/** The Deferreds of the `waitUntil` runs, by key (a task's arguments are stored: Deferreds cannot be). */
const gates = new Map<
  string,
  {
    readonly started: Deferred.Deferred<void>
    readonly release: Deferred.Deferred<void>
    readonly interrupted: Deferred.Deferred<void>
  }
>()

const makeGate = (key: string) =>
  Effect.gen(function*() {
    const gate = {
      started: yield* Deferred.make<void>(),
      release: yield* Deferred.make<void>(),
      interrupted: yield* Deferred.make<void>()
    }
    gates.set(key, gate)
    return gate
  })

/** A concurrent runner over the store `store`, open for the test's scope. */
const runnerOn = (store: Context.Context<RunStore.RunStore>) =>
  Layer.build(Layer.provide(TaskRunner.concurrent(), Layer.succeedContext(store)))

/** Submits a `waitUntil` run on a concurrent runner over the store `store`, both open for the test's scope. */
const submitIn = (store: Context.Context<RunStore.RunStore>, key: string) =>
  Effect.gen(function*() {
    return yield* waitUntil.submit(key).pipe(Effect.provide(yield* runnerOn(store)), Effect.provide(store))
  })

const failNow = Task.make("in-process-fail-now", (): Effect.Effect<string, string> => Effect.fail("no"))

for (const where of targets) {
  describe.skipIf(!where.available)(`in-process runs held under a lease: ${where.name}`, () => {
    it.live("kill -9 of the process running it: the run ends Crashed within its lease, and waiters see it", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const child = startWorker(target, { id: "in-process", lease: LEASE, script: "inProcessChild.ts" })
        children.push(child)
        yield* Effect.promise(() => untilOutput(child, "in-process body started"))
        const runId = /serving run (\S+)/.exec(child.output())![1]
        const store = yield* RunStore.RunStore
        const held = yield* store.getRun(runId)
        expect(held.state.type).toBe("RUNNING")
        expect(held.workerId).toMatch(/^process:/)
        expect(held.leaseExpiresAt).toBeDefined()

        const future = yield* Futures.PrefectDistributedFuture.make(runId)
        const waiting = yield* Effect.fork(future.wait())
        const logs = yield* Effect.fork(Stream.runCollect(store.followLogs(runId)))
        child.process.kill("SIGKILL")
        yield* Effect.promise(() => child.exited)
        // Recovered once the lease ends (renewed every third of it: at most LEASE after the kill).
        yield* recoverUntil(runId, 10_000)

        const run = yield* store.getRun(runId)
        expect(run.state.type).toBe("CRASHED")
        expect(run.state.message).toContain(`Its process ${held.workerId} stopped responding (lease expired)`)
        expect(run.workerId).toBeUndefined()
        yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
        expect(State.isCrashed(yield* future.state)).toBe(true)
        const lines = yield* Fiber.join(logs).pipe(Effect.timeout("5 seconds"))
        expect(Chunk.toReadonlyArray(lines).map((line) => line.message)).toContain("in-process body started")
      }).pipe(Effect.provide(storeOf(target)))
    }, 30_000)

    it.live(
      "cancelRun from another store handle: the in-process run's body is interrupted and it ends Cancelled",
      () => {
        const target = where.make()
        return Effect.gen(function*() {
          const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
          const gate = yield* makeGate(`cancel-${where.name}`)
          const future = yield* submitIn(here, `cancel-${where.name}`)
          yield* Deferred.await(gate.started)
          const other = yield* Effect.provide(RunStore.RunStore, elsewhere)
          const asked = yield* other.cancelRun(future.taskRunId)
          expect(asked.type).toBe("CANCELLING")
          // The body's finalizer ran: it was interrupted, not left to run on.
          yield* Deferred.await(gate.interrupted).pipe(Effect.timeout("5 seconds"))
          yield* future.wait({ timeout: "5 seconds" })
          expect((yield* future.state).type).toBe("CANCELLED")
          const seen = yield* Futures.PrefectDistributedFuture.make(future.taskRunId).pipe(Effect.provide(elsewhere))
          yield* seen.wait({ timeout: "5 seconds" })
          expect((yield* other.getRun(future.taskRunId)).state.type).toBe("CANCELLED")
        }).pipe(Effect.scoped)
      },
      30_000
    )

    it.live("cancelRun on a held run that nothing runs (made through the store by hand): it ends Cancelled", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
        const [mine, other] = [
          yield* Effect.provide(RunStore.RunStore, here),
          yield* Effect.provide(RunStore.RunStore, elsewhere)
        ]
        const [a, b] = [crypto.randomUUID(), crypto.randomUUID()]
        for (const id of [a, b]) {
          yield* mine.createRun({ id, kind: "task", name: "in-process-by-hand", state: State.pending() })
          yield* mine.setState(id, State.running())
        }
        // From this handle: at once.
        expect((yield* mine.cancelRun(a)).type).toBe("CANCELLED")
        // From another: Cancelling, then the holder hears of it and ends it.
        expect((yield* other.cancelRun(b)).type).toBe("CANCELLING")
        const future = yield* Futures.PrefectDistributedFuture.make(b).pipe(Effect.provide(elsewhere))
        yield* future.wait({ timeout: "5 seconds" })
        const run = yield* other.getRun(b)
        expect(run.state.type).toBe("CANCELLED")
        expect(run.state.message).toContain("Cancelled before process")
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live("a held run that nothing runs, taken by another holder: this process lets go of it", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const mine = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
        const id = crypto.randomUUID()
        yield* mine.createRun({ id, kind: "task", name: "in-process-by-hand", state: State.pending() })
        yield* mine.setState(id, State.running())
        expect(inProcessLeases(mine)!.holds(id)).toBe(true)
        yield* exec(target, "UPDATE taskflow_runs SET worker_id = $1 WHERE id = $2", ["another-holder", id])
        // Lost at the next renewal, and no longer renewed, sent again and reported lost at every one.
        yield* eventually("let go of", Effect.sync(() => inProcessLeases(mine)!.holds(id)), (holds) => !holds)
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live("cancelRun from another store handle on a flow run of this process: its body is interrupted", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
        const key = `flow-${where.name}`
        const gate = yield* makeGate(key)
        const running = yield* Effect.fork(Effect.exit(waitingFlow(key)).pipe(Effect.provide(here)))
        yield* Deferred.await(gate.started)
        const other = yield* Effect.provide(RunStore.RunStore, elsewhere)
        const [flowRun] = yield* other.listRuns({ kind: "flow", name: "in-process-waiting-flow" })
        expect(flowRun.workerId).toMatch(/^process:/)
        yield* other.cancelRun(flowRun.id)
        yield* Deferred.await(gate.interrupted).pipe(Effect.timeout("5 seconds"))
        yield* Fiber.join(running).pipe(Effect.timeout("5 seconds"))
        const seen = yield* Futures.PrefectFlowRunFuture.make(flowRun.id).pipe(Effect.provide(elsewhere))
        yield* seen.wait({ timeout: "5 seconds" })
        expect((yield* other.getRun(flowRun.id)).state.type).toBe("CANCELLED")
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live("a held run's lease is renewed while it runs; a NotReady run is let go of", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
        const key = `renewed-${where.name}`
        const gate = yield* makeGate(key)
        const future = yield* submitIn(here, key)
        yield* Deferred.await(gate.started)
        const other = yield* Effect.provide(RunStore.RunStore, elsewhere)
        const first = (yield* other.getRun(future.taskRunId)).leaseExpiresAt!
        // Renewed past twice its first end: without renewals it would have lapsed long before.
        yield* eventually(
          "the lease renewed",
          other.getRun(future.taskRunId),
          (run) => run.leaseExpiresAt!.getTime() > first.getTime() + 2 * LEASE
        )
        expect(yield* other.recoverExpired()).not.toContain(future.taskRunId)
        expect((yield* other.getRun(future.taskRunId)).state.type).toBe("RUNNING")

        const failing = yield* failNow.submit().pipe(Effect.provide(yield* runnerOn(here)), Effect.provide(here))
        const downstream = yield* waitUntil.submit(failing).pipe(
          Effect.provide(yield* runnerOn(here)),
          Effect.provide(here)
        )
        yield* downstream.wait({ timeout: "5 seconds" })
        const notReady = yield* other.getRun(downstream.taskRunId)
        expect(notReady.state.name).toBe("NotReady")
        expect(notReady.workerId).toBeUndefined()
        expect(yield* other.recoverExpired()).not.toContain(downstream.taskRunId)
        yield* Deferred.succeed(gate.release, undefined)
        expect(yield* future.result({ timeout: "5 seconds" })).toBe("done")
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live(
      "an unleased Running row older than 10 minutes is recovered Crashed, a recent or NotReady one is left; " +
        "at most one look a minute per store handle",
      () => {
        const target = where.make()
        return Effect.gen(function*() {
          const store = yield* RunStore.RunStore
          const [orphan, recent, notReady, later] = [1, 2, 3, 4].map(() => crypto.randomUUID())
          for (const id of [orphan, recent, notReady, later]) {
            yield* store.createRun({ id, kind: "task", name: "in-process-orphan", state: State.scheduled() })
          }
          // As an older version left its in-process runs: Running, no worker, no lease; `recent` as a
          // process of that version still running writes them (a moment ago).
          const unleased = (id: string, type: string, name: string, at: number) =>
            exec(
              target,
              "UPDATE taskflow_runs SET state_type = $1, state_name = $2, state_timestamp = $3 WHERE id = $4",
              [type, name, at, id]
            )
          const longAgo = Date.now() - 11 * 60_000
          yield* unleased(orphan, "RUNNING", "Running", longAgo)
          yield* unleased(recent, "RUNNING", "Running", Date.now())
          yield* unleased(notReady, "PENDING", "NotReady", longAgo)
          const future = yield* Futures.PrefectDistributedFuture.make(orphan)
          const waiting = yield* Effect.fork(future.wait())
          const recovered = yield* store.recoverExpired()
          expect(recovered).toContain(orphan)
          expect(recovered).not.toContain(recent)
          expect(recovered).not.toContain(notReady)
          const run = yield* store.getRun(orphan)
          expect(run.state.type).toBe("CRASHED")
          expect(run.state.message).toContain("no process or task worker holding it and no lease")
          yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
          expect((yield* future.state).type).toBe("CRASHED")
          expect((yield* store.getRun(recent)).state.type).toBe("RUNNING")
          expect((yield* store.getRun(notReady)).state.type).toBe("PENDING")
          // Not at every call (a task worker's heartbeat recovers): this handle looks again in a minute,
          // another handle (another process) at its first recovery.
          yield* unleased(later, "RUNNING", "Running", longAgo)
          expect(yield* store.recoverExpired()).not.toContain(later)
          const fresh = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
          expect(yield* fresh.recoverExpired()).toContain(later)
        }).pipe(Effect.provide(storeOf(target)), Effect.scoped)
      },
      30_000
    )

    it.live("the look for unleased rows recovers at most 500 runs a call; the next look takes the rest", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const name = `in-process-cap-${crypto.randomUUID()}`
        const ids: Array<string> = Array.from({ length: 501 }, () => crypto.randomUUID())
        yield* store.createRuns(ids.map((id) => ({ id, kind: "task" as const, name, state: State.scheduled() })))
        yield* exec(
          target,
          "UPDATE taskflow_runs SET state_type = 'RUNNING', state_name = 'Running', state_timestamp = 0 " +
            "WHERE name = $1",
          [name]
        )
        expect((yield* store.recoverExpired()).filter((id) => ids.includes(id))).toHaveLength(500)
        const fresh = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
        expect((yield* fresh.recoverExpired()).filter((id) => ids.includes(id))).toHaveLength(1)
        const states = yield* Effect.forEach(ids, (id) => Effect.map(store.getRun(id), (run) => run.state.type))
        expect(new Set(states)).toEqual(new Set(["CRASHED"]))
      }).pipe(Effect.provide(storeOf(target)), Effect.scoped)
    }, 60_000)

    it.live("a delayed run whose upstream failed is NotReady, not held: a clean exit leaves it NotReady", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const other = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
        const downstreamId = yield* Effect.gen(function*() {
          const here = yield* Layer.build(storeOf(target))
          const failing = yield* failNow.submit().pipe(Effect.provide(yield* runnerOn(here)), Effect.provide(here))
          yield* Effect.exit(failing.wait({ timeout: "5 seconds" }))
          const downstream = yield* waitUntil.delay(failing).pipe(Effect.provide(here))
          const run = yield* other.getRun(downstream.taskRunId)
          expect(run.state.name).toBe("NotReady")
          expect(run.workerId).toBeUndefined()
          expect(run.leaseExpiresAt).toBeUndefined()
          // Nothing here holds it: the renewals have nothing to renew (no held run is left).
          const leases = inProcessLeases(yield* Effect.provide(RunStore.RunStore, here))!
          expect(leases.holds(downstream.taskRunId)).toBe(false)
          expect(leases.holds(failing.taskRunId)).toBe(false)
          return downstream.taskRunId
        }).pipe(Effect.scoped)
        // The process exited cleanly: nothing is recovered, the run stays NotReady.
        yield* exec(target, "UPDATE taskflow_runs SET lease_expires_at = 0 WHERE id = $1", [downstreamId])
        expect(yield* other.recoverExpired()).not.toContain(downstreamId)
        const after = yield* other.getRun(downstreamId)
        expect(after.state.type).toBe("PENDING")
        expect(after.state.name).toBe("NotReady")
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live("the renewals recover a dead process's run with no task worker and no call of recoverExpired", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
        const key = `renewals-recover-${where.name}`
        const gate = yield* makeGate(key)
        // A run held here keeps this handle's renewals going.
        const future = yield* submitIn(here, key)
        yield* Deferred.await(gate.started)
        const other = yield* Effect.provide(RunStore.RunStore, elsewhere)
        const dead = crypto.randomUUID()
        yield* other.createRun({ id: dead, kind: "task", name: "in-process-dead", state: State.scheduled() })
        yield* exec(
          target,
          "UPDATE taskflow_runs SET state_type = 'RUNNING', state_name = 'Running', worker_id = $1, " +
            "lease_expires_at = 0 WHERE id = $2",
          ["process:gone:1:test", dead]
        )
        const run = yield* eventually("recovered by the renewals", other.getRun(dead), (r) => State.isFinal(r.state))
        expect(run.state.type).toBe("CRASHED")
        expect(run.state.message).toContain("Its process process:gone:1:test stopped responding")
        yield* Deferred.succeed(gate.release, undefined)
        expect(yield* future.result({ timeout: "5 seconds" })).toBe("done")
      }).pipe(Effect.scoped)
    }, 30_000)

    it.live(
      "a run recovered while it ran here is stopped; its write is refused: the store keeps Crashed",
      () => {
        const target = where.make()
        return Effect.gen(function*() {
          const [here, elsewhere] = [yield* Layer.build(storeOf(target)), yield* Layer.build(storeOf(target))]
          const key = `late-${where.name}`
          const gate = yield* makeGate(key)
          const future = yield* submitIn(here, key)
          yield* Deferred.await(gate.started)
          // Its lease lapses (as if this process stalled): another handle recovers it. The renewal may
          // land between the two statements and renew it; then try again.
          const recoverer = yield* Effect.provide(RunStore.RunStore, elsewhere)
          let recovered = false
          for (let i = 0; i < 20 && !recovered; i++) {
            yield* exec(target, "UPDATE taskflow_runs SET lease_expires_at = 0 WHERE id = $1", [future.taskRunId])
            recovered = (yield* recoverer.recoverExpired()).includes(future.taskRunId)
          }
          expect(recovered).toBe(true)
          // The next renewal finds its row final with no final write of ours: lost, its body is
          // stopped (it must not run on, creating children, until a write of its own is refused).
          yield* Deferred.await(gate.interrupted).pipe(Effect.timeout("5 seconds"))
          yield* future.wait({ timeout: "5 seconds" })
          // Here it ends as its runner ends an interrupted run (not Completed); the store keeps Crashed.
          expect(State.isFinal(yield* future.state)).toBe(true)
          expect((yield* future.state).type).not.toBe("COMPLETED")
          const stored = yield* recoverer.getRun(future.taskRunId)
          expect(stored.state.type).toBe("CRASHED")
          expect(stored.state.message).toContain("stopped responding (lease expired)")
          const history = yield* recoverer.getHistory(future.taskRunId)
          expect(history.map((state) => state.type)).not.toContain("COMPLETED")
        }).pipe(Effect.scoped)
      },
      30_000
    )
  })
}

const neverStarts = Task.make("in-process-never-starts", () => Effect.succeed("ran"))
const neverStartsFlow = Flow.make("in-process-never-starts-flow", () => neverStarts())

/** The store `base`, with every Running write failing as a store out of reach for good does. */
const runningUnreachable = (base: RunStore.Service): RunStore.Service => ({
  ...base,
  setState: (runId, state, options) =>
    state.type === "RUNNING"
      ? Effect.fail(new Errors.RunStoreError({ message: "out of reach", unreachable: true }))
      : base.setState(runId, state, options)
})

for (const where of targets) {
  describe.skipIf(!where.available)(`in-process runs that die before they end: ${where.name}`, () => {
    it.live("an inline call and a flow run whose Running write fails for good end Crashed, held no longer", () => {
      const target = where.make()
      return Effect.gen(function*() {
        const base = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
        const store = runningUnreachable(base)
        for (
          const [name, call] of [
            ["in-process-never-starts", neverStarts()],
            ["in-process-never-starts-flow", neverStartsFlow()]
          ] as const
        ) {
          const exit = yield* Effect.exit(Effect.provideService(call, RunStore.RunStore, store))
          expect(Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)).toBe(true)
          const [run] = yield* base.listRuns({ name })
          expect(run!.state.type).toBe("CRASHED")
          expect(inProcessLeases(base)!.holds(run!.id)).toBe(false)
        }
      }).pipe(Effect.scoped)
    }, 30_000)
  })
}

const postgres = targets.find((where) => where.name === "postgres")!

describe.skipIf(!postgres.available)("in-process leases: a renewal that skips a locked row (postgres)", () => {
  it.live("a held run whose row a write has locked while a renewal passes is not taken as lost", () => {
    const target = postgres.make()
    const lease = 3_000
    return Effect.gen(function*() {
      const here = yield* Layer.build(
        RunStore.postgres({ url: target.location, maxPollInterval: 100, inProcessLease: lease })
      )
      const other = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(storeOf(target)))
      const [lockedGate, witnessGate] = [yield* makeGate("locked-row"), yield* makeGate("witness-row")]
      const locked = yield* submitIn(here, "locked-row")
      const witness = yield* submitIn(here, "witness-row")
      yield* Deferred.await(lockedGate.started)
      yield* Deferred.await(witnessGate.started)
      // As a write in flight does: the row is locked, so the renewal's UPDATE … SKIP LOCKED passes it by.
      const client = new pg.Client({ connectionString: target.location })
      yield* Effect.promise(() => client.connect())
      yield* Effect.addFinalizer(() => Effect.promise(() => client.end()))
      yield* Effect.promise(() => client.query("BEGIN"))
      yield* Effect.promise(() =>
        client.query("SELECT id FROM taskflow_runs WHERE id = $1 FOR UPDATE", [locked.taskRunId])
      )
      // A renewal has passed once the other held run's lease moved on (well within the locked one's lease).
      const before = (yield* other.getRun(witness.taskRunId)).leaseExpiresAt!.getTime()
      yield* eventually(
        "a renewal",
        other.getRun(witness.taskRunId),
        (run) => run.leaseExpiresAt!.getTime() > before
      )
      yield* Effect.promise(() => client.query("COMMIT"))
      yield* Deferred.succeed(lockedGate.release, undefined)
      yield* Deferred.succeed(witnessGate.release, undefined)
      expect(yield* locked.result({ timeout: "10 seconds" })).toBe("done")
      expect((yield* other.getRun(locked.taskRunId)).state.type).toBe("COMPLETED")
      expect(yield* Deferred.isDone(lockedGate.interrupted)).toBe(false)
    }).pipe(Effect.scoped)
  }, 30_000)
})

describe("in-process leases: options", () => {
  it("the lease is renewed every third of it (every 10 s by default), not every second", () => {
    expect(inProcessTiming(undefined)).toEqual({ lease: 30_000, renewEvery: 10_000 })
    expect(inProcessTiming("3 seconds")).toEqual({ lease: 3_000, renewEvery: 1_000 })
  })

  it.effect("a lease under a second is refused", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(RunStore.sqlite({ filename: ":memory:", inProcessLease: "500 millis" })))
      )
      expect(error.message).toContain("'inProcessLease' must be at least 1 second")
    }))

  it.effect("a task worker's id may not start with process: (a process's holder), serve dies at once", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(TaskWorker.serve([failNow], { workerId: "process:mine" })).pipe(
        Effect.provide(RunStore.memory),
        Effect.timeout("5 seconds")
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      expect(defect).toBeInstanceOf(Cause.IllegalArgumentException)
      expect((defect as Error).message).toContain(`'workerId' must not start with "process:"`)
    }))
})
