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
import type { Pruning } from "../rules.js"
import { countingOf, FINAL_TYPES, notFound, pruningOf } from "../rules.js"
import { listingClauses, readRun } from "./reads.js"
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

/**
 * A count's statement: one grouped COUNT over the rows the filter's clauses find (exported for the
 * planner tests).
 */
export const countingStatement = (sql: SqlClient.SqlClient, filter: RunStore_.RunFilter | undefined) => {
  const clauses = listingClauses(sql, filter, countingOf(filter))
  return sql<{ name: string; kind: string; state_type: string; count: number | string }>`SELECT r.name, r.kind,
    r.state_type, COUNT(*) AS count FROM taskflow_runs r
    ${clauses.length === 0 ? sql`` : sql`WHERE ${sql.and(clauses)}`}
    GROUP BY r.name, r.kind, r.state_type`
}

/** The store's `prune`, `countPrunable`, `countRuns` and `rerun`. */
export const makeFinding = (
  { call, sql, subscriptions }: {
    readonly sql: SqlClient.SqlClient
    readonly call: Call
    readonly subscriptions: Subscriptions
  }
): Pick<RunStore_.Service, "prune" | "countPrunable" | "countRuns" | "rerun"> => ({
  countRuns: (filter) =>
    Effect.suspend(() => {
      if (countingOf(filter).empty) return Effect.succeed([])
      return Effect.map(
        call("count runs", countingStatement(sql, filter)),
        (rows) =>
          // A corrupt row's state type is not a state type: it is not counted.
          rows.filter((row) => STATE_TYPES.has(row.state_type)).map((row): RunStore_.RunCount => ({
            name: row.name,
            kind: row.kind as RunStore_.RunKind,
            stateType: row.state_type as State.StateType,
            count: Number(row.count)
          }))
      )
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
