/**
 * A SQL store's run logs: the statements that write a batch of lines (each numbered after its run's
 * last line, in the statement itself, so a run retried on another worker goes on numbering), the
 * read, and the notification that tells other processes' followers which runs logged.
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import { notFound } from "../rules.js"
import type { LevelLabel } from "../runLogs.js"
import { logRange } from "../runLogs.js"
import type { Call } from "./retry.js"
import type { BatchLine } from "./writer.js"

/** PostgreSQL channel: runs logged lines (payload: their ids, comma-separated; empty: too many to list). */
export const LOGS_CHANNEL = "taskflow_run_logs"
/** The most run ids a notification lists (37 bytes each, under PostgreSQL's 8,000-byte payload). */
const NOTICE_IDS = 180

/** A line's row. */
interface LogRow {
  readonly run_id: string
  readonly seq: number | string
  readonly level: string
  readonly message: string
  readonly timestamp: number | string
  readonly annotations: string
  readonly spans: string
}

const LOG_COLUMNS = "run_id, seq, level, message, timestamp, annotations, spans"

/** The SQL of a line's seq: the run's last one in the store (before this statement), plus its ordinal. */
const seqAfterLast = (runId: string, ordinal: string) =>
  `COALESCE((SELECT MAX(l.seq) FROM taskflow_run_logs l WHERE l.run_id = ${runId}), 0) + ${ordinal}`

/**
 * PostgreSQL: the lines as one array per column, numbered, and one notification listing the runs.
 * Two writers of one run at once (a run's old worker still running while recovered elsewhere) may
 * pick the same seqs: the second's lines are then dropped, not the batch.
 * @internal
 */
export const WRITE_LOGS_PG = `WITH u AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[])
      AS u (run_id, ordinal, level, message, timestamp, annotations, spans)
  ),
  ins AS (
    INSERT INTO taskflow_run_logs (${LOG_COLUMNS})
    SELECT u.run_id, ${seqAfterLast("u.run_id", "u.ordinal")}, u.level, u.message, u.timestamp, u.annotations, u.spans
    FROM u
    ON CONFLICT (run_id, seq) DO NOTHING
    RETURNING run_id
  ),
  ids AS (SELECT DISTINCT run_id FROM ins)
  SELECT pg_notify('${LOGS_CHANNEL}',
    CASE WHEN COUNT(*) <= ${NOTICE_IDS} THEN string_agg(run_id, ',') ELSE '' END) AS notified
  FROM ids HAVING COUNT(*) > 0`

/** The arrays of WRITE_LOGS_PG. @internal */
export const pgLogParameters = (lines: ReadonlyArray<BatchLine>): ReadonlyArray<unknown> => [
  lines.map((line) => line.runId),
  lines.map((line) => line.ordinal),
  lines.map((line) => line.level),
  lines.map((line) => line.message),
  lines.map((line) => line.timestamp),
  lines.map((line) => JSON.stringify(line.annotations)),
  lines.map((line) => JSON.stringify(line.spans))
]

/** SQLite: the lines as one JSON array, numbered (inside the writer's transaction, one writer at a time). @internal */
export const WRITE_LOGS_SQLITE = `INSERT INTO taskflow_run_logs (${LOG_COLUMNS})
  SELECT j.value ->> 0, ${seqAfterLast("j.value ->> 0", "(j.value ->> 1)")}, j.value ->> 2, j.value ->> 3,
    j.value ->> 4, j.value ->> 5, j.value ->> 6
  FROM json_each(?) AS j
  ORDER BY j.key`

/** The JSON parameter of WRITE_LOGS_SQLITE. @internal */
export const sqliteLogParameter = (lines: ReadonlyArray<BatchLine>): string =>
  JSON.stringify(lines.map((line) => [
    line.runId,
    line.ordinal,
    line.level,
    line.message,
    line.timestamp,
    JSON.stringify(line.annotations),
    JSON.stringify(line.spans)
  ]))

/** The run ids of a LOGS_CHANNEL payload; undefined: any run may have logged. @internal */
export const logNoticeIds = (payload: string): ReadonlyArray<string> | undefined =>
  payload === "" ? undefined : payload.split(",")

const toRunLog = (row: LogRow): RunStore_.RunLog => {
  const spans = JSON.parse(row.spans) as ReadonlyArray<{ readonly label: string; readonly startTime: number }>
  return {
    runId: row.run_id,
    seq: Number(row.seq),
    level: row.level as LevelLabel,
    message: row.message,
    timestamp: new Date(Number(row.timestamp)),
    annotations: JSON.parse(row.annotations) as Record<string, string>,
    spans: spans.map((span) => ({ label: span.label, startTime: new Date(span.startTime) }))
  }
}

/** `getLogs` of a SQL store: by the primary key, (run_id, seq). @internal */
export const makeGetLogs = (sql: SqlClient.SqlClient, call: Call): RunStore_.Service["getLogs"] => (runId, options) =>
  Effect.suspend(() => {
    const { after, limit } = logRange(options)
    return call(
      `read the logs of run ${runId}`,
      Effect.gen(function*() {
        const rows = limit === 0 ? [] : yield* sql<LogRow>`SELECT ${sql.literal(LOG_COLUMNS)} FROM taskflow_run_logs
          WHERE run_id = ${runId} AND seq > ${after} ORDER BY seq
          ${limit === Number.POSITIVE_INFINITY ? sql`` : sql`LIMIT ${limit}`}`
        if (rows.length === 0) {
          const run = yield* sql`SELECT 1 AS found FROM taskflow_runs WHERE id = ${runId}`
          if (run.length === 0) return yield* Effect.fail(notFound(runId))
        }
        return rows.map(toRunLog)
      }) as Effect.Effect<ReadonlyArray<RunStore_.RunLog>, Errors.RunNotFound | SqlError>
    )
  })
