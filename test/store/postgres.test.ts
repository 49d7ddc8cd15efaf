/**
 * What only the PostgreSQL store has: a server that can go away mid-batch, LISTEN/NOTIFY, concurrent
 * migrations, and the plans of its hot statements.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { RunStore, State } from "effect-taskflow"
import pg from "pg"
import { makePrepared } from "../../src/internal/store/sql/prepared.js"
import { CLAIM_RUNS, WRITE_STATES_AND_CLAIM } from "../../src/internal/store/sql/statements.js"
import { dropProxy, postgresThroughProxy } from "../support/dropProxy.js"
import { newRun, uuid } from "../support/storeRuns.js"
import { freshPostgresUrl, postgresAvailable } from "../support/stores.js"

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
    ) => [
      id,
      "COMPLETED",
      "Completed",
      null,
      Date.now(),
      null,
      "1",
      null,
      "w1",
      false,
      null,
      true,
      true,
      null,
      0,
      false,
      null
    ]
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
