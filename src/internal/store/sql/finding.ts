/**
 * A SQL store's pruning and reruns. Prune deletes in batches, each its own transaction, so deleting
 * millions of runs never holds a lock for long; the rules are those of the memory store
 * (memory/finding.ts) and docs/design.md, "Finding and pruning runs".
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as RunStore_ from "../../../RunStore.js"
import type * as State from "../../../State.js"
import { makeRunId } from "../../core/runId.js"
import type { Listing, Pruning } from "../rules.js"
import { countCapOf, countingOf, FINAL_TYPES, notFound, pruningOf } from "../rules.js"
import { listingClauses, readRun, runsFrom } from "./reads.js"
import type { Call } from "./retry.js"
import { STATE_TYPES, toListedRecord } from "./rows.js"
import { FINAL_SQL_LIST, SCHEDULED_CHANNEL } from "./schema.js"
import type { Subscriptions } from "./subscriptions.js"

/** Runs a prune batch deletes at most, of each of its two steps (the runs in flow runs, then the others). */
export const PRUNE_BATCH = 1_000

/**
 * The runs a prune starts from: finished, ended before the cutoff, in one of `states`, in no flow
 * run still in the store, and with no unfinished run in them. Found through the ended runs' index,
 * oldest end first.
 */
const startingPoints = (sql: SqlClient.SqlClient, { cutoff, states }: Pruning) => {
  const final = sql.literal(FINAL_SQL_LIST)
  return sql`r.state_type IN ${final} AND r.state_timestamp < ${cutoff}
    ${states.length === FINAL_TYPES.length ? sql`` : sql`AND ${sql.in("r.state_type", states)}`}
    AND (r.flow_run_id IS NULL OR NOT EXISTS (SELECT 1 FROM taskflow_runs f WHERE f.id = r.flow_run_id))
    AND NOT EXISTS (SELECT 1 FROM taskflow_runs m WHERE m.flow_run_id = r.id AND m.state_type NOT IN ${final})`
}

/** A batch's starting points, oldest end first (exported for the planner tests). */
export const startingPointsStatement = (sql: SqlClient.SqlClient, pruning: Pruning) =>
  sql<{ id: string; kind: string }>`SELECT r.id, r.kind FROM taskflow_runs r
    WHERE ${startingPoints(sql, pruning)} ORDER BY r.state_timestamp LIMIT ${PRUNE_BATCH}`

/** Deletes the finished runs among `ids` (`andWhere`: a further condition), with their history, results and tags. */
const deleteRuns = (sql: SqlClient.SqlClient, ids: ReadonlyArray<string>, andWhere = sql``) =>
  Effect.gen(function*() {
    if (ids.length === 0) return { runs: [], states: 0, results: 0, logs: 0 }
    // Checked again as it deletes: a run that is not final is never deleted, whatever was read before.
    const runs = yield* sql<{ id: string; kind: string }>`DELETE FROM taskflow_runs AS r
      WHERE ${sql.in("r.id", ids)} AND r.state_type IN ${sql.literal(FINAL_SQL_LIST)} ${andWhere}
      RETURNING id, kind`
    if (runs.length === 0) return { runs, states: 0, results: 0, logs: 0 }
    const deleted = runs.map((run) => run.id)
    const states = yield* sql`DELETE FROM taskflow_run_states WHERE ${sql.in("run_id", deleted)} RETURNING seq`
    const results = yield* sql`DELETE FROM taskflow_results WHERE ${sql.in("run_id", deleted)} RETURNING run_id`
    yield* sql`DELETE FROM taskflow_run_tags WHERE ${sql.in("run_id", deleted)}`
    // Counted, not returned: a run may have 10,000 lines.
    const logs = yield* sql.onDialectOrElse({
      pg: () =>
        sql<{ n: number | string }>`WITH d AS (DELETE FROM taskflow_run_logs WHERE ${sql.in("run_id", deleted)}
          RETURNING 1) SELECT COUNT(*) AS n FROM d`,
      orElse: () =>
        Effect.zipRight(
          sql`DELETE FROM taskflow_run_logs WHERE ${sql.in("run_id", deleted)}`,
          sql<{ n: number | string }>`SELECT changes() AS n`
        )
    })
    return { runs, states: states.length, results: results.length, logs: Number(logs[0]?.n ?? 0) }
  })

/**
 * One prune batch, one transaction: up to PRUNE_BATCH finished runs inside the flow runs being
 * pruned (`flows`: those of this batch's starting points, and flow runs deleted before whose own runs
 * remain), then the starting points left with no run in them. Returns what it deleted, the flow runs
 * whose runs remain to delete, and whether `flows` had more runs than one batch takes.
 */
