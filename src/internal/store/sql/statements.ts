/**
 * The SQL stores' hot statements, as fixed texts: PostgreSQL runs them as named prepared
 * statements, SQLite through its statement cache.
 * @internal
 */
import type { StateRow } from "../../codec/storeCodec.js"
import { CANCELLING_CHANNEL, FINAL, FINAL_CHANNEL, SCHEDULED_CHANNEL } from "./schema.js"

// ---------------------------------------------------------------------------------------------
// The hot PostgreSQL statements: fixed texts, run as prepared statements (see `prepared`)
// ---------------------------------------------------------------------------------------------

/**
 * The store's clock, in milliseconds since the epoch, as SQL: leases are set and judged by it, never
 * by the clocks of the workers' machines, which may be minutes apart (a worker whose clock ran behind
 * would lose its runs to another while it still ran them; one ahead would hold a dead worker's runs
 * for as long). On SQLite every process shares one machine, and so its clock.
 */
export const STORE_NOW_PG = "(extract(epoch FROM clock_timestamp()) * 1000)::float8"
/** See STORE_NOW_PG. */
export const STORE_NOW_SQLITE = "(unixepoch('subsec') * 1000)"

const FINAL_LIST = `(${FINAL.map((type) => `'${type}'`).join(", ")})`

/** The columns of a new run, in the order CREATE_RUNS takes them as arrays. */
export const CREATE_COLUMNS = [
  "id",
  "kind",
  "name",
  "flow_run_id",
  "parent_task_run_id",
  "parameters",
  "tags",
  "retries",
  "run_count",
  "state_seq",
  "state_type",
  "state_name",
  "state_message",
  "state_timestamp",
  "state_cause",
  "created_at",
  "trace_context",
  "worker_id",
  "lease_expires_at"
] as const

/**
 * Inserts new runs from `rows` (a query of the CREATE_COLUMNS, in their order, `lease_expires_at` as
 * a lease in ms from now by the store's clock, or null: see `makeNewRow`), with their first
 * history row and one NOTIFY per task name scheduled; a retried insert finds its own rows. (The
 * history insert runs whether or not it is read: it is a data-modifying CTE.)
 */
const createRuns = (rows: string) =>
  `WITH ins AS (
    INSERT INTO taskflow_runs (${CREATE_COLUMNS.join(", ")})
    SELECT ${CREATE_COLUMNS.slice(0, -1).join(", ")}, ${STORE_NOW_PG} + lease_expires_at
    FROM (${rows}) AS n (${CREATE_COLUMNS.join(", ")})
    ON CONFLICT (id) DO NOTHING
    RETURNING id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause, name
  ),
  h AS (
    INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
    SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause FROM ins
  ),
  n AS (
    SELECT pg_notify('${SCHEDULED_CHANNEL}', name)
    FROM (SELECT DISTINCT name FROM ins WHERE state_type = 'SCHEDULED') AS names
  )
  SELECT (SELECT COUNT(*) FROM n) AS notified`

/** New runs, one array per column of CREATE_COLUMNS. */
export const CREATE_RUNS = createRuns(
  `SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
      $8::int[], $9::int[], $10::int[], $11::text[], $12::text[], $13::text[], $14::float8[], $15::text[], $16::float8[],
      $17::text[], $18::text[], $19::float8[])`
)

/** The columns CREATE_RUNS_ALIKE takes once for the whole batch: all but the id and the parameters. */
export const SHARED_COLUMNS = CREATE_COLUMNS.filter((column) => column !== "id" && column !== "parameters")

/**
 * CREATE_RUNS for a batch whose runs differ only in their ids and parameters (a `mapDelay`): those
 * two as arrays, every other column once ($3–$19, in SHARED_COLUMNS's order). Two arrays to encode
 * and parse rather than nineteen.
 */
export const CREATE_RUNS_ALIKE = createRuns(
  `SELECT u.id, $3::text, $4::text, $5::text, $6::text, u.parameters, $7::text, $8::int, $9::int, $10::int,
      $11::text, $12::text, $13::text, $14::float8, $15::text, $16::float8, $17::text, $18::text, $19::float8
    FROM unnest($1::text[], $2::text[]) AS u (id, parameters)`
)

/**
 * The planner settings of a PostgreSQL store's connections, sent on each before its first hot
 * statement (see `makePrepared` in prepared.ts).
 *
 * Why: PostgreSQL's default (`plan_cache_mode = auto`) moves a prepared statement to a generic plan
 * after five executions, planned on the table as it was then (a new store's, nearly empty, where
 * reading it whole looks cheapest) and kept for the connection's life, so each write-and-claim read
 * the whole table, a cost that grows with it (docs/design.md, "PostgreSQL statements and planner
 * settings"). With these, each plan left reads the runs it writes by index or by position, whatever
 * the table's size and statistics; the store's other statements on the connection prefer indexes
 * too. `plan_cache_mode` comes last, on its own: a server older than PostgreSQL 12 does not know it,
 * and the settings before it still apply there.
 */
