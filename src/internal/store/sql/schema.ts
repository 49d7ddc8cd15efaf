/**
 * The SQL stores' schema: the final state types, the notification channels, and the versioned
 * migrations the library owns.
 * @internal
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/** The final state types: a run in one of them never changes again. */
export const FINAL = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"] as const
/**
 * PostgreSQL channels: runs reached a final state; a run became Scheduled (payload: its name).
 *
 * A final-state payload has one line per run (lines joined by a newline, up to PostgreSQL's
 * 8,000 bytes): its id, or its id, state number and final state as `id TAB seq TAB json` when that
 * fits. One notification per batch of a worker's writes rather than one per run: each one is
 * queued by PostgreSQL, read by every listening session and parsed by every listening process.
 * (The channel was renamed when the payload became a list: a process of an earlier version
 * hears nothing on it and falls back to polling, rather than misreading it.)
 */
export const FINAL_CHANNEL = "taskflow_runs_final"
/** The most a final-state payload holds, in bytes: PostgreSQL refuses 8,000 or more. */
export const NOTICE_BYTES = 7_800
/** See FINAL_CHANNEL. */
export const SCHEDULED_CHANNEL = "taskflow_run_scheduled"
/** A run was asked to cancel (payload: its id): the worker holding it stops it at once. */
export const CANCELLING_CHANNEL = "taskflow_run_cancelling"

// ---------------------------------------------------------------------------------------------
// Migrations: owned by the library, versioned, the same DDL on both dialects
// ---------------------------------------------------------------------------------------------

/** The final state types as a SQL list, the predicate of the index of ended runs (a run's end is its final state's time). */
export const FINAL_SQL_LIST = `(${FINAL.map((type) => `'${type}'`).join(", ")})`

/**
 * Tags are kept in a side table too, one row per run and tag, for the tag filter's index. A trigger
 * writes it in the statement that inserts the runs, whatever inserts them (the creates, a rerun);
 * rows whose tags are not a JSON array of strings (only a hand-edited row) get none.
 */
const tagsTrigger = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    // Once per statement, over the rows it inserted: a `mapDelay` of 500 runs costs one call.
    pg: () =>
      Effect.all([
        sql`CREATE OR REPLACE FUNCTION taskflow_runs_tags() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            INSERT INTO taskflow_run_tags (run_id, tag)
              SELECT DISTINCT n.id, t.tag #>> '{}' FROM taskflow_new_runs n, jsonb_array_elements(
                CASE WHEN jsonb_typeof(n.tags::jsonb) = 'array' THEN n.tags::jsonb ELSE '[]'::jsonb END
              ) AS t (tag)
              WHERE n.tags <> '[]' AND jsonb_typeof(t.tag) = 'string';
            RETURN NULL;
          END $$`,
        sql`CREATE TRIGGER taskflow_runs_tags AFTER INSERT ON taskflow_runs
          REFERENCING NEW TABLE AS taskflow_new_runs FOR EACH STATEMENT EXECUTE FUNCTION taskflow_runs_tags()`
      ], { discard: true }),
    orElse: () =>
      sql`CREATE TRIGGER IF NOT EXISTS taskflow_runs_tags AFTER INSERT ON taskflow_runs
        WHEN NEW.tags <> '[]' AND json_valid(NEW.tags) AND json_type(NEW.tags) = 'array'
        BEGIN
          INSERT OR IGNORE INTO taskflow_run_tags (run_id, tag)
            SELECT NEW.id, value FROM json_each(NEW.tags) WHERE type = 'text';
        END`
  })

/** The tags of the runs created before this migration, in the side table (a page of runs at a time). */
const backfillTags = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    let after = ""
    for (;;) {
      const rows = yield* sql<{ readonly id: string; readonly tags: string }>`SELECT id, tags FROM taskflow_runs
        WHERE id > ${after} AND tags <> '[]' ORDER BY id LIMIT 2000`
      if (rows.length === 0) return
      after = rows[rows.length - 1].id
      const tagRows: Array<{ run_id: string; tag: string }> = []
      for (const row of rows) {
        let tags: unknown
        try {
          tags = JSON.parse(row.tags)
        } catch {
          continue // a corrupt row: the listing reports it
        }
        if (!Array.isArray(tags)) continue
        for (const tag of new Set(tags)) if (typeof tag === "string") tagRows.push({ run_id: row.id, tag })
      }
      // 500 rows (1,000 parameters) a statement: far under both dialects' bound on parameters.
      for (let i = 0; i < tagRows.length; i += 500) {
        yield* sql`INSERT INTO taskflow_run_tags ${sql.insert(tagRows.slice(i, i + 500))} ON CONFLICT DO NOTHING`
      }
    }
  })

