/**
 * Task worker start-up (issue 22, "Churn"): time from spawning `node build/bench/startupWorker.js`
 * to the body of the run it claims first, on a fresh SQLite file and on a fresh PostgreSQL schema,
 * each with one run enqueued before the spawn. Median of N spawns, printed beside a baseline measured
 * in the same run: `node -e ""` and a process that only imports effect (startupBaseline.js).
 * Runs compiled JavaScript (`npm run bench` builds first). Not part of the tests.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { RunStore } from "../src/index.js"
import { median } from "./measure.js"
import { cleanUp, freshSchema, freshSqliteFile, urlWithSchema } from "./scratchStores.js"
import { startupTask } from "./startupTask.js"

const N = Number(process.env.TASKFLOW_BENCH_STARTUP_N ?? 9)
const workerScript = fileURLToPath(new URL("./startupWorker.js", import.meta.url))
const baselineScript = fileURLToPath(new URL("./startupBaseline.js", import.meta.url))
/** Node options for the spawned processes, e.g. `--cpu-prof` to profile them. */
const nodeArgs = (process.env.TASKFLOW_BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")

/** Milliseconds from spawn to the child's "ran" line; the child is then killed. */
const timeToRan = (args: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    let done = false
    child.stdout.on("data", (chunk: Buffer) => {
      if (done || !chunk.toString().includes("ran")) return
      done = true
      const elapsed = performance.now() - start
      child.once("exit", () => resolve(elapsed))
      child.kill("SIGKILL")
    })
    child.once("exit", (code) => {
      if (!done) reject(new Error(`${args.join(" ")} exited with ${code} before its first run`))
    })
  })

/** A fresh SQLite file with one run of the start-up task waiting (its schema made by the enqueuer). */
const sqliteWithRun = async (): Promise<string> => {
  const filename = freshSqliteFile("tf-startup-")
  await Effect.runPromise(startupTask.delay(1).pipe(Effect.provide(RunStore.sqlite({ filename }))))
  return filename
}
/** A fresh PostgreSQL schema with one run of the start-up task waiting. */
const postgresWithRun = async (): Promise<string> => {
  const url = urlWithSchema(await freshSchema("tf_startup"))
  await Effect.runPromise(startupTask.delay(1).pipe(Effect.provide(RunStore.postgres({ url, maxConnections: 1 }))))
  return url
}

const main = async () => {
  const rows: Array<[string, number]> = []
  const measure = async (name: string, args: (i: number) => Promise<ReadonlyArray<string>>) => {
    const times: Array<number> = []
    for (let i = 0; i < N; i++) times.push(await timeToRan(await args(i)))
    rows.push([name, median(times)])
  }
  // Interleaving would be fairer on a busy machine; sequential blocks keep each process alone.
  await measure("node -e \"\"", async () => ["-e", "process.stdout.write('ran\\n')"])
  await measure("node, effect + Schema", async () => [baselineScript])
  await measure("task worker, SQLite", async () => [workerScript, "sqlite", await sqliteWithRun()])
  await measure("task worker, PostgreSQL", async () => [workerScript, "pg", await postgresWithRun()])
  const base = rows[0]![1]
  const effect = rows[1]![1]
  console.log(`Task worker start-up, spawn to its first run's body, median of ${N} (${os.cpus().length} cores):`)
  for (const [name, ms] of rows) {
    const overEffect = (ms - effect).toFixed(0).padStart(5)
    console.log(
      `  ${name.padEnd(26)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / base).toFixed(1).padStart(5)}× node -e` +
        `  ${(ms / effect).toFixed(2).padStart(5)}× (${overEffect} ms over) effect + Schema`
    )
  }
}

main().then(cleanUp, async (error) => {
  await cleanUp()
  console.error(error)
  process.exitCode = 1
})
