/**
 * What tracing costs a run (issue 25): the same in-process runs with no tracer (Effect's default:
 * no spans) and with a user's OpenTelemetry SDK installed (`NodeSdk` with a SimpleSpanProcessor
 * into an in-memory exporter, so the figure is the span work, not a network). Printed per run in
 * µs, and as a ratio. Run with `npm run bench` (node --expose-gc). Not part of the tests.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import type { Layer } from "effect"
import { Effect, Logger, LogLevel, ManagedRuntime } from "effect"
import { Task, TaskRunner } from "../src/index.js"
import { timeInterleaved } from "./measure.js"

const N = Number(process.env.BENCH_TELEMETRY_N ?? 20_000)
const WAITS = Number(process.env.BENCH_TELEMETRY_WAITS ?? 2_000)
const trivial = Task.make("bench-trivial", (n: number) => Effect.succeed(n + 1))
const inputs = Array.from({ length: N }, (_, i) => i)

const exporter = new InMemorySpanExporter()
const traced = ManagedRuntime.make(NodeSdk.layer(() => ({
  resource: { serviceName: "taskflow-bench" },
  spanProcessor: new SimpleSpanProcessor(exporter)
})) as Layer.Layer<never>)

/** Runs `effect` on a concurrent runner, with the SDK's tracer or without; the spans are dropped after. */
const run = <A, E>(effect: Effect.Effect<A, E, TaskRunner.TaskRunner>, withTracer: boolean) => {
  const program = Effect.provide(effect, TaskRunner.concurrent()).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
  const done = withTracer ? traced.runPromise(program) : Effect.runPromise(program)
  return done.finally(() => exporter.reset())
}

const submitResult = Effect.gen(function*() {
  const futures = yield* Effect.forEach(inputs, (n) => trivial.submit(n))
  yield* Effect.forEach(futures, (future) => future.result(), { discard: true })
})

const mapResult = Effect.gen(function*() {
  const futures = yield* trivial.map(inputs)
  yield* futures.result()
})

/** `WAITS` calls of `wait()` on a list of 10 finished futures: the cost of the call (and its span). */
const waits = Effect.gen(function*() {
  const futures = yield* trivial.map(Array.from({ length: 10 }, (_, i) => i))
  yield* futures.wait()
  const start = performance.now()
  for (let i = 0; i < WAITS; i++) yield* futures.wait()
  return performance.now() - start
})

const perRun = (ms: number, count: number) => (ms * 1000) / count

const main = async () => {
  console.log(`effect-taskflow tracing cost, N = ${N}, node ${process.version}\n`)
  await traced.runPromise(Effect.void)
  const [submitOff, submitOn, mapOff, mapOn] = await timeInterleaved([
    () => run(submitResult, false),
    () => run(submitResult, true),
    () => run(mapResult, false),
    () => run(mapResult, true)
  ], 5)
  // How many spans one traced run makes, counted once.
  const spansPerRun = await traced.runPromise(
    Effect.provide(Effect.flatMap(trivial.submit(1), (future) => future.result()), TaskRunner.concurrent())
  ).then(() => exporter.getFinishedSpans().length)
  exporter.reset()
  for (
    const [label, off, on] of [
      ["submit + result", submitOff, submitOn],
      ["map + PrefectFutureList.result", mapOff, mapOn]
    ] as const
  ) {
    console.log(
      `${label.padEnd(34)} ${perRun(off, N).toFixed(2).padStart(7)} µs/run no tracer   ` +
        `${perRun(on, N).toFixed(2).padStart(7)} µs/run traced   ${(on / off).toFixed(2)}×`
    )
  }
  console.log(`spans per traced task run: ${spansPerRun}`)
  const [waitOff, waitOn] = [
    await run(waits, false),
    await run(waits, true)
  ]
  const waitSpans = await traced.runPromise(Effect.provide(
    Effect.flatMap(trivial.map([1, 2]), (futures) => Effect.zipRight(futures.wait(), futures.wait())),
    TaskRunner.concurrent()
  )).then(() => exporter.getFinishedSpans().filter((span) => span.name === "taskflow.wait").length)
  exporter.reset()
  console.log(
    `${"wait() on 10 finished futures".padEnd(34)} ${
      perRun(waitOff, WAITS).toFixed(2).padStart(7)
    } µs/call no tracer ` +
      `${perRun(waitOn, WAITS).toFixed(2).padStart(7)} µs/call traced  (+${
        (perRun(waitOn, WAITS) - perRun(waitOff, WAITS)).toFixed(2)
      } µs: the taskflow.wait span; ${waitSpans} span(s) for 2 waits)`
  )
  await traced.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