/**
 * Migration 4: an index per filter of `listRuns` (each ordered by creation, so a page with a limit
 * reads only its runs), the ended runs' index (prune), the tags' side table, and `rerun_of`.
 */
const runFinding = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.all([
    sql`ALTER TABLE taskflow_runs ADD COLUMN rerun_of TEXT`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_created ON taskflow_runs (created_at, id)`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_name_created ON taskflow_runs (name, created_at, id)`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_state_created ON taskflow_runs (state_type, created_at, id)`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_state_name_created ON taskflow_runs (state_name, created_at, id)`,
    // Flow runs are few: task runs are served by the creation index, flow runs by this small one.
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_flows_created ON taskflow_runs (created_at, id)
      WHERE kind = 'flow'`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_runs_ended ON taskflow_runs (state_timestamp)
      WHERE state_type IN ${sql.literal(FINAL_SQL_LIST)}`,
    // An id prefix is a range of ids: SQLite's primary key compares bytes; PostgreSQL's compares by
    // the database's collation, where a prefix is no range, so a byte-wise index serves it there.
    sql.onDialectOrElse({
      pg: () => sql`CREATE INDEX IF NOT EXISTS taskflow_runs_id_pattern ON taskflow_runs (id text_pattern_ops)`,
      orElse: () => Effect.void
    }),
    sql`CREATE TABLE IF NOT EXISTS taskflow_run_tags (
      run_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      PRIMARY KEY (run_id, tag)
    )`,
    sql`CREATE INDEX IF NOT EXISTS taskflow_run_tags_tag ON taskflow_run_tags (tag, run_id)`,
    tagsTrigger(sql),
    backfillTags(sql)
  ], { discard: true }))

/**
 * The unfinished runs nothing holds, but NotReady ones (over: they never start): the runs the
 * recovery of unleased runs looks for (workerCalls.ts), and the predicate of its partial index.
 * Literals, not parameters: a planner must see that the statement's WHERE implies the index's.
 * @internal
 */
export const UNLEASED_PREDICATE = "state_type IN ('PENDING', 'RUNNING', 'CANCELLING') AND worker_id IS NULL " +
  "AND state_name <> 'NotReady'"

