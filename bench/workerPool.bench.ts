/**
 * Worker-pool benchmarks (issue: worker threads), against piscina measured in the same run.
 * Runs compiled JavaScript: `npm run bench` builds first. Not part of the tests.
 */
import { Effect, Layer, Scope } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Piscina } from "piscina"
import { TaskRunner } from "../src/index.js"
import { timeInterleaved } from "./measure.js"
import { busyWait, cpu, noop } from "./poolTasks.js"

const module = new URL("./poolTasks.js", import.meta.url)
const piscinaFile = new URL("./piscinaWorker.cjs", import.meta.url).href
const size = 2

const time = async (run: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await run()
  return performance.now() - start
}

/** Builds our pool in a scope that the caller closes. */
const openPool = async () => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(TaskRunner.workerPool({ size, module }), scope)
  )
  const run = <A, E>(effect: Effect.Effect<A, E, TaskRunner.TaskRunner>) =>
    Effect.runPromise(Effect.provide(effect, context))
  return { run, close: () => Effect.runPromise(Scope.close(scope, Effect.void.pipe(Effect.exit) as never)) }
}

const peakRss = async (run: () => Promise<unknown>): Promise<number> => {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 5)
  await run()
  clearInterval(timer)
  return Math.max(peak, process.memoryUsage().rss)
}

const line = (label: string, text: string) => console.log(`${label.padEnd(46)} ${text}`)

const main = async () => {
  console.log(`effect-taskflow worker-pool benchmarks, pool of ${size}, node ${process.version}\n`)

  // Start-up to first result.
  const ourStart = await time(async () => {
    const pool = await openPool()
    await pool.run(Effect.flatMap(noop.submit(1), (future) => future.result()))
    await pool.close()
  })
  const piscinaStart = await time(async () => {
    const piscina = new Piscina({ filename: piscinaFile, minThreads: size, maxThreads: size })
    await piscina.run({ kind: "noop", value: 1 })
    await piscina.destroy()
  })
  line(
    "start-up to first result",
    `${ourStart.toFixed(0)} ms  ${(ourStart / piscinaStart).toFixed(2)}× piscina (${piscinaStart.toFixed(0)} ms)`
  )

  const pool = await openPool()
  const piscina = new Piscina({ filename: piscinaFile, minThreads: size, maxThreads: size })
  const ours = (kind: "cpu" | "noop", values: ReadonlyArray<number>) =>
    pool.run(Effect.flatMap((kind === "cpu" ? cpu : noop).map(values), (futures) => futures.result()))
  const theirs = (kind: "cpu" | "noop", values: ReadonlyArray<number>) =>
    Promise.all(values.map((value) => piscina.run({ kind, value })))

  // 200 CPU-bound tasks of 5 ms: medians of 5 interleaved rounds.
  const cpuInputs = Array.from({ length: 200 }, () => 5)
  const [mainThread, ourCpu, piscinaCpu] = await timeInterleaved([
    () => cpuInputs.forEach(busyWait),
    () => ours("cpu", cpuInputs),
    () => theirs("cpu", cpuInputs)
  ], 5)
  line(
    "200 × 5 ms CPU-bound: speedup vs main thread",
    `${(mainThread / ourCpu).toFixed(2)}×  (piscina ${(mainThread / piscinaCpu).toFixed(2)}×; target ≥ 1.7×)`
  )

  // 10,000 trivial tasks: per-task overhead, medians of 7 interleaved rounds after 3 for the JIT.
  const trivial = Array.from({ length: 10_000 }, (_, i) => i)
  for (let i = 0; i < 2; i++) {
    await ours("noop", trivial)
    await theirs("noop", trivial)
  }
  const [ourTrivial, piscinaTrivial] = await timeInterleaved([
    () => ours("noop", trivial),
    () => theirs("noop", trivial)
  ])
  line(
    "10,000 trivial tasks: per-task overhead",
    `${(ourTrivial / 10).toFixed(0)} µs  ${(ourTrivial / piscinaTrivial).toFixed(2)}× piscina (${
      (piscinaTrivial / 10).toFixed(0)
    } µs; target ≤ 1.3×)`
  )

  await pool.close()
  await piscina.destroy()

  // 10,000 queued at once: peak RSS, in a fresh process that holds only our pool.
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), "rss"])
  line("10,000 tasks queued at once: peak RSS", `${stdout.trim()} MB  (target ≤ 300 MB)`)
}

const measureRss = async () => {
  const pool = await openPool()
  const trivial = Array.from({ length: 10_000 }, (_, i) => i)
  const rss = await peakRss(() => pool.run(Effect.flatMap(noop.map(trivial), (futures) => futures.result())))
  await pool.close()
  console.log((rss / 1024 / 1024).toFixed(0))
}
;(process.argv[2] === "rss" ? measureRss() : main()).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
