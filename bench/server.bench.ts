/**
 * The web UI's pages on a large store (issue 24): the runs page (its default view) and the page of a
 * flow run of 10,000 task runs, on a store of 100,000 runs, SQLite and PostgreSQL. The server runs
 * in this process on a real socket; requests go one at a time over one keep-alive connection, so a
 * request's time is the server's time plus a loopback round trip. Median and p95 of N requests each,
 * beside two baselines measured in the same run, interleaved with them: a static asset the same
 * server sends (the floor of any request) and a bare `listRunsPage({ limit: 50 })` on the store.
 * Runs compiled JavaScript (`npm run bench:server` builds first). Not part of the tests.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Cause, Effect, Layer, ManagedRuntime } from "effect"
import * as http from "node:http"
import * as os from "node:os"
import { RunStore, State } from "../src/index.js"
import * as Server from "../src/Server.js"
import { cleanUp, freshSchema, freshSqliteFile, urlWithSchema } from "./scratchStores.js"

const RUNS = Number(process.env.TASKFLOW_BENCH_SERVER_RUNS ?? 100_000)
const TASK_RUNS = Number(process.env.TASKFLOW_BENCH_SERVER_TASK_RUNS ?? 10_000)
const N = Number(process.env.TASKFLOW_BENCH_SERVER_N ?? 50)
const BATCH = 5_000

const HOUR = 3_600_000
const DAY = 24 * HOUR
const TASK_NAMES = Array.from({ length: 20 }, (_, i) => `bench-task-${i}`)
const FLOW_TASKS = ["fetch", "parse", "analyze"].map((name) => `bench-flow-${name}`)

/** A final state for the `i`-th run: mostly Completed, some Failed (a few TimedOut), a few Cancelled. */
const finalState = (i: number, timestamp: Date): State.State<unknown, unknown> =>
  i % 50 === 7
    ? State.failed(Cause.fail("boom"), { timestamp })
    : i % 200 === 11
    ? State.failed(Cause.fail("slow"), { timestamp, name: "TimedOut" })
    : i % 500 === 13
    ? State.cancelled({ timestamp })
    : State.completed(i, { timestamp })

/**
 * The store's runs: one flow run (two hours ago) of TASK_RUNS task runs; 100 runs running now;
 * the rest ended over the last 30 days, newest last, so about 3,000 fall in the default view's
 * last 24 hours (beside the flow's task runs). Written with `createRuns` in batches.
 */
const seed = (store: RunStore.Service) =>
  Effect.gen(function*() {
    const now = Date.now()
    const flowRunId = crypto.randomUUID()
    const flowStart = now - 2 * HOUR
    yield* store.createRuns([{
      id: flowRunId,
      kind: "flow",
      name: "bench-flow",
      state: State.completed(null, { timestamp: new Date(flowStart) })
    }])
    for (let from = 0; from < TASK_RUNS; from += BATCH) {
      yield* store.createRuns(Array.from({ length: Math.min(BATCH, TASK_RUNS - from) }, (_, j) => {
        const i = from + j
        return {
          id: crypto.randomUUID(),
          kind: "task" as const,
          name: FLOW_TASKS[i % FLOW_TASKS.length],
          flowRunId,
          parameters: [i],
          tags: ["bench"],
          state: finalState(i, new Date(flowStart + i * 10))
        }
      }))
    }
    const others = RUNS - TASK_RUNS - 1
    const running = 100
    const spacing = (30 * DAY) / others
    for (let from = 0; from < others; from += BATCH) {
      yield* store.createRuns(Array.from({ length: Math.min(BATCH, others - from) }, (_, j) => {
        const i = from + j
        const timestamp = new Date(now - 30 * DAY + i * spacing)
        const kind = i % 100 === 0 ? "flow" as const : "task" as const
        return {
          id: crypto.randomUUID(),
          kind,
          name: kind === "flow" ? "bench-other-flow" : TASK_NAMES[i % TASK_NAMES.length],
          parameters: [i, `document #${i}`],
          tags: i % 3 === 0 ? ["io"] : [],
          state: i >= others - running ? State.running({ timestamp }) : finalState(i, timestamp)
        }
      }))
    }
    return flowRunId
  })

