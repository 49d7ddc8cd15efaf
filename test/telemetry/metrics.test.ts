import { describe, expect, it } from "@effect/vitest"
import type { DataPoint, Histogram } from "@opentelemetry/sdk-metrics"
import { Effect, Fiber, Metric, TestClock } from "effect"
import { Task, TaskRunner, Telemetry } from "effect-taskflow"
import { makeTracing } from "../support/tracing.js"

const tagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, name: string, stateType?: string) => {
  const named = metric.pipe(Metric.tagged("taskflow.run.kind", "task"), Metric.tagged("taskflow.run.name", name))
  return stateType === undefined ? named : named.pipe(Metric.tagged("taskflow.state.type", stateType))
}
const ended = (name: string, stateType: string) =>
  Metric.value(tagged(Telemetry.runsEnded, name, stateType)).pipe(Effect.map((state) => state.count))
const retried = (name: string) => Metric.value(tagged(Telemetry.retries, name)).pipe(Effect.map((state) => state.count))

describe("run metrics", () => {
  it.effect("every final state is counted, with its duration; each attempt after the first is a retry", () =>
    Effect.gen(function*() {
      const ok = Task.make("metrics-ok", (ms: number) => Effect.as(Effect.sleep(ms), ms))
      const bad = Task.make({ name: "metrics-bad", retries: 2 }, () => Effect.fail(new Error("no")))
      const futures = yield* ok.map([1_000, 3_000])
      const failed = yield* bad.submit()
      const inline = yield* Effect.fork(ok(500))
      yield* TestClock.adjust("3 seconds")
      yield* futures.wait()
      yield* failed.wait()
      yield* Fiber.join(inline)
      expect(yield* ended("metrics-ok", "COMPLETED")).toBe(3)
      expect(yield* ended("metrics-ok", "FAILED")).toBe(0)
      expect(yield* ended("metrics-bad", "FAILED")).toBe(1)
      expect(yield* retried("metrics-bad")).toBe(2)
      expect(yield* retried("metrics-ok")).toBe(0)
      // Durations from first Running to the end, by the TestClock: 0.5 s, 1 s and 3 s.
      const durations = yield* Metric.value(tagged(Telemetry.runDuration, "metrics-ok", "COMPLETED"))
      expect(durations.count).toBe(3)
      expect(durations.sum).toBeCloseTo(4.5)
      expect(durations.max).toBeCloseTo(3)
    }).pipe(Effect.provide(TaskRunner.concurrent())))

  it.effect("a run NotReady (an upstream run failed) is counted as PENDING, with no duration", () =>
    Effect.gen(function*() {
      const boom = Task.make("metrics-boom", () => Effect.fail(new Error("boom")))
      const after = Task.make("metrics-after", (_: unknown) => Effect.void)
      const failed = yield* boom.submit()
      const downstream = yield* after.submit(failed)
      yield* downstream.wait()
      expect((yield* downstream.state).name).toBe("NotReady")
      expect(yield* ended("metrics-after", "PENDING")).toBe(1)
      expect((yield* Metric.value(tagged(Telemetry.runDuration, "metrics-after", "PENDING"))).count).toBe(0)
    }).pipe(Effect.provide(TaskRunner.concurrent())))

  it.effect("through the OpenTelemetry SDK: counts by kind, name and state, and no run id in any tag", () => {
    const tracing = makeTracing()
    return Effect.gen(function*() {
      const task = Task.make(
        "metrics-otel",
        (n: number) => n < 0 ? Effect.fail(new Error("negative")) : Effect.succeed(n)
      )
      const futures = yield* task.map([1, 2, -1])
      yield* futures.wait()
      yield* Effect.promise(() => tracing.reader.forceFlush())
      const exported = tracing.metrics.getMetrics().at(-1)!.scopeMetrics.flatMap((scope) => scope.metrics)
      const points = (name: string) =>
        exported.filter((metric) => metric.descriptor.name === name).flatMap((metric) =>
          metric.dataPoints as ReadonlyArray<DataPoint<unknown>>
        )
      const mine = (name: string) =>
        points(name).filter((point) => point.attributes["taskflow.run.name"] === "metrics-otel")
      const counts = Object.fromEntries(
        mine("taskflow.runs.ended").map((point) => [String(point.attributes["taskflow.state.type"]), point.value])
      )
      expect(counts).toEqual({ COMPLETED: 2, FAILED: 1 })
      const durations = mine("taskflow.run.duration") as ReadonlyArray<DataPoint<Histogram>>
      expect(durations.reduce((sum, point) => sum + point.value.count, 0)).toBe(3)
      for (const point of [...points("taskflow.runs.ended"), ...points("taskflow.run.duration")]) {
        expect(Object.keys(point.attributes).sort()).toEqual(
          ["taskflow.run.kind", "taskflow.run.name", "taskflow.state.type"]
        )
      }
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(tracing.layer))
  })
})
