/**
 * A SQL store's reads: a run, its history, a listing.
 * @internal
 */
import type { SqlClient, Statement } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type { StateRow } from "../../codec/storeCodec.js"
import { decodeState } from "../../codec/storeCodec.js"
import type { Listing } from "../rules.js"
import { encodeCursor, listingOf, notFound, prefixBound, unclaimedWait, withUnclaimedFor } from "../rules.js"
import type { Call } from "./retry.js"
import { checkedStateType, toListedRecord, toRecord } from "./rows.js"
import { FINAL_SQL_LIST } from "./schema.js"
import type { RunRow } from "./statements.js"

/** A run's row with its result, if there is such a run. */
export const readRun = (sql: SqlClient.SqlClient, runId: string) =>
  Effect.map(
    sql<RunRow>`SELECT r.*, res.value AS result FROM taskflow_runs r
      LEFT JOIN taskflow_results res ON res.run_id = r.id WHERE r.id = ${runId}`,
    (rows) => rows[0] as RunRow | undefined
  )

/**
 * Adds `unclaimedFor` to the records of runs Scheduled for `unclaimedAfter` ms or more whose name no
 * live task worker serves: one look-up by name (the workers table's key) per such name, and none
 * for runs that are not waiting.
 */
const makeUnclaimed = (sql: SqlClient.SqlClient, { storeNow, unclaimedAfter }: ReadOptions) => {
  const now = sql.literal(storeNow)
  return (records: ReadonlyArray<RunStore_.RunRecord>) =>
    Effect.gen(function*() {
      const millis = yield* Clock.currentTimeMillis
      const served = new Map<string, boolean>()
      const out: Array<RunStore_.RunRecord> = []
      for (const record of records) {
        const waited = unclaimedWait(record, millis, unclaimedAfter)
        let serves = waited === undefined || served.get(record.name)
        if (serves === undefined) {
          const live = yield* sql`SELECT 1 AS live FROM taskflow_workers
            WHERE name = ${record.name} AND live_until > ${now} LIMIT 1`
          served.set(record.name, serves = live.length > 0)
        }
        out.push(serves ? record : withUnclaimedFor(record, waited!))
      }
      return out
    })
}

/** What the reads need besides the client and the call. */
export interface ReadOptions {
  /** The store's clock, as SQL (the dialect's `storeNow`). */
  readonly storeNow: string
  /** See `SqlOptions.unclaimedAfter`, in milliseconds. */
  readonly unclaimedAfter: number
}

/** The store's reads, each through `call` (it reconnects). */
export const makeReads = (sql: SqlClient.SqlClient, call: Call, options: ReadOptions) => ({
  getRun: (runId: string) =>
    call(
      `read run ${runId}`,
      Effect.flatMap(
        readRun(sql, runId),
        (row): Effect.Effect<RunStore_.RunRecord, Errors.RunNotFound | Errors.SerializationError | SqlError> =>
          row === undefined
            ? Effect.fail(notFound(runId))
            : Effect.flatMap(toRecord(row), (record) =>
              Effect.map(makeUnclaimed(sql, options)([record]), (records) => records[0]!))
      )
    ),
  getHistory: (runId: string) =>
    call(
      `read the history of run ${runId}`,
      Effect.gen(function*() {
        const run = yield* readRun(sql, runId)
        if (run === undefined) return yield* Effect.fail(notFound(runId))
        const rows = yield* sql<StateRow & { seq: number }>`SELECT * FROM taskflow_run_states
          WHERE run_id = ${runId} ORDER BY seq`
        return yield* Effect.forEach(rows, (row) =>
          Either.match(
            Either.flatMap(
              checkedStateType(runId, row.type, "history's type"),
              () => decodeState(run.name, runId, row, row.type === "COMPLETED" ? run.result : null)
            ),
            {
              onLeft: Effect.fail,
              onRight: Effect.succeed
            }
          ))
      })
    ),
  listRunsPage: (filter?: RunStore_.RunFilter) =>
    call(
      "list runs",
      Effect.gen(function*() {
        const listing = listingOf(filter)
        if (listing.empty) return { runs: [], next: undefined }
        const rows = yield* listingStatement(sql, filter, listing)
        const more = listing.limit !== undefined && rows.length > listing.limit
        const runs = yield* makeUnclaimed(sql, options)(
          (more ? rows.slice(0, listing.limit) : rows).map(toListedRecord)
        )
        return { runs, next: more ? encodeCursor(runs[runs.length - 1], listing.newestFirst) : undefined }
      })
    )
})