const pruneBatch = (sql: SqlClient.SqlClient, pruning: Pruning, emptying: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    // SQLite: take the write lock first, waiting for it. A transaction that reads first cannot write
    // once another process has committed since (SQLITE_BUSY_SNAPSHOT, at once, without waiting).
    yield* sql.onDialectOrElse({ pg: () => Effect.void, orElse: () => sql`DELETE FROM taskflow_run_tags WHERE 0 = 1` })
    const starts = yield* startingPointsStatement(sql, pruning)
    const flows = [...emptying, ...starts.filter((run) => run.kind === "flow").map((run) => run.id)]
    const inside = flows.length === 0 ? [] : yield* sql<{ id: string }>`SELECT id FROM taskflow_runs
      WHERE ${sql.in("flow_run_id", flows)} AND state_type IN ${sql.literal(FINAL_SQL_LIST)} LIMIT ${PRUNE_BATCH}`
    const members = yield* deleteRuns(sql, inside.map((run) => run.id))
    const roots = yield* deleteRuns(
      sql,
      starts.map((run) => run.id),
      sql`AND NOT EXISTS (SELECT 1 FROM taskflow_runs m WHERE m.flow_run_id = r.id)`
    )
    return {
      runs: members.runs.length + roots.runs.length,
      states: members.states + roots.states,
      results: members.results + roots.results,
      logs: members.logs + roots.logs,
      // Subflows deleted with their flow run: the runs in them go next.
      subflows: members.runs.filter((run) => run.kind === "flow").map((run) => run.id),
      full: inside.length === PRUNE_BATCH
    }
  }).pipe(sql.withTransaction)

/** A row of a count: one name, kind and state type. */
interface CountRow {
  readonly name: string
  readonly kind: string
  readonly state_type: string
  readonly count: number | string
  readonly first_created_at: number | string
  readonly last_state_at: number | string
}

/** Whether a listing selects ended runs (by when they ended): only final state types can match. */
const byEnd = (listing: Listing) => listing.endedAfter !== undefined || listing.endedBefore !== undefined

/**
 * The state types a capped count counts: known ones only, which become literals (the indexes need
 * them), and only final ones for ended runs.
 */
const countedTypes = (listing: Listing) =>
  [...STATE_TYPES].filter((type) =>
    (listing.stateTypes?.includes(type as State.StateType) ?? true) &&
    (!byEnd(listing) || FINAL_TYPES.includes(type as State.StateType))
  )

/**
 * A count's statement (exported for the planner tests): one grouped COUNT over the rows the filter's
 * clauses find; with `cap`, one per state type over at most `cap + 1` of its runs (each a search
 * of an index that stops there), together.
 */
export const countingStatement = (
  sql: SqlClient.SqlClient,
  filter: RunStore_.RunFilter | undefined,
  cap?: number
) => {
  const listing = countingOf(filter)
  const clauses = listingClauses(sql, filter, listing)
  const from = runsFrom(sql, listing)
  if (cap === undefined) {
    return sql<CountRow>`SELECT r.name, r.kind, r.state_type, COUNT(*) AS count,
      MIN(r.created_at) AS first_created_at, MAX(r.state_timestamp) AS last_state_at FROM ${from}
      ${clauses.length === 0 ? sql`` : sql`WHERE ${sql.and(clauses)}`}
      GROUP BY r.name, r.kind, r.state_type`
  }
  const perType = countedTypes(listing).map((type) => {
    const literal = sql.literal(`'${type}'`)
    // Runs ended in a window are found by end, each then checked for its type: `|| ''` keeps a
    // planner from walking the type's runs by creation instead, hoping to meet cap + 1 soon.
    const ofType = listing.endedAfter === undefined
      ? sql`r.state_type = ${literal}`
      : sql`r.state_type || '' = ${literal}`
    return sql`SELECT c.name, c.kind, ${literal} AS state_type, COUNT(*) AS count,
      MIN(c.created_at) AS first_created_at, MAX(c.state_timestamp) AS last_state_at
      FROM (SELECT r.name, r.kind, r.created_at, r.state_timestamp FROM ${from}
        WHERE ${sql.and([...clauses, ofType])} LIMIT ${cap + 1}) c
      GROUP BY c.name, c.kind`
  })
  return sql<CountRow>`${sql.join(" UNION ALL ", false)(perType)}`
}

/** A count's row as a `RunCount`; a corrupt row's state type is not a state type: it is not counted. */
const toRunCount = (row: CountRow): ReadonlyArray<RunStore_.RunCount> => {
  if (!STATE_TYPES.has(row.state_type)) return []
  const stateType = row.state_type as State.StateType
  return [{
    name: row.name,
    kind: row.kind as RunStore_.RunKind,
    stateType,
    count: Number(row.count),
    firstCreatedAt: new Date(Number(row.first_created_at)),
    lastEndedAt: FINAL_TYPES.includes(stateType) ? new Date(Number(row.last_state_at)) : undefined
  }]
}

