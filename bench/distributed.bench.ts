/**
 * Distributed benchmarks (issue: SQL run store and task workers), against BullMQ (Redis) and pg-boss
 * (PostgreSQL) measured in the same run, with the same shape: two worker processes with
 * concurrency 50, 10,000 no-op jobs enqueued at once, time until every result is known.
 * Runs compiled JavaScript (`npm run bench` builds first). Not part of the tests.
 */
import { Queue as BullQueue, QueueEvents } from "bullmq"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import pg from "pg"
import PgBoss from "pg-boss"
import { RunStore } from "../src/index.js"
import { noop } from "./distTasks.js"
import { median } from "./measure.js"
import { cleanUp, freshSchema, freshSqliteFile, PG_URL, urlWithSchema } from "./scratchStores.js"

const N = Number(process.env.TASKFLOW_BENCH_N ?? 10_000)
const CONCURRENCY = 50
/** pg-boss's batch size in its reference shape (each fetch handled as one unit of work). */
const bossBatchSize = Number(process.env.TASKFLOW_BENCH_PGBOSS_BATCH ?? 1_000)
const workerScript = fileURLToPath(new URL("./distWorker.js", import.meta.url))
/** Node options for the worker processes, e.g. `--cpu-prof` to profile them. */
const workerNodeArgs = (process.env.TASKFLOW_BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")

const startWorkers = async (args: ReadonlyArray<string>, count = 2): Promise<Array<ChildProcess>> => {
  const workers = Array.from(
    { length: count },
    () => spawn(process.execPath, [...workerNodeArgs, workerScript, ...args], { stdio: ["ignore", "pipe", "inherit"] })
  )
  await Promise.all(workers.map((worker) =>
    new Promise<void>((resolve, reject) => {
      worker.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve())
      worker.once("exit", (code) => reject(new Error(`a ${args[0]} worker exited with ${code}`)))
    })
  ))
  return workers
}
const stopWorkers = (workers: ReadonlyArray<ChildProcess>) =>
  Promise.all(workers.map((worker) =>
    new Promise<void>((resolve) => {
      worker.once("exit", () => resolve())
      worker.kill("SIGTERM")
    })
  ))

const cpuNow = (pids: ReadonlyArray<number>): Map<string, number> => {
  const cpu = new Map<string, number>()
  if (!fs.existsSync("/proc/self/stat")) return cpu
  const ticks = (pid: string) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return {
      name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
      ms: (Number(fields[11]) + Number(fields[12])) * 10
    }
  }
  const add = (key: string, ms: number) => cpu.set(key, (cpu.get(key) ?? 0) + ms)
  add("client", ticks("self").ms)
  // Idle time of all CPUs (idle and iowait): CPU the run could have used but nobody did.
  const [, , , , idle, iowait] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/)
  add("idle", (Number(idle) + Number(iowait)) * 10)
  pids.forEach((pid, i) => add(`worker ${i + 1}`, ticks(String(pid)).ms))
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const { ms, name } = ticks(pid)
      if (name === "postgres") add("postgres", ms)
      if (name === "redis-server") add("redis", ms)
    } catch {
      // The process ended meanwhile.
    }
  }
  return cpu
}
const cpuPerRun = (before: Map<string, number>, after: Map<string, number>, runs: number) =>
  Array.from(after, ([key, ms]) => `${key} ${((1000 * (ms - (before.get(key) ?? 0))) / runs).toFixed(0)} µs`).join(", ")

const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(8)

/** One pass's figures: how long N jobs took end to end, and the CPU each process used for them. */
interface Pass {
  readonly throughputMs: number
  readonly cpu: string
}

/**
 * Ours: delay N runs in one batch (mapDelay), two worker processes, wait for every result. Two
 * passes with the same workers: the first right after they start, the second once they are warm.
 */
