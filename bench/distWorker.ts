/**
 * A worker process for bench/distributed.bench.ts: ours (over PostgreSQL or SQLite), BullMQ or
 * pg-boss, each with the same concurrency (or pg-boss with batches handled as one unit, for
 * reference). Prints "ready" once it serves.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Worker } from "bullmq"
import { Effect, Logger, LogLevel } from "effect"
import PgBoss from "pg-boss"
import { RunStore, TaskWorker } from "../src/index.js"
import { noop } from "./distTasks.js"

const [mode, location, queue, concurrency] = process.argv.slice(2) as [string, string, string, string]

if (mode === "taskflow-pg" || mode === "taskflow-sqlite") {
  const store = mode === "taskflow-pg"
    ? RunStore.postgres({ url: location, maxConnections: 10 })
    : RunStore.sqlite({ filename: location })
  Effect.zipRight(
    Effect.sync(() => console.log("ready")),
    TaskWorker.serve([noop], { concurrency: Number(concurrency), pollInterval: 50 })
  ).pipe(Effect.provide(store), Logger.withMinimumLogLevel(LogLevel.Warning), NodeRuntime.runMain)
} else if (mode === "bullmq") {
  const worker = new Worker(queue, async (job) => job.data.n, {
    connection: { host: "127.0.0.1", port: 6379 },
    concurrency: Number(concurrency)
  })
  worker.waitUntilReady().then(() => console.log("ready"))
} else if (mode === "pgboss") {
  // Each job on its own, as ours: `concurrency` work() loops of one job a fetch, each job's result kept
  // (pg-boss 10 keeps a handler's result only for a fetch of one job).
  const boss = new PgBoss({ connectionString: location, schema: queue })
  boss.on("error", () => {})
  boss.start()
    .then(() =>
      Promise.all(Array.from(
        { length: Number(concurrency) },
        () =>
          boss.work<{ n: number }>(
            queue,
            { batchSize: 1, pollingIntervalSeconds: 0.5 },
            async ([job]) => job!.data.n
          )
      ))
    )
    .then(() => console.log("ready"))
} else if (mode === "pgboss-batch") {
  // A fetch of `concurrency` jobs handled as one unit of work: one handler call, one completion, no
  // result kept per job.
  const boss = new PgBoss({ connectionString: location, schema: queue })
  boss.on("error", () => {})
  boss.start()
    .then(() =>
      boss.work(queue, { batchSize: Number(concurrency), pollingIntervalSeconds: 0.5 }, async (jobs) => jobs.length)
    )
    .then(() => console.log("ready"))
}
