/**
 * Spans and metrics as a user's OpenTelemetry SDK receives them, kept in memory: the `NodeSdk`
 * layer of `@effect/opentelemetry` with an in-memory span exporter and metric reader.
 */
import { NodeSdk } from "@effect/opentelemetry"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import type * as Layer from "effect/Layer"

export interface Tracing {
  /** Ended spans, in the order they ended. */
  readonly exporter: InMemorySpanExporter
  readonly metrics: InMemoryMetricExporter
  readonly reader: PeriodicExportingMetricReader
  /** The user's tracer (and meter) installed: provide it to the program under test. */
  readonly layer: Layer.Layer<never>
}

/** A fresh in-memory SDK (one per test: spans of other tests do not mix in). */
export const makeTracing = (): Tracing => {
  const exporter = new InMemorySpanExporter()
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 3_600_000 })
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "taskflow-test" },
    spanProcessor: new SimpleSpanProcessor(exporter),
    metricReader: reader
  }))
  return { exporter, metrics, reader, layer }
}

/** A span's parent span id, if it has one. */
export const parentIdOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

/** The spans named `name`. */
export const spansNamed = (exporter: InMemorySpanExporter, name: string): ReadonlyArray<ReadableSpan> =>
  exporter.getFinishedSpans().filter((span) => span.name === name)

/**
 * The ended spans as an indented tree of names, children in start order: what a trace view shows.
 * Spans whose parent did not end (or is in another process) are roots.
 */
export const spanTree = (exporter: InMemorySpanExporter): string => {
  const spans = [...exporter.getFinishedSpans()].sort((a, b) => compareTime(a.startTime, b.startTime))
  const ids = new Set(spans.map((span) => span.spanContext().spanId))
  const children = new Map<string | undefined, Array<ReadableSpan>>()
  for (const span of spans) {
    const parent = parentIdOf(span)
    const key = parent !== undefined && ids.has(parent) ? parent : undefined
    const list = children.get(key) ?? []
    list.push(span)
    children.set(key, list)
  }
  const lines: Array<string> = []
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of children.get(parent) ?? []) {
      lines.push(`${"  ".repeat(depth)}${span.name}`)
      walk(span.spanContext().spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  return lines.join("\n")
}

const compareTime = (a: readonly [number, number], b: readonly [number, number]) => a[0] - b[0] || a[1] - b[1]