const taskflow = async (mode: "taskflow-pg" | "taskflow-sqlite", location: string) => {
  const store = mode === "taskflow-pg" ? RunStore.postgres({ url: location }) : RunStore.sqlite({ filename: location })
  const workers = await startWorkers([mode, location, "-", String(CONCURRENCY)])
  const inputs = Array.from({ length: N }, (_, i) => i)
  const pids = workers.map((worker) => worker.pid!)
  const pass = Effect.gen(function*() {
    const cpuBefore = cpuNow(pids)
    const start = performance.now()
    const list = yield* noop.mapDelay(inputs)
    const values = yield* list.result()
    const throughputMs = performance.now() - start
    const cpu = cpuPerRun(cpuBefore, cpuNow(pids), N)
    if (values.length !== N || values[N - 1] !== N - 1) throw new Error("wrong results")
    return { throughputMs, cpu }
  })
  const result = await Effect.runPromise(
    Effect.gen(function*() {
      const cold = yield* pass
      const warm = yield* pass
      const trips: Array<number> = []
      for (let i = 0; i < 200; i++) {
        const t = performance.now()
        const future = yield* noop.delay(i)
        yield* future.result()
        trips.push(performance.now() - t)
      }
      return { cold, warm, roundTrip: median(trips) }
    }).pipe(Effect.scoped, Effect.provide(store))
  )
  await stopWorkers(workers)
  return result
}

/**
 * BullMQ in the same shape: addBulk N jobs, two worker processes, until N "completed" events; two passes.
 *
 * BullMQ's QueueEvents reads a Redis stream trimmed to about 10,000 events by default, and a job
 * writes about four. A reader that falls behind during a 10,000-job burst loses the trimmed events
 * (seen here in a busy hour: all 10,000 jobs completed, the pass waited forever). So the stream
 * keeps ten events a job, and a pass whose events stall for `stallMs` counts completed jobs in
 * Redis instead: it then ends, marked as having lost events, rather than hang the bench.
 */
const bullmq = async () => {
  const name = `bench-${process.pid}-${Date.now()}`
  const connection = { host: "127.0.0.1", port: 6379 }
  const queue = new BullQueue(name, { connection, streams: { events: { maxLen: 10 * N } } })
  const events = new QueueEvents(name, { connection })
  await events.waitUntilReady()
  const workers = await startWorkers(["bullmq", "-", name, String(CONCURRENCY)])
  const pids = workers.map((worker) => worker.pid!)
  const stallMs = 5_000
  let completed = 0
  let lastEventAt = performance.now()
  let lostEvents = false
  let onCompleted = () => {}
  events.on("completed", () => {
    completed++
    lastEventAt = performance.now()
    onCompleted()
  })
  const pass = async (): Promise<Pass> => {
    const target = completed + N
    const completedBefore = await queue.getCompletedCount()
    const cpuBefore = cpuNow(pids)
    const start = performance.now()
    let stallCheck: ReturnType<typeof setInterval> | undefined
    const allDone = new Promise<void>((resolve) => {
      onCompleted = () => completed >= target && resolve()
      stallCheck = setInterval(() => {
        if (performance.now() - lastEventAt < stallMs) return
        queue.getCompletedCount().then((count) => {
          if (count - completedBefore < N) return
          lostEvents = true
          resolve()
        }, () => {})
      }, 1_000)
    }).finally(() => clearInterval(stallCheck))
    await queue.addBulk(Array.from({ length: N }, (_, n) => ({ name: "noop", data: { n } })))
    lastEventAt = performance.now()
    await allDone
    const throughputMs = performance.now() - start
    return { throughputMs, cpu: cpuPerRun(cpuBefore, cpuNow(pids), N) }
  }
  const cold = await pass()
  const warm = await pass()
  const trips: Array<number> = []
  for (let i = 0; i < 200; i++) {
    const t = performance.now()
    const job = await queue.add("noop", { n: i })
    await job.waitUntilFinished(events, stallMs).catch(async (error) => {
      if (!(await job.isCompleted())) throw error
      lostEvents = true
    })
    trips.push(performance.now() - t)
  }
  await stopWorkers(workers)
  await queue.obliterate({ force: true })
  await Promise.all([queue.close(), events.close()])
  if (lostEvents) {
    console.log(`  BullMQ lost "completed" events: a wait stalled ${stallMs / 1000} s, so its figures are low`)
  }
  return { cold, warm, roundTrip: median(trips) }
}

