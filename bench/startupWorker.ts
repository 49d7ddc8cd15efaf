/**
 * A worker process for bench/workerStartup.bench.ts: a task worker over PostgreSQL or SQLite that
 * serves one task and prints "ran" when the task's body runs (its first claim).
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { RunStore, TaskWorker } from "../src/index.js"
import { startupTask } from "./startupTask.js"

const [mode, location] = process.argv.slice(2) as [string, string]

if (mode === "pg" || mode === "sqlite") {
  const store = mode === "pg"
    ? RunStore.postgres({ url: location, maxConnections: 4 })
    : RunStore.sqlite({ filename: location })
  TaskWorker.serve([startupTask]).pipe(
    Effect.provide(store),
    Logger.withMinimumLogLevel(LogLevel.Warning),
    Effect.runFork
  )
}