/**
 * A listing's query: the page's rows (one more than `limit`, which says whether a next page
 * exists), with their results. Exported for the planner tests, which EXPLAIN it.
 */
export const listingStatement = (
  sql: SqlClient.SqlClient,
  filter: RunStore_.RunFilter | undefined,
  listing: Listing
) => {
  const direction = sql.literal(listing.newestFirst ? "DESC" : "ASC")
  const clauses = listingClauses(sql, filter, listing)
  return sql<RunRow>`SELECT r.*, res.value AS result FROM ${runsFrom(sql, listing)}
    LEFT JOIN taskflow_results res ON res.run_id = r.id
    ${clauses.length === 0 ? sql`` : sql`WHERE ${sql.and(clauses)}`}
    ORDER BY r.created_at ${direction}, r.id ${direction}
    ${listing.limit === undefined ? sql`` : sql`LIMIT ${listing.limit + 1}`}`
}

/**
 * The runs table, as `r`, for a listing or a count. On SQLite, "ended after" is read through the
 * ended runs' index: without statistics the planner may take the state types' index instead, and
 * walk every final run (PostgreSQL's planner has statistics).
 */
export const runsFrom = (sql: SqlClient.SqlClient, listing: Listing) =>
  listing.endedAfter === undefined
    ? sql`taskflow_runs r`
    : sql.onDialectOrElse({
      sqlite: () => sql`taskflow_runs r INDEXED BY taskflow_runs_ended`,
      orElse: () => sql`taskflow_runs r`
    })

/** The WHERE clauses of a listing (and of a count): each one an index serves (migration 4_run_finding). */
export const listingClauses = (sql: SqlClient.SqlClient, filter: RunStore_.RunFilter | undefined, listing: Listing) => {
  const clauses: Array<Statement.Fragment> = []
  // As literals, so a generic plan still sees the partial indexes' predicates.
  if (filter?.kind !== undefined) {
    clauses.push(sql`r.kind = ${sql.literal(filter.kind === "flow" ? "'flow'" : "'task'")}`)
  }
  if (filter?.flowRunId !== undefined) clauses.push(sql`r.flow_run_id = ${filter.flowRunId}`)
  if (filter?.name !== undefined) clauses.push(sql`r.name = ${filter.name}`)
  if (listing.stateTypes !== undefined) clauses.push(sql.in("r.state_type", listing.stateTypes))
  if (listing.stateNames !== undefined) clauses.push(sql.in("r.state_name", listing.stateNames))
  if (filter?.tag !== undefined) {
    clauses.push(sql`r.id IN (SELECT t.run_id FROM taskflow_run_tags t WHERE t.tag = ${filter.tag})`)
  }
  if (filter?.idPrefix !== undefined && filter.idPrefix !== "") clauses.push(idPrefixClause(sql, filter.idPrefix))
  if (listing.createdAfter !== undefined) clauses.push(sql`r.created_at >= ${listing.createdAfter}`)
  if (listing.createdBefore !== undefined) clauses.push(sql`r.created_at < ${listing.createdBefore}`)
  if (listing.endedAfter !== undefined || listing.endedBefore !== undefined) {
    clauses.push(sql`r.state_type IN ${sql.literal(FINAL_SQL_LIST)}`)
    if (listing.endedAfter !== undefined) clauses.push(sql`r.state_timestamp >= ${listing.endedAfter}`)
    if (listing.endedBefore !== undefined) clauses.push(sql`r.state_timestamp < ${listing.endedBefore}`)
  }
  if (listing.after !== undefined) {
    const { createdAt, id } = listing.after
    clauses.push(
      listing.newestFirst
        ? sql`(r.created_at, r.id) < (${createdAt}, ${id})`
        : sql`(r.created_at, r.id) > (${createdAt}, ${id})`
    )
  }
  return clauses
}

/** Ids that start with `prefix`, as a range of ids (by bytes, as an index of them orders them). */
const idPrefixClause = (sql: SqlClient.SqlClient, prefix: string) => {
  const bound = prefixBound(prefix)
  return sql.onDialectOrElse({
    // text_pattern_ops's operators: byte-wise, whatever the database's collation.
    pg: () => bound === undefined ? sql`r.id ~>=~ ${prefix}` : sql`r.id ~>=~ ${prefix} AND r.id ~<~ ${bound}`,
    orElse: () => bound === undefined ? sql`r.id >= ${prefix}` : sql`r.id >= ${prefix} AND r.id < ${bound}`
  })
}
