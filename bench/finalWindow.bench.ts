/**
 * The at-least-once window (issue 22, "Finished work survives an outage"): how long a run's body
 * has ended while its final state is not yet committed, when a `kill -9` of its worker makes another
 * worker run the body again. Measured in one process (a task worker and the caller on one store): from
 * the body's last instruction to its future seeing the final state, which the store pushes in the
 * same process once the group commit's batch is written, so an upper bound of the window. One run
 * at a time (an idle worker), then N runs at once (concurrency 50, a busy writer). Median, p99, max.
 * `node build/bench/finalWindow.bench.js` after `npm run build:bench`. Not part of the tests.
 */
import { Effect, Fiber } from "effect"
import type { Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { RunStore, Task, TaskWorker } from "../src/index.js"

const PG_URL = process.env.TASKFLOW_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const N = Number(process.env.TASKFLOW_BENCH_N ?? 2_000)
const ONE_BY_ONE = 200

const ended = new Map<number, number>()
const body = Task.make("bench-final-window", (n: number) =>
  Effect.sync(() => {
    ended.set(n, performance.now())
    return n
  }))

const windows = (from: number, count: number, concurrency: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => from + i),
    (n) =>
      Effect.flatMap(body.delay(n), (future) => Effect.map(future.result(), () => performance.now() - ended.get(n)!)),
    { concurrency }
  )

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1)
  return `median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`
}

const measure = (name: string, store: Layer.Layer<RunStore.RunStore, unknown>) =>
  Effect.gen(function*() {
    const worker = yield* Effect.fork(TaskWorker.serve([body], { concurrency: 50 }))
    yield* windows(0, 20, 1) // warm-up
    const idle = yield* windows(1_000_000, ONE_BY_ONE, 1)
    const busy = yield* windows(2_000_000, N, N)
    yield* Fiber.interrupt(worker)
    console.log(`${name}: one run at a time (${ONE_BY_ONE}): ${stats(idle)}`)
    console.log(`${name}: ${N} runs at once:           ${stats(busy)}`)
  }).pipe(Effect.provide(store))

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-window-"))
  const schema = `tf_window_${process.pid}`
  const client = new pg.Client(PG_URL)
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  try {
    await Effect.runPromise(measure("SQLite", RunStore.sqlite({ filename: path.join(dir, "runs.db") })))
    const url = new URL(PG_URL)
    url.searchParams.set("options", `-c search_path=${schema}`)
    await Effect.runPromise(measure("PostgreSQL", RunStore.postgres({ url: url.toString() })))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await client.end()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
