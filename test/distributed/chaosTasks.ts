/**
 * Tasks for the chaos test (chaos.test.ts), and its execution log: each body writes a row to
 * `chaos_exec` in the store's own database when it starts and again when it ends (its finalizer), so
 * "none twice at once" is judged afterwards from what the workers wrote. A body killed by SIGKILL
 * leaves its row without an end; the test records each kill's time in `chaos_kills`.
 *
 * Light to load (Effect's modules by path, the one database driver it needs, loaded when first
 * used): under load a worker's start-up takes seconds, and the test replaces a worker every ~2 s.
 */
import * as Task from "effect-taskflow/Task"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { setTimeout as sleep } from "node:timers/promises"
import { currentTaskRunId } from "../../src/internal/core/currentRun.js"
import type { Target } from "./tasks.js"

/** What a run is asked to do: sleep `ms`, after failing its first `fail` attempts (typed failures). */
export interface Plan {
  readonly key: string
  readonly ms: number
  readonly fail: number
}

export class ChaosFailure extends Schema.TaggedError<ChaosFailure>()("ChaosFailure", {
  key: Schema.String,
  attempt: Schema.Number
}) {}

const ddl = [
  `CREATE TABLE IF NOT EXISTS chaos_exec (
    exec_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    attempt INTEGER,
    worker TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    outcome TEXT,
    began_at DOUBLE PRECISION
  )`,
  "CREATE INDEX IF NOT EXISTS chaos_exec_run ON chaos_exec (run_id)",
  "CREATE TABLE IF NOT EXISTS chaos_stalls (worker TEXT NOT NULL, from_at DOUBLE PRECISION NOT NULL, to_at DOUBLE PRECISION NOT NULL)",
  "CREATE TABLE IF NOT EXISTS chaos_kills (worker TEXT PRIMARY KEY, killed_at DOUBLE PRECISION NOT NULL, signal TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS chaos_plan (run_id TEXT PRIMARY KEY, run_key TEXT NOT NULL, task TEXT NOT NULL, retries INTEGER NOT NULL, fail INTEGER NOT NULL)"
]

/** A connection to the target's database, the same SQL on both: `?` placeholders, rows as objects. */
export interface ChaosDb {
  readonly query: <Row = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Promise<ReadonlyArray<Row>>
  readonly close: () => Promise<void>
}

const isBusy = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error &&
  (error.code === "SQLITE_BUSY" || error.code === "SQLITE_BUSY_SNAPSHOT")

/**
 * Opens the chaos tables of a target. On SQLite the connection never waits for the file's lock in a
 * busy loop (which would block the worker's event loop, heartbeats included, and could wait on a
 * transaction its own process holds): a busy statement is tried again after a pause.
 */
export const openChaosDb = async (target: Target): Promise<ChaosDb> => {
  if (target.kind === "sqlite") {
    const { default: Database } = await import("better-sqlite3")
    const db = new Database(target.location, { timeout: 0 })
    const run = async <A>(f: () => A): Promise<A> => {
      for (let pause = 1;; pause = Math.min(pause * 2, 20)) {
        try {
          return f()
        } catch (error) {
          if (!isBusy(error)) throw error
          await sleep(pause)
        }
      }
    }
    await run(() => db.pragma("journal_mode = WAL"))
    db.pragma("synchronous = NORMAL")
    for (const statement of ddl) await run(() => db.exec(statement))
    return {
      query: <Row>(sql: string, params: ReadonlyArray<unknown> = []) =>
        run(() => {
          const statement = db.prepare(sql)
          return (statement.reader ? statement.all(...params) : (statement.run(...params), [])) as ReadonlyArray<Row>
        }),
      close: async () => {
        db.close()
      }
    }
  }
  const { default: pg } = await import("pg")
  const pool = new pg.Pool({ connectionString: target.location, max: 4 })
  pool.on("error", () => {})
  for (const statement of ddl) await pool.query(statement)
  return {
    query: async <Row>(sql: string, params: ReadonlyArray<unknown> = []) => {
      let n = 0
      const text = sql.replace(/\?/g, () => `$${++n}`)
      return (await pool.query(text, [...params])).rows as ReadonlyArray<Row>
    },
    close: () => pool.end()
  }
}

