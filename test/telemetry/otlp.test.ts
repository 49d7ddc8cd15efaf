/**
 * OpenTelemetry across real processes: a client (the README's NodeSdk setup, exporting OTLP/JSON)
 * delays runs on a SQLite store, `taskflow worker --otlp` runs them, and a collector
 * (test/support/otlpCollector.ts) gets both sides: one trace for a delayed run, links for a
 * mapDelay, no spans from an idle claim loop, spans flushed when the worker stops (with a minute
 * between exports, so only the flush can send them); `taskflow server --otlp` exporting its HTTP
 * request spans, and giving up on a collector that never answers. Also: the flags and variables,
 * checked; the endpoint from the environment only warns; the package missing. Children get no
 * OTEL_* variable of this process's environment.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import type { ChildProcess } from "node:child_process"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { prepareOtlp, resolveOtlp } from "../../src/cli/internal/otlpSettings.js"
import { fixtures, nodeArgs, root, taskflow } from "../cli/helpers.js"
import type { CollectedSpan, Collector } from "../support/otlpCollector.js"
import { startCollector } from "../support/otlpCollector.js"
import { freshSqliteFile } from "../support/stores.js"

const tsxLoader = nodeArgs.slice(0, 3)

const packageVersion = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string })
  .version

/** A child's environment: this process's without its OTEL_* variables (they would change what is sent). */
const childEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("OTEL_"))),
  ...env
})

/** Node's arguments for `taskflow`, with @effect/opentelemetry made impossible to load. */
const withoutOpentelemetry = [
  nodeArgs[0]!,
  "--import",
  path.join(fixtures, "hideOpentelemetry.mjs"),
  ...nodeArgs.slice(1)
]

/** Fast exports, so a test waits for the collector, not for the default 5 s / 10 s intervals. */
const fastExport = {
  OTEL_BSP_SCHEDULE_DELAY: "100",
  OTEL_METRIC_EXPORT_INTERVAL: "200",
  OTEL_BLRP_SCHEDULE_DELAY: "100"
}

interface Child {
  readonly child: ChildProcess
  readonly ready: Promise<void>
  readonly exited: Promise<number | string>
  output(): string
}

/** Starts `taskflow …args`; `ready` once its output includes `readyText`. */
const start = (
  args: ReadonlyArray<string>,
  readyText: string,
  env: NodeJS.ProcessEnv = {},
  node: ReadonlyArray<string> = nodeArgs
): Child => {
  const child = spawn(process.execPath, [...node, ...args], {
    cwd: root,
    env: childEnv({ TASKFLOW_STORE: "", TASKFLOW_SERVER_TOKEN: "", NO_COLOR: "1", ...fastExport, ...env }),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(readyText)) resolve()
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    void exited.then((code) =>
      reject(new Error(`taskflow ${args[0]} exited (${code}) before it was ready:\n${output}`))
    )
  })
  return { child, ready, exited, output: () => output }
}

/** What the client process prints: its span's ids and the runs it delayed. */
interface ClientOut {
  readonly traceId: string
  readonly spanId: string
  readonly runIds: ReadonlyArray<string>
}

/** Runs test/cli/fixtures/otlpClient.ts to its end. */
const client = (store: string, collector: string, mode: "delay" | "map", count = 1): Promise<ClientOut> =>
  new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...tsxLoader, path.join(fixtures, "otlpClient.ts"), store, collector, mode, String(count)],
      { cwd: root, env: childEnv({ OTEL_BSP_SCHEDULE_DELAY: "100" }), timeout: 60_000 },
      (error, stdout, stderr) =>
        error === null ? resolve(JSON.parse(stdout) as ClientOut) : reject(new Error(`${error.message}\n${stderr}`))
    )
  })

const metricRequests = (collector: Collector) =>
  collector.requests.filter((request) => request.path === "/v1/metrics").length

/** Waits for `n` more metric exports of the worker: time passing, as the worker itself counts it. */
const exportsLater = (collector: Collector, n: number) => {
  const from = metricRequests(collector)
  return collector.until(() => metricRequests(collector) >= from + n, `${n} more metric exports`)
}

