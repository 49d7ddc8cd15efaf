/**
 * Tasks for the multi-process tests. Each execution is counted in the database itself (a table next
 * to the run store's), so "executed exactly once" is checked where the workers wrote it.
 */
import Database from "better-sqlite3"
import { Effect } from "effect"
import { Task } from "effect-taskflow"
import pg from "pg"

export interface Target {
  readonly kind: "sqlite" | "postgres"
  /** The SQLite file, or the PostgreSQL URL. */
  readonly location: string
}

interface Executions {
  readonly record: (key: string, worker: string) => Promise<number>
  readonly count: () => Promise<{ readonly total: number; readonly distinct: number }>
  readonly forKey: (key: string) => Promise<number>
  readonly close: () => Promise<void>
}

const ddl =
  "CREATE TABLE IF NOT EXISTS dist_executions (key TEXT NOT NULL, worker TEXT NOT NULL, started DOUBLE PRECISION NOT NULL)"

/** Opens the executions table of a target (the test process and each worker open their own). */
export const openExecutions = async (target: Target): Promise<Executions> => {
  if (target.kind === "sqlite") {
    const db = new Database(target.location, { timeout: 10_000 })
    db.pragma("journal_mode = WAL")
    db.exec(ddl)
    const insert = db.prepare("INSERT INTO dist_executions (key, worker, started) VALUES (?, ?, ?)")
    const countKey = db.prepare("SELECT COUNT(*) AS n FROM dist_executions WHERE key = ?")
    return {
      record: async (key, worker) => {
        insert.run(key, worker, Date.now())
        return (countKey.get(key) as { n: number }).n
      },
      count: async () => {
        const row = db.prepare("SELECT COUNT(*) AS total, COUNT(DISTINCT key) AS distinct_keys FROM dist_executions")
          .get() as { total: number; distinct_keys: number }
        return { total: row.total, distinct: row.distinct_keys }
      },
      forKey: async (key) => (countKey.get(key) as { n: number }).n,
      close: async () => {
        db.close()
      }
    }
  }
  const pool = new pg.Pool({ connectionString: target.location, max: 4 })
  // An idle connection the server (or a test's proxy) closes is dropped: not an uncaught error
  // that ends the worker's process.
  pool.on("error", () => {})
  await pool.query(ddl)
  const countKey = async (key: string) =>
    Number((await pool.query("SELECT COUNT(*) AS n FROM dist_executions WHERE key = $1", [key])).rows[0].n)
  return {
    record: async (key, worker) => {
      await pool.query("INSERT INTO dist_executions (key, worker, started) VALUES ($1, $2, $3)", [
        key,
        worker,
        Date.now()
      ])
      return countKey(key)
    },
    count: async () => {
      const row =
        (await pool.query("SELECT COUNT(*) AS total, COUNT(DISTINCT key) AS distinct_keys FROM dist_executions"))
          .rows[0]
      return { total: Number(row.total), distinct: Number(row.distinct_keys) }
    },
    forKey: countKey,
    close: () => pool.end()
  }
}

let executions: Promise<Executions> | undefined
const workerName = process.env.TASKFLOW_DIST_WORKER ?? "client"
/** In a worker process, the target comes from its environment. */
const recordHere = (key: string) => {
  executions ??= openExecutions(JSON.parse(process.env.TASKFLOW_DIST_TARGET!) as Target)
  return Effect.promise(() => executions!.then((e) => e.record(key, workerName)))
}

/** Counts its execution and returns its key. */
export const countRun = Task.make("dist-count", (key: string) => Effect.as(recordHere(key), key))

/** The first execution hangs (until its worker is killed or stopped); later ones return at once. */
export const slowOnFirst = Task.make(
  { name: "dist-slow", retries: 1 },
  (key: string) =>
    Effect.flatMap(recordHere(key), (n) => n === 1 ? Effect.never : Effect.succeed(`${key} on ${workerName}`))
)

/** Like dist-slow, without retries: a worker's death crashes it. */
export const slowNoRetry = Task.make(
  "dist-slow-once",
  (key: string) => Effect.flatMap(recordHere(key), (n) => n === 1 ? Effect.never : Effect.succeed(key))
)

export const served = [countRun, slowOnFirst, slowNoRetry]