let db: Promise<ChaosDb> | undefined
const worker = process.env.TASKFLOW_DIST_WORKER ?? "client"
const chaosDb = () => db ??= openChaosDb(JSON.parse(process.env.TASKFLOW_DIST_TARGET!) as Target)

/**
 * Records an execution's start, with the attempt the store counts for the run (the claim or the
 * retry wrote it before the body started), and returns its id and attempt. `started_at` is taken
 * before the write, `began_at` (written with the end) once it is committed.
 */
const recordStart = (runId: string, key: string) =>
  Effect.promise(async () => {
    const exec = crypto.randomUUID()
    const started = Date.now()
    const rows = await (await chaosDb()).query<{ attempt: number | null }>(
      `INSERT INTO chaos_exec (exec_id, run_id, run_key, attempt, worker, pid, started_at)
       VALUES (?, ?, ?, (SELECT run_count FROM taskflow_runs WHERE id = ?), ?, ?, ?) RETURNING attempt`,
      [exec, runId, key, runId, worker, process.pid, started]
    )
    return { exec, attempt: Number(rows[0]?.attempt ?? 0), began: Date.now() }
  })

const recordEnd = (exec: string, began: number, outcome: "ok" | "fail" | "interrupted" | "defect") =>
  Effect.promise(async () => {
    const ended = Date.now()
    await (await chaosDb()).query("UPDATE chaos_exec SET ended_at = ?, outcome = ?, began_at = ? WHERE exec_id = ?", [
      ended,
      outcome,
      began,
      exec
    ])
  })

/**
 * In a worker: records each time its event loop stood still for longer than `ms` (a loaded machine,
 * or a synchronous wait for SQLite's lock), when it runs again. A worker that stood still longer than
 * its lease allows loses its runs to recovery, though alive: the test tells such a loss by this.
 */
export const recordStalls = (ms: number) => {
  const every = 100
  let last = Date.now()
  setInterval(() => {
    const now = Date.now()
    if (now - last - every > ms) {
      const from = last + every
      chaosDb().then((db) =>
        db.query("INSERT INTO chaos_stalls (worker, from_at, to_at) VALUES (?, ?, ?)", [worker, from, now])
      ).catch(() => {})
    }
    last = now
  }, every).unref()
}

/**
 * The body every chaos task runs: record the start, fail or sleep as planned, record the end. The
 * start's write and the finalizer that records the end are one uninterruptible step: a run stopped
 * while its start is being written (its worker could not renew its lease) still records its end.
 */
const body = (plan: Plan) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const runId = yield* FiberRef.get(currentTaskRunId)
      if (runId === undefined) return yield* Effect.dieMessage("a chaos body ran outside a task run")
      const { attempt, began, exec } = yield* recordStart(runId, plan.key)
      return yield* restore(Effect.gen(function*() {
        if (attempt <= plan.fail) return yield* new ChaosFailure({ key: plan.key, attempt })
        yield* Effect.sleep(plan.ms)
        return plan.key
      })).pipe(
        Effect.onExit((exit) =>
          recordEnd(
            exec,
            began,
            Exit.isSuccess(exit)
              ? "ok"
              : Option.isSome(Cause.failureOption(exit.cause))
              ? "fail"
              : Cause.isInterruptedOnly(exit.cause)
              ? "interrupted"
              : "defect"
          )
        )
      )
    })
  )

/** No retries: a run whose worker is killed under it ends Crashed. */
export const chaosOnce = Task.make({ name: "chaos-once", failure: ChaosFailure }, body)
/** Three attempts; its plan fails the first one (a typed failure), so a retry runs after it. */
export const chaosRetry = Task.make({ name: "chaos-retry", retries: 2, failure: ChaosFailure }, body)
/** Two attempts, both planned to fail: it ends Failed (or Crashed, if its last attempt is killed). */
export const chaosFail = Task.make({ name: "chaos-fail", retries: 1, failure: ChaosFailure }, body)

export const chaosTasks = [chaosOnce, chaosRetry, chaosFail]