const migrations = {
  "1_runs": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE IF NOT EXISTS taskflow_runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        flow_run_id TEXT,
        parent_task_run_id TEXT,
        parameters TEXT NOT NULL,
        tags TEXT NOT NULL,
        retries INTEGER NOT NULL,
        run_count INTEGER NOT NULL,
        state_seq INTEGER NOT NULL,
        state_type TEXT NOT NULL,
        state_name TEXT NOT NULL,
        state_message TEXT,
        state_timestamp DOUBLE PRECISION NOT NULL,
        state_cause TEXT,
        worker_id TEXT,
        lease_expires_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL
      )`,
      sql`CREATE INDEX IF NOT EXISTS taskflow_runs_scheduled ON taskflow_runs (name, state_timestamp)
        WHERE state_type = 'SCHEDULED'`,
      sql`CREATE INDEX IF NOT EXISTS taskflow_runs_leased ON taskflow_runs (lease_expires_at)
        WHERE worker_id IS NOT NULL`,
      sql`CREATE INDEX IF NOT EXISTS taskflow_runs_flow ON taskflow_runs (flow_run_id)`,
      sql`CREATE TABLE IF NOT EXISTS taskflow_run_states (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        message TEXT,
        timestamp DOUBLE PRECISION NOT NULL,
        cause TEXT,
        PRIMARY KEY (run_id, seq)
      )`,
      // Results live apart from states: reading or polling a state never carries a large result.
      sql`CREATE TABLE IF NOT EXISTS taskflow_results (
        run_id TEXT PRIMARY KEY,
        value TEXT NOT NULL
      )`
    ], { discard: true })),
  // Most task runs are outside any flow: a partial index keeps their rows (and each of their state
  // changes, which write a new row version) out of it.
  "2_flow_index_partial": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`DROP INDEX IF EXISTS taskflow_runs_flow`,
      sql`CREATE INDEX IF NOT EXISTS taskflow_runs_flow_run ON taskflow_runs (flow_run_id)
        WHERE flow_run_id IS NOT NULL`
    ], { discard: true })),
  // The live task workers, a row per name each serves, live until `live_until` by the store's clock
  // (their heartbeats move it on): what a run's `unclaimedFor` is judged by. Rows of workers gone for
  // a minute are deleted by the next worker's heartbeat, so the table holds about the live ones.
  "3_workers": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE IF NOT EXISTS taskflow_workers (
      name TEXT NOT NULL,
      worker_id TEXT NOT NULL,
      live_until DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (name, worker_id)
    )`),
  // Finding runs again (listRuns' filters, prune): see "Finding and pruning runs" in docs/design.md.
  "4_run_finding": runFinding,
  // What runs logged (runLogs.ts): a row per line, numbered per run; read and followed by its key.
  "5_run_logs": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE IF NOT EXISTS taskflow_run_logs (
      run_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      level TEXT NOT NULL,
      message TEXT NOT NULL,
      timestamp DOUBLE PRECISION NOT NULL,
      annotations TEXT NOT NULL,
      spans TEXT NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`),
  // The recovery of unleased runs (workerCalls.ts): rows an older version left, a handful at most.
  // state_type leads: SQLite would rather walk the state index for the IN than this index by time.
  "6_unleased_sweep": Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`CREATE INDEX IF NOT EXISTS taskflow_runs_unleased ON taskflow_runs (state_type, state_timestamp)
      WHERE ${sql.literal(UNLEASED_PREDICATE)}`
  ),
  // The trace a delayed run continues on its worker (RunStore.RunTraceContext, as JSON), and the time
  // of the Scheduled state a claim took (a claim overwrites the state's time): how long it waited.
  "7_trace_context": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`ALTER TABLE taskflow_runs ADD COLUMN trace_context TEXT`,
      sql`ALTER TABLE taskflow_runs ADD COLUMN scheduled_at DOUBLE PRECISION`
    ], { discard: true }))
}

/** The newest migration this version of the library has. */
const LATEST_MIGRATION = Math.max(...Object.keys(migrations).map((key) => Number(key.split("_")[0])))

/**
 * Whether every migration is committed. The Migrator returns at once when another process holds
 * the migration (its "locked" case): on SQLite, which has no table lock to wait on, that other
 * process may not have committed yet, so its tables are not there.
 */
const migrationsCommitted = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ readonly latest: number | null }>`SELECT MAX(migration_id) AS latest FROM taskflow_migrations`
).pipe(Effect.map((rows) => (rows[0]?.latest ?? 0) >= LATEST_MIGRATION))

/** Runs the migrations this process has not seen committed, waiting for another process that runs them. */
export const runMigrations = Migrator.make({})({
  loader: Migrator.fromRecord(migrations),
  table: "taskflow_migrations"
}).pipe(
  Effect.zipRight(migrationsCommitted),
  Effect.filterOrFail(
    (committed) => committed,
    () => new Migrator.MigrationError({ reason: "locked", message: "Another process is running the migrations" })
  ),
  // Two processes starting at once: one migrates, the other waits and finds the work done. On a
  // fresh PostgreSQL schema both may race to create the migrations table itself, and the loser's
  // `CREATE TABLE IF NOT EXISTS` fails on the catalog's unique index: it tries again and finds it.
  Effect.retry({
    while: (error) => error._tag === "MigrationError" ? error.reason === "locked" : isCatalogRace(error),
    schedule: Schedule.spaced("100 millis"),
    times: 50
  })
)

/** A concurrent `CREATE … IF NOT EXISTS` lost to another session: unique_violation or duplicate_table. */
const isCatalogRace = (error: SqlError): boolean => {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return code === "23505" || code === "42P07" || code === "42710"
}