export const PLANNER_SETTINGS = [
  "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off",
  "SET plan_cache_mode = force_generic_plan"
] as const

/**
 * A claim, on both dialects: Scheduled → Pending → Running in one write (the worker starts the body
 * at once, so the claim records both, one commit less per run); the attempt's run count is taken here.
 * The arguments are the SQL of the claim's time, the worker's id and the lease's end.
 */
const claimSet = (at: string, worker: string, leaseEnd: string) =>
  // scheduled_at reads the Scheduled state's time before this write replaces it (SET reads the old row).
  `scheduled_at = state_timestamp, state_type = 'RUNNING', state_name = CASE WHEN run_count = 0 THEN 'Running' ELSE 'Retrying' END,
    state_message = NULL, state_timestamp = ${at}, state_cause = NULL, state_seq = state_seq + 2,
    run_count = run_count + 1, worker_id = ${worker}, lease_expires_at = ${leaseEnd}`

/** The two history rows (Pending, Running) of the claimed runs in `claimed` (a table and its filter). */
const claimHistory = (claimed: string) =>
  `INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
    SELECT id, state_seq - 1, 'PENDING', 'Pending', NULL, state_timestamp, NULL FROM ${claimed}
    UNION ALL
    SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause FROM ${claimed}`

/**
 * The UPDATE of a claim on PostgreSQL: up to `limit` Scheduled runs of the `names` (SQL of a text
 * array), oldest first, for `worker` at time `at` with a lease of `lease` ms, never one of the ids
 * in `except` (SQL of a text array). Rows locked by another claimer are skipped, never waited for
 * or taken twice.
 *
 * The picked rows are updated by their position (`ctid`, stable while this statement holds their
 * row locks), and by nothing else: the only plans left are a TID scan and a sequential scan, which
 * PLANNER_SETTINGS rules out (with `id IN (…)` or the Scheduled conditions repeated, the planner
 * could scan a whole table or index; docs/design.md tells how). The conditions need no second
 * check: the picking locked each row with them checked on its newest version, and a locked row
 * cannot change. A run changed after this statement's snapshot and still Scheduled is left for the
 * next claim.
 */
const claimUpdate = (names: string, limit: string, at: string, worker: string, lease: string, except: string) =>
  `UPDATE taskflow_runs SET ${claimSet(at, worker, `${STORE_NOW_PG} + ${lease}`)}
    WHERE ctid = ANY(ARRAY(
      -- Per name, so each reads its index in order: with "name = ANY(...)" a prepared plan sorts
      -- every Scheduled run of the names to keep the limit of them.
      SELECT picked.ctid FROM unnest(${names}) AS served (name)
      CROSS JOIN LATERAL (
        SELECT ctid, state_timestamp FROM taskflow_runs
        WHERE name = served.name AND state_type = 'SCHEDULED' AND worker_id IS NULL AND id <> ALL(${except})
        ORDER BY state_timestamp LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) AS picked
      ORDER BY picked.state_timestamp LIMIT ${limit}
    ))
    RETURNING *`

/**
 * Claims up to $2 Scheduled runs of the names $1 for worker $4 at time $3 with a lease of $5 ms.
 * Returns one row: `claimed`, the claimed rows as a JSON array (null when none). One row rather than
 * one per run: the driver's work per row costs more than one JSON parse. (A data-modifying CTE
 * runs whether or not the query reads it.)
 */
export const CLAIM_RUNS = `WITH u AS (${
  claimUpdate("$1::text[]", "$2::int", "$3::float8", "$4::text", "$5::float8", "'{}'::text[]")
}),
  h AS (${claimHistory("u")})
  SELECT json_agg(u) AS claimed FROM u`

/** A statement text per number of task names, built once: a worker claims with the same names each time. */
const byNameCount = (build: (count: number) => string) => {
  const texts = new Map<number, string>()
  return (count: number): string => {
    let text = texts.get(count)
    if (text === undefined) {
      text = build(count)
      texts.set(count, text)
    }
    return text
  }
}

const pickText = (count: number) =>
  `SELECT id FROM (${
    Array.from({ length: count }, () =>
      `SELECT * FROM (SELECT id, state_timestamp FROM taskflow_runs
        WHERE name = ? AND state_type = 'SCHEDULED' AND worker_id IS NULL ORDER BY state_timestamp LIMIT ?)`).join(
        " UNION ALL "
      )
  }) ORDER BY state_timestamp LIMIT ?`

/**
 * The Scheduled runs of `count` task names, oldest first (SQLite). Parameters: each name with its
 * limit, then the limit of the whole. One branch per name, so each reads its index in order: with
 * `name IN (...)` SQLite reads every Scheduled run of the names and sorts them to keep a few.
 */