/** The store's `prune`, `countPrunable`, `countRuns` and `rerun`. */
export const makeFinding = (
  { call, sql, subscriptions }: {
    readonly sql: SqlClient.SqlClient
    readonly call: Call
    readonly subscriptions: Subscriptions
  }
): Pick<RunStore_.Service, "prune" | "countPrunable" | "countRuns" | "rerun"> => ({
  countRuns: (filter, options) =>
    Effect.suspend(() => {
      const cap = countCapOf(options)
      const listing = countingOf(filter)
      if (listing.empty || (cap !== undefined && countedTypes(listing).length === 0)) return Effect.succeed([])
      return Effect.map(call("count runs", countingStatement(sql, filter, cap)), (rows) => rows.flatMap(toRunCount))
    }),
  prune: (options) =>
    Effect.gen(function*() {
      const pruning = pruningOf(options, yield* Clock.currentTimeMillis)
      const report = { runs: 0, states: 0, results: 0, logs: 0 }
      if (!Number.isFinite(pruning.cutoff)) return report // olderThan: Infinity
      // Flow runs deleted whose own runs remain (subflows), emptied PRUNE_BATCH at a time.
      let emptying: Array<string> = []
      for (;;) {
        const taken = emptying.slice(0, PRUNE_BATCH)
        const batch = yield* call("prune runs", pruneBatch(sql, pruning, taken))
        report.runs += batch.runs
        report.states += batch.states
        report.results += batch.results
        report.logs += batch.logs
        // Not full: every finished run of the flow runs taken is gone.
        emptying = [...(batch.full ? emptying : emptying.slice(taken.length)), ...batch.subflows]
        if (batch.runs === 0 && (emptying.length === 0 || batch.full)) return report
      }
    }),
  countPrunable: (options) =>
    Effect.gen(function*() {
      const pruning = pruningOf(options, yield* Clock.currentTimeMillis)
      if (!Number.isFinite(pruning.cutoff)) return 0
      const rows = yield* call(
        "count prunable runs",
        sql<{ count: number | string }>`WITH RECURSIVE pruned (id) AS (
          SELECT r.id FROM taskflow_runs r WHERE ${startingPoints(sql, pruning)}
          UNION
          SELECT m.id FROM taskflow_runs m JOIN pruned p ON m.flow_run_id = p.id
          WHERE m.state_type IN ${sql.literal(FINAL_SQL_LIST)}
        )
        SELECT COUNT(*) AS count FROM pruned`
      )
      return Number(rows[0]?.count ?? 0)
    }),
  rerun: (runId) =>
    Effect.gen(function*() {
      const id = makeRunId()
      const now = yield* Clock.currentTimeMillis
      const row = yield* call(`rerun run ${runId}`, insertRerun(sql, runId, id, now))
      if (row === undefined) return yield* Effect.fail(notFound(runId))
      const record = toListedRecord(row)
      subscriptions.push(id, record.state)
      subscriptions.pushScheduled(record.name)
      return record
    })
})

/** The rerun's row and its first history row, copied from run `runId`'s; undefined when there is no such run. */
const insertRerun = (sql: SqlClient.SqlClient, runId: string, id: string, now: number) =>
  Effect.gen(function*() {
    const message = `Rerun of run ${runId}.`
    // A retried call after a lost answer finds its own row.
    yield* sql`INSERT INTO taskflow_runs (id, kind, name, flow_run_id, parent_task_run_id, parameters, tags,
        retries, run_count, state_seq, state_type, state_name, state_message, state_timestamp, state_cause,
        created_at, rerun_of)
      SELECT ${id}, kind, name, NULL, NULL, parameters, tags, retries, 0, 1, 'SCHEDULED', 'Scheduled', ${message},
        ${now}, NULL, ${now}, id
      FROM taskflow_runs WHERE id = ${runId}
      ON CONFLICT (id) DO NOTHING`
    const row = yield* readRun(sql, id)
    if (row === undefined) return undefined
    yield* sql`INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
      VALUES (${id}, 1, 'SCHEDULED', 'Scheduled', ${message}, ${now}, NULL) ON CONFLICT DO NOTHING`
    yield* sql.onDialectOrElse({
      pg: () => sql`SELECT pg_notify(${SCHEDULED_CHANNEL}, ${row.name})`,
      orElse: () => Effect.void
    })
    return row
  }).pipe(sql.withTransaction)
