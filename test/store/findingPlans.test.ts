/**
 * Every filter of a listing, and prune's search, is served by an index on a table of 100,000 runs
 * (migration 4_run_finding), and so is the recovery of unleased runs (6_unleased_sweep): the plans
 * of the store's own statements, read with EXPLAIN on SQLite and PostgreSQL, never scan a table whole.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RunStore } from "effect-taskflow"
import pg from "pg"
import { listingOf, pruningOf } from "../../src/internal/store/rules.js"
import { countingStatement, startingPointsStatement } from "../../src/internal/store/sql/finding.js"
import { listingStatement } from "../../src/internal/store/sql/reads.js"
import { PLANNER_SETTINGS } from "../../src/internal/store/sql/statements.js"
import { scheduledCountStatement, unleasedStatement } from "../../src/internal/store/sql/workerCalls.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"

const RUNS = 100_000
const T0 = Date.UTC(2024, 0, 1)

/**
 * Run i (1…100,000): created at T0 + i s, its state a second later; every 100th a flow run, the
 * next nine its task runs; 100 names; 90 % Completed, 5 % Failed (2 % named TimedOut), 3 % Running,
 * 2 % Scheduled; each tagged with one of 50 batches, and 1 % "urgent" too. `hex(n)` is the dialect's
 * SQL for n in hexadecimal, 8 digits.
 */
const fill = (numbers: string, hex: (n: string) => string) =>
  `INSERT INTO taskflow_runs (id, kind, name, flow_run_id, parameters, tags, retries, run_count, state_seq,
      state_type, state_name, state_timestamp, created_at)
    SELECT ${hex("i")} || '-0000-7000-8000-000000000000',
      CASE WHEN i % 100 = 0 THEN 'flow' ELSE 'task' END,
      'plan-' || (i % 100),
      CASE WHEN i % 100 BETWEEN 1 AND 9 THEN ${hex("i - i % 100")} || '-0000-7000-8000-000000000000' END,
      '[]',
      '["batch-' || (i % 50) || CASE WHEN i % 100 = 7 THEN '", "urgent"]' ELSE '"]' END,
      0, 1, 1,
      CASE WHEN i % 100 < 90 THEN 'COMPLETED' WHEN i % 100 < 95 THEN 'FAILED'
        WHEN i % 100 < 98 THEN 'RUNNING' ELSE 'SCHEDULED' END,
      CASE WHEN i % 100 < 90 THEN 'Completed' WHEN i % 100 < 93 THEN 'Failed' WHEN i % 100 < 95 THEN 'TimedOut'
        WHEN i % 100 < 98 THEN 'Running' ELSE 'Scheduled' END,
      ${T0} + i * 1000 + 1000, ${T0} + i * 1000
    FROM ${numbers}`

/** A kept result for every Completed run. */
const RESULTS =
  `INSERT INTO taskflow_results (run_id, value) SELECT id, '1' FROM taskflow_runs WHERE state_type = 'COMPLETED'`

const at = (i: number) => new Date(T0 + i * 1000)
const idOf = (i: number) => `${i.toString(16).padStart(8, "0")}-0000-7000-8000-000000000000`

/** The listings the command line makes: newest first, a page of 50, one filter each (and some together). */
const listings: ReadonlyArray<readonly [string, RunStore.RunFilter]> = [
  ["no filter", {}],
  ["kind flow", { kind: "flow" }],
  ["kind task", { kind: "task" }],
  ["name", { name: "plan-42" }],
  ["state type", { stateType: "FAILED" }],
  ["state types", { stateType: ["RUNNING", "SCHEDULED"] }],
  ["state name", { stateName: "TimedOut" }],
  ["tag", { tag: "urgent" }],
  ["id prefix", { idPrefix: idOf(54_321).slice(0, 6) }],
  ["flow run", { flowRunId: idOf(50_000) }],
  ["created after", { createdAfter: at(99_000) }],
  ["created before", { createdBefore: at(1_000) }],
  ["created between", { createdAfter: at(40_000), createdBefore: at(40_500) }],
  ["ended after", { endedAfter: at(99_000) }],
  ["ended before", { endedBefore: at(1_000) }],
  ["cursor", { cursor: "" }], // filled in below with a real cursor
  ["name and state", { name: "plan-93", stateType: "FAILED" }],
  ["tag and state", { tag: "urgent", stateType: "COMPLETED" }]
]