export const pickSqlite = byNameCount(pickText)

/** pickSqlite's parameters. */
export const pickParameters = (names: ReadonlyArray<string>, limit: number) => [
  ...names.flatMap((name) => [name, limit]),
  limit
]

/** CLAIM_RUNS on SQLite, inside a transaction: claim time, worker, lease (ms), then pickSqlite's. */
export const claimSqliteText = byNameCount((count) =>
  `UPDATE taskflow_runs SET ${claimSet("?", "?", `${STORE_NOW_SQLITE} + ?`)}
  WHERE id IN (${pickText(count)}) AND state_type = 'SCHEDULED' AND worker_id IS NULL
  RETURNING *`
)

/** CLAIM_RUNS's history on SQLite: both parameters are the same JSON array of the claimed ids. */
export const CLAIM_HISTORY_SQLITE = claimHistory("taskflow_runs WHERE id IN (SELECT value FROM json_each(?))")

/**
 * A state change of run `r` to the move `m` (id, type, name, message, ts, cause, run_count, worker,
 * unheld, lease_before, final, releases, given_back, attempt), on both dialects: the new columns, and the
 * guards that enforce the orchestration rules in SQL (so two writers cannot both pass). A give-back
 * takes a Running run's count back one on the row as it is when written, not as it was read: an
 * attempt's AwaitingRetry that lands between the give-back's read and its write keeps its count.
 */
const moveSet = (r: string, m: string) =>
  `state_type = ${m}.type, state_name = ${m}.name, state_message = ${m}.message,
    state_timestamp = ${m}.ts, state_cause = ${m}.cause, state_seq = ${r}.state_seq + 1,
    run_count = CASE WHEN ${m}.given_back AND ${r}.state_type = 'RUNNING' AND ${r}.run_count > 0
      THEN ${r}.run_count - 1 ELSE COALESCE(${m}.run_count, ${r}.run_count) END,
    worker_id = CASE WHEN ${m}.releases THEN NULL ELSE ${r}.worker_id END,
    lease_expires_at = CASE WHEN ${m}.releases THEN NULL ELSE ${r}.lease_expires_at END`
const moveGuards = (r: string, m: string) =>
  `${r}.id = ${m}.id AND ${r}.state_type NOT IN ${FINAL_LIST}
    AND (${m}.final OR ${r}.state_type <> 'CANCELLING')
    AND (${m}.worker IS NULL OR ${r}.worker_id = ${m}.worker)
    AND (NOT ${m}.unheld OR ${r}.worker_id IS NULL)
    AND (${m}.lease_before IS NULL OR ${r}.lease_expires_at < ${m}.lease_before)
    AND (${m}.attempt IS NULL OR ${r}.run_count = ${m}.attempt)`

/**
 * A batch of guarded state changes (one array per column; `chunk` numbers the final-state
 * notification each run's line goes in): the guarded update, then the history rows, the results
 * and the notifications. Ends with the CTE `n`, which must be read to run (it
 * is a query; the data-modifying CTEs run whether or not they are read).
 */
const WRITE_STATES_CTES = `WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[],
      $8::int[], $9::text[], $10::boolean[], $11::float8[], $12::boolean[], $13::boolean[], $14::text[], $15::int[],
      $16::boolean[], $17::int[])
      AS v (id, type, name, message, ts, cause, result, run_count, worker, unheld, lease_before, final, releases, notice,
        chunk, given_back, attempt)
  ),
  u AS (
    UPDATE taskflow_runs r SET ${moveSet("r", "v")}
    FROM v
    WHERE ${moveGuards("r", "v")}
    RETURNING r.id, r.name, r.state_seq, r.state_type, r.state_name, r.state_message, r.state_timestamp,
      r.state_cause, v.result, v.final, v.releases, v.notice, v.chunk
  ),
  h AS (
    INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
    SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause FROM u
  ),
  res AS (INSERT INTO taskflow_results (run_id, value) SELECT id, result FROM u WHERE result IS NOT NULL),
  n AS (
    SELECT pg_notify('${FINAL_CHANNEL}', string_agg(CASE WHEN notice IS NULL THEN id
      ELSE id || chr(9) || state_seq || chr(9) || notice END, chr(10))) FROM u WHERE final GROUP BY chunk
    UNION ALL SELECT pg_notify('${SCHEDULED_CHANNEL}', name) FROM u WHERE releases AND state_type = 'SCHEDULED'
    UNION ALL SELECT pg_notify('${CANCELLING_CHANNEL}', id) FROM u WHERE state_type = 'CANCELLING'
  )`

/** A batch of guarded state changes (WRITE_STATES_CTES). Returns one row: `moved`, the ids moved as a JSON array (null when none). */
export const WRITE_STATES = `${WRITE_STATES_CTES}
  SELECT (SELECT json_agg(id) FROM u) AS moved, (SELECT COUNT(*) FROM n) AS notified`

