/**
 * Every run is a span: `npx tsx --conditions=taskflow-source examples/tracing.ts` (from a clone; the
 * condition loads the library from src/, as `npm start` does) runs a flow under the OpenTelemetry SDK and
 * prints the trace it made as a tree (swap the in-memory exporter for an OTLP one to see it in
 * Jaeger, Tempo, …: docs/telemetry.md).
 */
import { NodeSdk } from "@effect/opentelemetry"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Data, Effect } from "effect"
import { Flow, Task, TaskRunner } from "effect-taskflow"
import { pathToFileURL } from "node:url"

class Flaky extends Data.TaggedError("Flaky")<{ readonly url: string }> {}

const exporter = new InMemorySpanExporter()
const Tracing = NodeSdk.layer(() => ({
  resource: { serviceName: "examples-tracing" },
  spanProcessor: new SimpleSpanProcessor(exporter)
}))

const failedOnce = new Set<string>()

/** Fails the first fetch of /b once: its run has two attempt spans. */
export const fetchPage = Task.make(
  { name: "examples-fetch-page", retries: 1, retryDelay: "10 millis" },
  (url: string) =>
    Effect.suspend(() =>
      url.endsWith("/b") && !failedOnce.has(url)
        ? Effect.sync(() => failedOnce.add(url)).pipe(Effect.zipRight(Effect.fail(new Flaky({ url }))))
        : Effect.succeed(url.length).pipe(Effect.delay("5 millis"), Effect.withSpan("parse"))
    )
)

export const crawl = Flow.make(
  { name: "examples-crawl", taskRunner: TaskRunner.concurrent() },
  (urls: ReadonlyArray<string>) => fetchPage.map(urls)
)

/** The finished spans as an indented tree: name, duration, final state. */
const tree = (spans: ReadonlyArray<ReadableSpan>): Array<string> => {
  const ids = new Set(spans.map((span) => span.spanContext().spanId))
  const lines: Array<string> = []
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of spans) {
      const of = span.parentSpanContext?.spanId
      if ((of !== undefined && ids.has(of) ? of : undefined) !== parent) continue
      const ms = span.duration[0] * 1e3 + span.duration[1] / 1e6
      const state = span.attributes["taskflow.state.name"]
      lines.push(`${"  ".repeat(depth)}${span.name}  ${ms.toFixed(1)} ms${state === undefined ? "" : `  ${state}`}`)
      walk(span.spanContext().spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  return lines
}

export const main = Effect.gen(function*() {
  yield* crawl(["https://example.com/a", "https://example.com/b", "https://example.com/c"]).pipe(
    Effect.withSpan("handle-request")
  )
  const spans = [...exporter.getFinishedSpans()].sort((a, b) =>
    a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]
  )
  const lines = tree(spans)
  lines.forEach((line) => console.log(line))
  return lines
}).pipe(Effect.provide(Tracing))

// pathToFileURL: a path with spaces is %20 in import.meta.url.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main).catch(console.error)
}