const workerSpans = (collector: Collector): ReadonlyArray<CollectedSpan> =>
  collector.spans.filter((span) => span.service === "taskflow-worker")

describe("--otlp settings (flags and OTEL_* variables)", () => {
  const flags = (otlp?: string, protocol?: string) => ({
    otlp: Option.fromNullable(otlp),
    otlpProtocol: Option.fromNullable(protocol)
  })

  it.effect("no endpoint: no export; the defaults; the variables read", () =>
    Effect.gen(function*() {
      expect(yield* resolveOtlp(flags(), {}, "taskflow-worker")).toBeUndefined()
      expect(yield* resolveOtlp(flags(" "), {}, "taskflow-worker")).toBeUndefined()
      expect(yield* resolveOtlp(flags("http://collector:4318/"), {}, "taskflow-worker")).toEqual({
        baseUrl: "http://collector:4318",
        protocol: "http/protobuf",
        serviceName: "taskflow-worker",
        headers: {},
        resourceAttributes: {}
      })
      const env = {
        OTEL_SERVICE_NAME: "billing",
        OTEL_EXPORTER_OTLP_HEADERS: "api-key=s%20ecret, x-team=ops",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod",
        OTEL_BSP_SCHEDULE_DELAY: "250"
      }
      expect(yield* resolveOtlp(flags("https://otlp.example.com", "http/json"), env, "taskflow-server")).toEqual({
        baseUrl: "https://otlp.example.com",
        protocol: "http/json",
        serviceName: "billing",
        headers: { "api-key": "s ecret", "x-team": "ops" },
        resourceAttributes: { "deployment.environment": "prod" },
        tracesInterval: 250
      })
    }))

  it.effect("bad values are bad usage (exit 2) that say what to write", () =>
    Effect.gen(function*() {
      const refused = (f: ReturnType<typeof flags>, env: Record<string, string> = {}) =>
        Effect.flip(resolveOtlp(f, env, "taskflow-worker"))
      const notUrl = yield* refused(flags("localhost:4318"))
      expect(notUrl.exitCode).toBe(2)
      expect(notUrl.message).toContain("has no http:// or https://")
      expect((yield* refused(flags("grpc://c:4317"))).message).toContain("over OTLP/HTTP, not grpc")
      expect((yield* refused(flags("http://"))).message).toContain("is not a URL")
      expect((yield* refused(flags("http://c:4318/v1/traces"))).message).toContain("names one signal's path")
      expect((yield* refused(flags("http://c:4318", "grpc"))).message).toContain("write http/protobuf or http/json")
      expect((yield* refused(flags("http://c:4318"), { OTEL_EXPORTER_OTLP_HEADERS: "novalue" })).message)
        .toContain("is not key=value")
      expect((yield* refused(flags("http://c:4318"), { OTEL_METRIC_EXPORT_INTERVAL: "soon" })).message)
        .toContain("whole number of milliseconds")
    }))

  /** Runs `effect`, keeping what it writes to stderr (Effect's Console writes to console.error). */
  const warned = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const spy = vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => {
        lines.push(args.join(" "))
      })
      const result = yield* Effect.either(effect).pipe(Effect.ensuring(Effect.sync(() => spy.mockRestore())))
      return { result, lines }
    })

  it.effect("headers HTTP cannot carry are bad usage; the user's service.version is kept", () =>
    Effect.gen(function*() {
      const refused = (headers: string) =>
        Effect.flip(resolveOtlp(flags("http://c:4318"), { OTEL_EXPORTER_OTLP_HEADERS: headers }, "w"))
      const spaced = yield* refused("x team=ops")
      expect(spaced.exitCode).toBe(2)
      expect(spaced.message).toContain(`"x team" is not an HTTP header name`)
      expect((yield* refused("x-team=ops%0D%0Aevil: 1")).message).toContain("has a control character")
      expect((yield* refused("x-team=o(p)s,b@d=1")).message).toContain(`"b@d" is not an HTTP header name`)
      const fromAttributes = yield* resolveOtlp(flags("http://c:4318"), {
        OTEL_RESOURCE_ATTRIBUTES: "service.version=2.4.1,team=ops"
      }, "w")
      expect(fromAttributes?.serviceVersion).toBe("2.4.1")
      const fromVariable = yield* resolveOtlp(flags("http://c:4318"), {
        OTEL_RESOURCE_ATTRIBUTES: "service.version=2.4.1",
        OTEL_SERVICE_VERSION: "3.0.0",
        OTEL_EXPORTER_OTLP_TIMEOUT: "2500"
      }, "w")
      expect(fromVariable?.serviceVersion).toBe("3.0.0")
      expect(fromVariable?.timeout).toBe(2500)
      expect((yield* resolveOtlp(flags("http://c:4318"), {}, "w"))?.serviceVersion).toBeUndefined()
    }))

  it.effect("the endpoint only from the environment: a problem is a warning naming the variable, no export", () =>
    Effect.gen(function*() {
      const grpc = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }
      const fromEnv = yield* warned(resolveOtlp(flags(), grpc, "taskflow-worker"))
      expect(fromEnv.result).toEqual(Either.right(undefined))
      expect(fromEnv.lines).toHaveLength(1)
      expect(fromEnv.lines[0]).toContain("$OTEL_EXPORTER_OTLP_PROTOCOL")
      expect(fromEnv.lines[0]).toContain("Running without export")
      const noScheme = yield* warned(resolveOtlp(flags(), { OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "w"))
      expect(noScheme.lines[0]).toContain("$OTEL_EXPORTER_OTLP_ENDPOINT collector:4318 has no http://")
      // Given with --otlp, the same variable is an error (exit 2).
      const flagged = yield* Effect.flip(resolveOtlp(flags("http://c:4318"), grpc, "w"))
      expect(flagged.exitCode).toBe(2)
      // OTEL_SDK_DISABLED=true turns the environment's export off, quietly; --otlp still exports.
      const off = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }
      const disabled = yield* warned(resolveOtlp(flags(), { ...grpc, OTEL_SDK_DISABLED: "TRUE" }, "w"))
      expect(disabled.lines).toEqual([])
      expect(yield* resolveOtlp(flags(), off, "w")).toBeUndefined()
      expect((yield* resolveOtlp(flags("http://d:4318"), off, "w"))?.baseUrl).toBe("http://d:4318")
      expect((yield* resolveOtlp(flags(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, "w"))?.baseUrl)
        .toBe("http://c:4318")
    }))

  it.effect("per-signal and other unread variables: one warning at start that names them", () =>
    Effect.gen(function*() {
      const env = {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces",
        OTEL_EXPORTER_OTLP_METRICS_HEADERS: "a=b",
        OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: ""
      }
      const { lines, result } = yield* warned(resolveOtlp(flags(), env, "w"))
      expect(result._tag).toBe("Right")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(
        "OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT are " +
          "not read by taskflow"
      )
      expect(lines[0]).toContain("set OTEL_EXPORTER_OTLP_ENDPOINT or --otlp instead")
      expect((yield* warned(resolveOtlp(flags(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, "w"))).lines)
        .toEqual([])
    }))

  it.effect("@effect/opentelemetry missing: --otlp fails (exit 1) with the install; the variable only warns", () =>
    Effect.gen(function*() {
      let loads = 0
      const missing = () => {
        loads++
        return Promise.reject(new Error("Cannot find package '@effect/opentelemetry'"))
      }
      const flagged = yield* Effect.flip(prepareOtlp(flags("http://c:4318"), {}, "w", missing))
      expect(flagged.exitCode).toBe(1)
      expect(flagged.message).toContain("--otlp needs the package @effect/opentelemetry")
      expect(flagged.message).toContain("npm install @effect/opentelemetry@^0.64")
      const fromEnv = yield* warned(
        prepareOtlp(flags(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, "w", missing)
      )
      expect(fromEnv.result).toEqual(Either.right(undefined))
      expect(fromEnv.lines[0]).toContain("OTEL_EXPORTER_OTLP_ENDPOINT is set, but exporting needs the package")
      expect(fromEnv.lines[0]).toContain("Running without export")
      // No endpoint: nothing loads.
      expect(yield* prepareOtlp(flags(), {}, "w", missing)).toBeUndefined()
      expect(loads).toBe(2)
    }))

  it(
    "without the package: `worker --otlp` fails before its banner and its store; with the variable it serves",
    async () => {
      const store = freshSqliteFile()
      const module = path.join(fixtures, "otlpTasks.ts")
      try {
        const flagged = start(["worker", module, "--store", store, "--otlp", "http://127.0.0.1:9"], "serving", {}, [
          ...withoutOpentelemetry
        ])
        flagged.ready.catch(() => undefined)
        expect(await flagged.exited).toBe(1)
        expect(flagged.output()).toContain("npm install @effect/opentelemetry@^0.64")
        expect(flagged.output()).not.toContain("serving")
        expect(fs.existsSync(store)).toBe(false)
        const fromEnv = start(
          ["worker", module, "--store", store],
          "serving",
          { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" },
          withoutOpentelemetry
        )
        await fromEnv.ready
        expect(fromEnv.output()).toContain(
          "Warning: OTEL_EXPORTER_OTLP_ENDPOINT is set, but exporting needs the package"
        )
        fromEnv.child.kill("SIGTERM")
        expect(await fromEnv.exited).toBe(0)
      } finally {
        fs.rmSync(path.dirname(store), { recursive: true, force: true })
      }
    },
    60_000
  )

  it("the test collector answers 400 to a body it cannot decode, and records it", async () => {
    const collector = await startCollector()
    try {
      const response = await fetch(`${collector.url}/v1/traces`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new Uint8Array([0x1f, 0x8b, 0x08, 0x00])
      })
      expect(response.status).toBe(400)
      expect(collector.requests).toMatchObject([{ path: "/v1/traces", status: 400 }])
      expect(collector.spans).toEqual([])
    } finally {
      await collector.close()
    }
  })

  it("taskflow worker --otlp with a bad URL exits 2 and names the fix", async () => {
    const result = await taskflow(["worker", path.join(fixtures, "otlpTasks.ts"), "--otlp", "ftp://collector:4318"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("give the collector's OTLP/HTTP base URL, as http://localhost:4318")
  }, 60_000)
})

describe.sequential("taskflow worker --otlp, a client process and a collector", () => {
  let collector: Collector
  let store = ""
  let worker: Child

  beforeAll(async () => {
    collector = await startCollector()
    store = freshSqliteFile()
    worker = start(
      [
        "worker",
        path.join(fixtures, "otlpTasks.ts"),
        "--store",
        store,
        "--otlp",
        collector.url,
        "--otlp-protocol",
        "http/json"
      ],
      "serving"
    )
    await worker.ready
  }, 60_000)

  afterAll(async () => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
    await worker.exited
    await collector.close()
    fs.rmSync(path.dirname(store), { recursive: true, force: true })
  })

  it("(c) idle, the worker's claim loop, polling and heartbeats send no spans (metrics do flow)", async () => {
    // About 2.4 s of the worker's own clock: its store polls at least twice (1 s apart at most).
    await exportsLater(collector, 12)
    expect(workerSpans(collector)).toEqual([])
    expect(collector.requests.every((request) => request.contentType.includes("json"))).toBe(true)
  }, 60_000)

  it(
    "(a) a delayed run: the worker's task-run span continues the client's trace, under the delaying span",
    async () => {
      const out = await client(store, collector.url, "delay")
      const runId = out.runIds[0]!
      await collector.until(
        () => workerSpans(collector).some((span) => span.attributes["taskflow.run.id"] === runId),
        `the task-run span of ${runId}`
      )
      await collector.until(() => collector.spans.some((span) => span.name === "client-delay"), "the client's span")
      const run = workerSpans(collector).find((span) => span.attributes["taskflow.run.id"] === runId)!
      expect(run.name).toBe("task-run otlp-double")
      expect(run.traceId).toBe(out.traceId)
      expect(run.parentSpanId).toBe(out.spanId)
      expect(run.links).toEqual([])
      expect(run.attributes["taskflow.run.kind"]).toBe("task")
      expect(run.attributes["taskflow.state.type"]).toBe("COMPLETED")
      const inner = workerSpans(collector).find((span) => span.name === "otlp-inner" && span.traceId === out.traceId)
      expect(inner?.parentSpanId).toBe(run.spanId)
      // The body's log line carries the run id and its span's ids.
      await collector.until(() => collector.logs.some((log) => log.body === "doubling 21"), "the run's log line")
      const line = collector.logs.find((log) => log.body === "doubling 21")!
      expect(line.traceId).toBe(out.traceId)
      expect(line.spanId).toBe(inner?.spanId)
      expect(line.attributes["taskflow.run_id"]).toBe(runId)
      // Metrics from the worker, tagged by name (no run ids).
      for (const metric of ["taskflow.runs.ended", "taskflow.run.schedule_delay"]) {
        await collector.until(
          () =>
            collector.points.some((point) =>
              point.metric === metric && point.attributes["taskflow.run.name"] === "otlp-double" &&
              point.value > 0 && !("taskflow.run.id" in point.attributes)
            ),
          metric
        )
      }
    },
    60_000
  )

  it("(b) mapDelay of 100: 100 traces of their own, each linked to the producer's span", async () => {
    const out = await client(store, collector.url, "map", 100)
    const ids = new Set(out.runIds)
    const runs = () => workerSpans(collector).filter((span) => ids.has(String(span.attributes["taskflow.run.id"])))
    await collector.until(() => runs().length === 100, "100 task-run spans")
    const traces = new Set(runs().map((span) => span.traceId))
    expect(traces.size).toBe(100)
    expect(traces.has(out.traceId)).toBe(false)
    for (const span of runs()) {
      expect(span.parentSpanId).toBeUndefined()
      expect(span.links.map((link) => [link.traceId, link.spanId])).toEqual([[out.traceId, out.spanId]])
    }
  }, 120_000)

  it("stopped (SIGTERM), the worker exits 0; still no span outside the runs' traces", async () => {
    const before = workerSpans(collector).length
    await exportsLater(collector, 5)
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    const runTraces = new Set(
      workerSpans(collector).filter((span) => span.name.startsWith("task-run ")).map((span) => span.traceId)
    )
    expect(workerSpans(collector).length).toBe(before)
    expect(workerSpans(collector).filter((span) => !runTraces.has(span.traceId))).toEqual([])
  }, 60_000)
})

describe("taskflow worker --otlp, stopped", () => {
  it("SIGTERM flushes: with a minute between span exports, the run's spans arrive only through the flush", async () => {
    const collector = await startCollector()
    const store = freshSqliteFile()
    const worker = start(
      [
        "worker",
        path.join(fixtures, "otlpTasks.ts"),
        "--store",
        store,
        "--otlp",
        collector.url,
        "--otlp-protocol",
        "http/json"
      ],
      "serving",
      {
        OTEL_BSP_SCHEDULE_DELAY: "60000",
        OTEL_BLRP_SCHEDULE_DELAY: "60000",
        OTEL_RESOURCE_ATTRIBUTES: "service.version=7.1.0,deployment.environment=test"
      }
    )
    try {
      await worker.ready
      const out = await client(store, collector.url, "delay")
      const runId = out.runIds[0]!
      // The run has ended once the worker's metrics (every 200 ms) count it.
      await collector.until(
        () =>
          collector.points.some((point) =>
            point.service === "taskflow-worker" && point.metric === "taskflow.runs.ended" &&
            point.attributes["taskflow.run.name"] === "otlp-double" && point.value > 0
          ),
        "the run's end in the worker's metrics"
      )
      expect(workerSpans(collector)).toEqual([])
      expect(collector.logs.some((log) => log.body === "doubling 21")).toBe(false)
      worker.child.kill("SIGTERM")
      expect(await worker.exited).toBe(0)
      const run = workerSpans(collector).find((span) => span.attributes["taskflow.run.id"] === runId)
      expect(run?.name).toBe("task-run otlp-double")
      expect(run?.traceId).toBe(out.traceId)
      // The user's service.version; the library's own under taskflow.version.
      expect(run?.resource).toMatchObject({
        "service.version": "7.1.0",
        "deployment.environment": "test",
        "taskflow.version": packageVersion
      })
      expect(workerSpans(collector).some((span) => span.name === "otlp-inner" && span.parentSpanId === run?.spanId))
        .toBe(true)
      expect(collector.logs.some((log) => log.body === "doubling 21")).toBe(true)
      // Only the run's trace: the idle claim loop made no span.
      expect(workerSpans(collector).filter((span) => span.traceId !== out.traceId)).toEqual([])
    } finally {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
      await worker.exited
      await collector.close()
      fs.rmSync(path.dirname(store), { recursive: true, force: true })
    }
  }, 60_000)
})

describe("taskflow server --otlp", () => {
  it(
    "(d) exports its HTTP request spans (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT, protobuf), flushed on Ctrl-C",
    async () => {
      const collector = await startCollector()
      const store = freshSqliteFile()
      // A store with its schema, as a server serves one.
      const migrated = await taskflow(["store", "migrate", "--store", store])
      expect(migrated.code).toBe(0)
      const server = start(
        ["server", "--store", store, "--port", "0"],
        "Open http",
        { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: "60000" }
      )
      try {
        await server.ready
        const url = /Open (http:\/\/\S+)/.exec(server.output())![1]!
        expect(server.output()).toContain(`Exporting spans, metrics and logs to ${collector.url} (http/protobuf).`)
        expect((await fetch(new URL("/api/runs", url))).status).toBe(200)
        // Only a flush sends it: the export interval is a minute.
        server.child.kill("SIGINT")
        expect(await server.exited).toBe(0)
        const spans = collector.spans.filter((span) => span.service === "taskflow-server")
        const request = spans.find((span) => span.attributes["url.path"] === "/api/runs")
        expect(request?.name).toMatch(/^http\.server GET/)
        expect(request?.attributes["http.response.status_code"]).toBe(200)
        expect(collector.requests.find((r) => r.path === "/v1/traces")?.contentType).toBe("application/x-protobuf")
      } finally {
        if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL")
        await server.exited
        await collector.close()
        fs.rmSync(path.dirname(store), { recursive: true, force: true })
      }
    },
    60_000
  )

  it(
    "a collector that takes requests and never answers: each is given up after OTEL_EXPORTER_OTLP_TIMEOUT, and export goes on",
    async () => {
      const collector = await startCollector({ answer: false })
      const store = freshSqliteFile()
      expect((await taskflow(["store", "migrate", "--store", store])).code).toBe(0)
      const server = start(["server", "--store", store, "--port", "0"], "Open http", {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_TIMEOUT: "300"
      })
      const metrics = () => collector.requests.filter((request) => request.path === "/v1/metrics")
      try {
        await server.ready
        // Without a limit the first request would hang for good, and no other would follow it. With
        // one, the exporter gives it up (the connection closes) and tries again a second later.
        await collector.until(
          () => metrics().length >= 2 && metrics()[0]!.abandoned,
          "a second metrics request, after the first was given up"
        )
        expect(metrics().every((request) => request.status === undefined)).toBe(true)
        server.child.kill("SIGINT")
        expect(await server.exited).toBe(0)
      } finally {
        if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL")
        await server.exited
        await collector.close()
        fs.rmSync(path.dirname(store), { recursive: true, force: true })
      }
    },
    60_000
  )
})