/**
 * pg-boss. Without `batch`, in the bench's shape: each job handled on its own with its result kept,
 * as ours, by `CONCURRENCY` work() loops of one job a fetch in each worker (pg-boss 10 has no per-job
 * concurrency within a fetch, and keeps a handler's result only for a fetch of one job). Its rate is
 * then its polling floor: a loop fetches at most every 0.5 s. With `batch`, for reference: fetches of
 * `batch` jobs, each fetch handled as one unit of work (one handler call and one completion for the
 * batch, no result per job), with a warm second pass.
 */
const pgBoss = async (batch?: number) => {
  const schema = await freshSchema("pgboss")
  const boss = new PgBoss({ connectionString: PG_URL, schema })
  boss.on("error", () => {})
  await boss.start()
  await boss.createQueue(schema)
  const workers = await startWorkers(
    batch === undefined
      ? ["pgboss", PG_URL, schema, String(CONCURRENCY)]
      : ["pgboss-batch", PG_URL, schema, String(batch)]
  )
  const client = new pg.Client(PG_URL)
  await client.connect()
  const completed = async () =>
    Number((await client.query(`SELECT COUNT(*) AS n FROM ${schema}.job WHERE state = 'completed'`)).rows[0].n)
  const pass = async (): Promise<number> => {
    const target = (await completed()) + N
    const start = performance.now()
    for (let i = 0; i < N; i += 1000) {
      await boss.insert(Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ name: schema, data: { n: i + j } })))
    }
    while ((await completed()) < target) await new Promise((resolve) => setTimeout(resolve, 20))
    const throughputMs = performance.now() - start
    if (batch === undefined) {
      const kept = `SELECT COUNT(*) AS n FROM ${schema}.job WHERE state = 'completed' AND output IS NOT NULL`
      if (Number((await client.query(kept)).rows[0].n) !== target) {
        throw new Error("pg-boss kept no result for some jobs")
      }
    }
    return throughputMs
  }
  const cold = await pass()
  const warm = batch === undefined ? Number.NaN : await pass()
  const trips: Array<number> = []
  // Round trips in the bench's shape only: a job waits for the next of its loops to poll.
  for (let i = 0; i < (batch === undefined ? 20 : 0); i++) {
    const t = performance.now()
    const id = (await boss.send(schema, { n: i }))!
    while ((await boss.getJobById(schema, id))?.state !== "completed") {
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    trips.push(performance.now() - t)
  }
  await stopWorkers(workers)
  await client.end()
  await boss.stop({ graceful: false })
  return { cold, warm, roundTrip: trips.length === 0 ? Number.NaN : median(trips) }
}

/**
 * `TASKFLOW_BENCH_ONLY=taskflow-pg` (comma-separated: taskflow-pg, taskflow-sqlite, bullmq) runs only
 * those, e.g. to profile ours or to compare with BullMQ back to back. `TASKFLOW_BENCH_PGBOSS_BATCH`
 * sets pg-boss's batch size in its reference shape (1,000).
 */
const only = (process.env.TASKFLOW_BENCH_ONLY ?? "").split(",").filter((name) => name !== "")