/**
 * The store's statements to EXPLAIN: each listing, prune's search for its starting points, and the
 * runs page's counts, capped per state type, with each filter (`counts`: "all") or "ended after" only.
 * A capped count stops at the cap when its state type leads the index it searches. With statistics
 * the planners may rather scan the table for a type most runs have (the cap stops that scan too):
 * "all" is checked where they have none (SQLite before ANALYZE).
 */
const statements = (sql: SqlClient.SqlClient, cursor: string, counts: "all" | "ended after") => [
  ...listings.map(([what, filter]) => {
    const full: RunStore.RunFilter = { order: "newest", limit: 50, ...filter, ...(what === "cursor" ? { cursor } : {}) }
    return [what, listingStatement(sql, full, listingOf(full)).compile()] as const
  }),
  ...listings.filter(([what]) => what !== "cursor" && (counts === "all" || what === counts)).map(([what, filter]) =>
    [`capped count, ${what}`, countingStatement(sql, filter, 10_000).compile()] as const
  ),
  ["count, ended after", countingStatement(sql, { endedAfter: at(99_000) }).compile()] as const,
  ["prune", startingPointsStatement(sql, pruningOf({ olderThan: "30 days" }, T0 + 5_000_000)).compile()] as const,
  [
    "prune failed",
    startingPointsStatement(sql, pruningOf({ olderThan: "30 days", states: ["FAILED"] }, T0 + 5_000_000)).compile()
  ] as const,
  // The recovery of unleased runs (migration 6_unleased_sweep): its partial index, never the table.
  ["unleased sweep", unleasedStatement(sql, T0 + 5_000_000, 500).compile()] as const,
  // A task worker's runsScheduled gauge: the claim's partial index of Scheduled runs, those names' alone.
  ["scheduled count", scheduledCountStatement(sql, ["plan-98", "plan-99"]).compile()] as const
]

/**
 * Whether a statement with an index of its own is read by it: the unleased sweep must not walk the
 * state index, which holds every unfinished run (NotReady ones too, never pruned); the Scheduled count,
 * the state index, which holds every Scheduled run of every name.
 */
const ownIndexUsed = (what: string, plan: string): boolean =>
  what === "unleased sweep"
    ? plan.includes("taskflow_runs_unleased")
    : what !== "scheduled count" || plan.includes("taskflow_runs_scheduled")

/** A cursor from the store itself: the second page of the whole listing. */
const cursorOf = Effect.gen(function*() {
  const store = yield* RunStore.RunStore
  return (yield* store.listRunsPage({ order: "newest", limit: 50 })).next!
})