/** Times one GET to its last byte; fails unless it answers 200. */
const timeGet = (agent: http.Agent, url: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    http.get(url, { agent }, (response) => {
      response.on("data", () => undefined)
      response.on("end", () =>
        response.statusCode === 200
          ? resolve(performance.now() - start)
          : reject(new Error(`GET ${url} answered ${response.statusCode}`)))
    }).on("error", reject)
  })

const quantile = (samples: ReadonlyArray<number>, q: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

interface Figure {
  readonly name: string
  readonly median: number
  readonly p95: number
}

/** Seeds a store, serves it, and times each request N times, interleaved (after one warm-up each). */
const measure = async (label: string, store: Layer.Layer<RunStore.RunStore, unknown>): Promise<Array<Figure>> => {
  const runtime = ManagedRuntime.make(Server.layer({ port: 0 }).pipe(Layer.provideMerge(store)))
  try {
    const service = await runtime.runPromise(RunStore.RunStore)
    const seedStart = performance.now()
    const flowRunId = await runtime.runPromise(seed(service))
    console.log(
      `${label}: seeded ${RUNS.toLocaleString("en-US")} runs in ${
        ((performance.now() - seedStart) / 1000).toFixed(1)
      } s`
    )
    const port = await runtime.runPromise(
      HttpServer.addressWith((address) => Effect.succeed(address._tag === "TcpAddress" ? address.port : 0))
    )
    const base = `http://127.0.0.1:${port}`
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const listPage = async () => {
      const start = performance.now()
      await runtime.runPromise(service.listRunsPage({ limit: 50, order: "newest" }))
      return performance.now() - start
    }
    const timed: ReadonlyArray<[string, () => Promise<number>]> = [
      ["static asset (/assets/app.css)", () => timeGet(agent, `${base}/assets/app.css`)],
      ["listRunsPage({ limit: 50 })", listPage],
      ["runs page, default view", () => timeGet(agent, `${base}/runs`)],
      [
        `flow-run page, ${TASK_RUNS.toLocaleString("en-US")} task runs`,
        () => timeGet(agent, `${base}/runs/${flowRunId}`)
      ]
    ]
    const samples = timed.map((): Array<number> => [])
    for (const [, run] of timed) await run()
    for (let round = 0; round < N; round++) {
      for (let i = 0; i < timed.length; i++) samples[i].push(await timed[i][1]())
    }
    agent.destroy()
    return timed.map(([name], i) => ({ name, median: quantile(samples[i], 0.5), p95: quantile(samples[i], 0.95) }))
  } finally {
    await runtime.dispose()
  }
}

const print = (label: string, figures: ReadonlyArray<Figure>) => {
  const [asset, list] = figures
  console.log(`${label}, ms (median, p95 of ${N}); ratios of the median against the two baselines:`)
  for (const { median, name, p95 } of figures) {
    console.log(
      `  ${name.padEnd(36)} ${median.toFixed(1).padStart(7)} ${p95.toFixed(1).padStart(7)}` +
        `  ${(median / asset.median).toFixed(1).padStart(6)}× static  ${
          (median / list.median).toFixed(1).padStart(6)
        }× listRunsPage`
    )
  }
}

const main = async () => {
  console.log(
    `Web UI pages on a store of ${
      RUNS.toLocaleString("en-US")
    } runs (${os.cpus().length} cores); target: median < 100 ms`
  )
  const only = (process.env.TASKFLOW_BENCH_SERVER_ONLY ?? "sqlite,postgres").split(",")
  if (only.includes("sqlite")) {
    print("SQLite", await measure("SQLite", RunStore.sqlite({ filename: freshSqliteFile("tf-server-") })))
  }
  if (only.includes("postgres")) {
    const url = urlWithSchema(await freshSchema("tf_bench_server"))
    print("PostgreSQL", await measure("PostgreSQL", RunStore.postgres({ url })))
  }
}

main().then(cleanUp, async (error) => {
  await cleanUp()
  console.error(error)
  process.exitCode = 1
})