/**
 * WRITE_STATES, then a claim in the same statement and commit: a busy worker's finished runs and
 * its next runs in one round trip. $18–$22 are CLAIM_RUNS's $1–$5. The claim skips the rows this
 * statement moves (a row updated twice in one statement keeps only one of the updates). Returns
 * one row: `moved` as in WRITE_STATES, `claimed` as in CLAIM_RUNS.
 */
export const WRITE_STATES_AND_CLAIM = `${WRITE_STATES_CTES},
  c AS (${claimUpdate("$18::text[]", "$19::int", "$20::float8", "$21::text", "$22::float8", "$1::text[]")}),
  ch AS (${claimHistory("c")})
  SELECT (SELECT json_agg(id) FROM u) AS moved, (SELECT json_agg(c) FROM c) AS claimed,
    (SELECT COUNT(*) FROM n) AS notified`

/** WRITE_STATES on SQLite: $1 is a JSON array of moves, each an array in the order `writeBatch` in sqlite.ts builds. */
export const WRITE_STATES_SQLITE = `UPDATE taskflow_runs AS r SET ${moveSet("r", "m")}
  FROM (
    SELECT value ->> 0 AS id, value ->> 1 AS type, value ->> 2 AS name, value ->> 3 AS message,
      value ->> 4 AS ts, value ->> 5 AS cause, value ->> 6 AS run_count, value ->> 7 AS worker,
      value ->> 8 AS unheld, value ->> 9 AS lease_before, value ->> 10 AS final, value ->> 11 AS releases,
      value ->> 12 AS given_back, value ->> 13 AS attempt
    FROM json_each(?)
  ) AS m
  WHERE ${moveGuards("r", "m")}
  RETURNING id`

/** The history rows of the runs just moved ($1: a JSON array of their ids). */
export const RECORD_STATES_SQLITE =
  `INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
  SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause
  FROM taskflow_runs WHERE id IN (SELECT value FROM json_each(?))`

/** The results of the runs just completed ($1: a JSON array of [id, encoded result]). */
export const KEEP_RESULTS_SQLITE = `INSERT INTO taskflow_results (run_id, value)
  SELECT value ->> 0, value ->> 1 FROM json_each(?)`

/**
 * SQLite's change poll: the history rows written since rowid $1, in commit order, with each run's
 * task name and, for a Completed state, its result when small (has_result says whether one was kept).
 */
export const CHANGES_SQLITE = `SELECT h.rowid, h.run_id, h.seq, h.type, h.name, h.message, h.timestamp, h.cause,
    r.name AS run_name, res.run_id IS NOT NULL AS has_result,
    CASE WHEN octet_length(res.value) <= 4000 THEN res.value END AS result
  FROM taskflow_run_states h
  JOIN taskflow_runs r ON r.id = h.run_id
  LEFT JOIN taskflow_results res ON h.type = 'COMPLETED' AND res.run_id = h.run_id
  WHERE h.rowid > ? ORDER BY h.rowid LIMIT 5000`

/**
 * SQLite's look for cancels asked in other processes: the Cancelling states written since rowid $1,
 * and the newest history row (whatever its type), so the cursor moves past what was looked at.
 */
export const CANCELS_SQLITE = `SELECT rowid, run_id, type FROM taskflow_run_states
  WHERE rowid > ? AND (type = 'CANCELLING' OR rowid = (SELECT MAX(rowid) FROM taskflow_run_states))`

/** A row of CANCELS_SQLITE. */
export interface CancelRow {
  readonly rowid: number
  readonly run_id: string
  readonly type: string
}

/** A row of `taskflow_runs` as the driver returns it (with the result, where a query joins it). */
export interface RunRow {
  readonly id: string
  readonly kind: string
  readonly name: string
  readonly flow_run_id: string | null
  readonly parent_task_run_id: string | null
  readonly parameters: string
  readonly tags: string
  readonly retries: number
  readonly run_count: number
  readonly state_seq: number
  readonly state_type: string
  readonly state_name: string
  readonly state_message: string | null
  readonly state_timestamp: number
  readonly state_cause: string | null
  readonly worker_id: string | null
  readonly lease_expires_at: number | null
  readonly created_at: number
  /** RunStore.RunTraceContext as JSON (migration 7; absent from rows read before it). */
  readonly trace_context?: string | null
  /** The time of the Scheduled state the last claim took (migration 7). */
  readonly scheduled_at?: number | null
  readonly result?: string | null
}

/** A row of CHANGES_SQLITE. */
export interface ChangeRow extends StateRow {
  readonly rowid: number
  readonly run_id: string
  readonly seq: number
  readonly run_name: string
  readonly has_result: number
  readonly result: string | null
}