describe("the plans of finding runs, on 100,000 runs", () => {
  it.live("SQLite: every listing filter and prune's search read by index", () => {
    const filename = freshSqliteFile()
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.provide(Effect.void, RunStore.sqlite({ filename })) // its migrations
      yield* sql.unsafe(
        fill(
          `(WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${RUNS}) SELECT i FROM n)`,
          (n) => `printf('%08x', ${n})`
        )
      )
      const cursor = yield* Effect.provide(cursorOf, RunStore.sqlite({ filename }))
      yield* sql.unsafe(RESULTS)
      expect((yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM taskflow_run_tags`)[0].n).toBe(RUNS * 1.01)
      // Without ANALYZE (SQLite never runs it by itself), then with it.
      for (const analyzed of [false, true]) {
        if (analyzed) yield* sql`ANALYZE`
        const scans: Array<string> = []
        const ended: Array<string> = []
        for (const [what, [text, params]] of statements(sql, cursor, analyzed ? "ended after" : "all")) {
          const plan = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
          // "SCAN r" reads the table whole; "SCAN r USING INDEX …" walks an index in order (the limit stops it).
          // (Not "SCAN c": a capped count's subquery, its cap's rows at most.)
          for (const { detail } of plan) if (/^SCAN (?!c$)\w+$/.test(detail)) scans.push(`${what}: ${detail}`)
          if (what.endsWith("ended after")) {
            ended.push(...plan.filter(({ detail }) => / r\b/.test(detail)).map(({ detail }) => `${what}: ${detail}`))
          }
          if (!ownIndexUsed(what, JSON.stringify(plan))) scans.push(`${what}: not by its own index`)
        }
        expect(scans).toEqual([])
        // "Ended after" reads the runs ended since, through their index, not every final run by state.
        expect(ended.length).toBeGreaterThan(0)
        for (const line of ended) {
          expect(line).toMatch(/SEARCH r USING INDEX taskflow_runs_ended \(state_timestamp>\?\)/)
        }
      }
      // The statements are the store's own: the cursor's page follows on from the first.
      const rows = yield* listingStatement(
        sql,
        { order: "newest", limit: 50, cursor },
        listingOf({ order: "newest", limit: 50, cursor })
      )
      expect(rows[0].id).toBe(idOf(RUNS - 50))
    }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.scoped)
  }, 120_000)

  /** The kinds of the nodes of an `EXPLAIN (FORMAT JSON)` plan that read a table whole. */
  const seqScans = (plan: unknown): Array<string> => {
    const out: Array<string> = []
    const walk = (node: { "Node Type": string; "Relation Name"?: string; Plans?: Array<never> }) => {
      if (node["Node Type"] === "Seq Scan") out.push(`Seq Scan on ${node["Relation Name"]}`)
      for (const child of node.Plans ?? []) walk(child)
    }
    walk((plan as Array<{ Plan: never }>)[0].Plan)
    return out
  }

  /** The indexes an `EXPLAIN (FORMAT JSON)` plan reads the runs table through, by each node that reads it. */
  const runsIndexes = (plan: unknown): Array<string> => {
    const out: Array<string> = []
    const walk = (node: { "Relation Name"?: string; "Index Name"?: string; Plans?: Array<never> }) => {
      if (node["Relation Name"] === "taskflow_runs") out.push(node["Index Name"] ?? "(no index)")
      for (const child of node.Plans ?? []) walk(child)
    }
    walk((plan as Array<{ Plan: never }>)[0].Plan)
    return out
  }

  it.live.skipIf(!postgresAvailable)("PostgreSQL: every listing filter and prune's search read by index", () => {
    const url = freshPostgresUrl()
    const pool = new pg.Pool({ connectionString: url, max: 1 })
    return Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.promise(() => pool.end()))
      const sql = yield* SqlClient.SqlClient
      yield* Effect.provide(Effect.void, RunStore.postgres({ url })) // its migrations
      yield* sql.unsafe(fill(`generate_series(1, ${RUNS}) AS i`, (n) => `lpad(to_hex(${n}), 8, '0')`))
      const cursor = yield* Effect.provide(cursorOf, RunStore.postgres({ url }))
      yield* sql.unsafe(RESULTS)
      expect(Number((yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM taskflow_run_tags`)[0].n)).toBe(RUNS * 1.01)
      yield* sql`ANALYZE`
      const scans: Array<string> = []
      const ended: Array<string> = []
      for (const [what, [text, params]] of statements(sql, cursor, "ended after")) {
        // As planned for these values (a custom plan) …
        const custom = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params)
        scans.push(...seqScans(custom[0]["QUERY PLAN"]).map((scan) => `${what}: ${scan}`))
        if (what.endsWith("ended after")) {
          ended.push(...runsIndexes(custom[0]["QUERY PLAN"]).map((index) => `${what}: ${index}`))
        }
        if (!ownIndexUsed(what, JSON.stringify(custom))) scans.push(`${what}: not by its own index`)
        // … and as a generic plan, on a connection with the planner settings a store's connection gets
        // with its first hot statement (plan_cache_mode = force_generic_plan, among others).
        yield* sql.unsafe(`PREPARE plan_check AS ${text}`)
        for (const setting of PLANNER_SETTINGS) yield* sql.unsafe(setting)
        const literals = params.map((p) => typeof p === "number" ? String(p) : `'${String(p).replace(/'/g, "''")}'`)
        const generic = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
          `EXPLAIN (FORMAT JSON) EXECUTE plan_check${literals.length === 0 ? "" : `(${literals.join(", ")})`}`
        )
        scans.push(...seqScans(generic[0]["QUERY PLAN"]).map((scan) => `${what} (generic): ${scan}`))
        if (!ownIndexUsed(what, JSON.stringify(generic))) scans.push(`${what} (generic): not by its own index`)
        yield* sql`RESET ALL`
        yield* sql`DEALLOCATE plan_check`
      }
      expect(scans).toEqual([])
      // Counts read the ended runs' index; the listing may rather walk creation backwards, which its
      // statistics say ends the recent runs soon (here: they end a second after they start).
      expect(ended.filter((line) => line.includes("count")).length).toBeGreaterThan(0)
      for (const line of ended) {
        expect(line, line).toMatch(
          line.includes("count") ? /: taskflow_runs_ended$/ : /: taskflow_runs_(ended|created)$/
        )
      }
      const page = yield* listingStatement(
        sql,
        { order: "newest", limit: 50, cursor },
        listingOf({ order: "newest", limit: 50, cursor })
      )
      expect(page[0].id).toBe(idOf(RUNS - 50))
    }).pipe(Effect.provide(PgClient.layerFromPool({ acquire: Effect.succeed(pool) })), Effect.scoped)
  }, 120_000)
})