const main = async () => {
  if (only.length > 0) {
    for (const mode of only) {
      const show = (label: string, unit: string, passes: { cold: Pass; warm: Pass }, roundTrip: number) => {
        for (const [which, pass] of [["first", passes.cold], ["warm", passes.warm]] as const) {
          console.log(`${label} (${which} pass): ${fmt((N / pass.throughputMs) * 1000)} ${unit}/s`)
          console.log(`  CPU per ${unit.slice(0, -1)}: ${pass.cpu}`)
        }
        console.log(`${label}: round trip ${roundTrip.toFixed(1)} ms`)
      }
      if (mode === "bullmq") {
        const result = await bullmq()
        show(mode, "jobs", result, result.roundTrip)
        continue
      }
      if (mode !== "taskflow-pg" && mode !== "taskflow-sqlite") throw new Error(`unknown mode ${mode}`)
      const location = mode === "taskflow-pg"
        ? urlWithSchema(await freshSchema("tf_bench"))
        : freshSqliteFile()
      const result = await taskflow(mode, location)
      show(mode, "runs", result, result.roundTrip)
    }
    return
  }
  console.log(
    `${N.toLocaleString()} no-op runs, 2 worker processes × concurrency ${CONCURRENCY}, twice with the same workers: ` +
      `the first pass right after they start, the second warm; round trip: median of 200 (pg-boss: 20)`
  )
  const ourPg = await taskflow("taskflow-pg", urlWithSchema(await freshSchema("tf_bench")))
  const ourSqlite = await taskflow("taskflow-sqlite", freshSqliteFile())
  const bull = await bullmq()
  const boss = await pgBoss()
  // For reference, pg-boss with each fetch of `bossBatchSize` jobs handled as one unit of work: faster
  // the larger the batch (its rate is then set by its polling and batch size), and no longer a job
  // at a time with its result.
  const bossBatch = await pgBoss(bossBatchSize)
  const rate = (ms: number) => (N / ms) * 1000
  for (const which of ["cold", "warm"] as const) {
    const pgRate = rate(ourPg[which].throughputMs)
    const sqliteRate = rate(ourSqlite[which].throughputMs)
    const bullRate = rate(bull[which].throughputMs)
    console.log(which === "cold" ? "First pass (workers just started):" : "Second pass (warm workers):")
    console.log(
      `  effect-taskflow, PostgreSQL   ${fmt(pgRate)} runs/s  ${fmt(pgRate / bullRate, 2)}× BullMQ (target ≥ 1×)  ${
        fmt(pgRate / rate(boss.cold), 2)
      }× pg-boss (target ≥ 3×)`
    )
    console.log(
      `  effect-taskflow, SQLite       ${fmt(sqliteRate)} runs/s  ${fmt(sqliteRate / 5000, 2)}× the 5,000 runs/s target`
    )
    console.log(`  BullMQ (Redis)                ${fmt(bullRate)} runs/s`)
    if (which === "cold") {
      console.log(
        `  pg-boss (PostgreSQL)          ${fmt(rate(boss.cold))} runs/s  (each job with its result, as ours: ` +
          `${CONCURRENCY} loops of 1 job a fetch per worker, polling every 0.5 s)`
      )
    }
    console.log(
      `  pg-boss, ${bossBatchSize.toLocaleString("en-US")} jobs a fetch as one unit ${
        fmt(rate(bossBatch[which]))
      } runs/s  (one handler call and one completion a batch, no result per job; ours: ${
        fmt(pgRate / rate(bossBatch[which]), 2)
      }×)`
    )
  }
  console.log(
    `round trip delay → result, PostgreSQL ${fmt(ourPg.roundTrip, 1)} ms median  (target ≤ 5 ms; ${
      fmt(ourPg.roundTrip / bull.roundTrip, 2)
    }× BullMQ's ${bull.roundTrip.toFixed(1)} ms, ${fmt(ourPg.roundTrip / boss.roundTrip, 3)}× pg-boss's ${
      boss.roundTrip.toFixed(1)
    } ms)`
  )
  console.log(`round trip delay → result, SQLite     ${fmt(ourSqlite.roundTrip, 1)} ms median`)
}

// Keeps the process up while it waits on other processes (seen once: the event loop drained mid-run).
const keepAlive = setInterval(() => {}, 1_000)
main().then(
  () => cleanUp().then(() => process.exit(0)),
  (error) => {
    clearInterval(keepAlive)
    console.error(error)
    return cleanUp().finally(() => process.exit(1))
  }
)
