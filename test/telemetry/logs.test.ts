import { NodeSdk } from "@effect/opentelemetry"
import { describe, expect, it } from "@effect/vitest"
import { InMemoryLogRecordExporter, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { Flow, Task, TaskRunner } from "effect-taskflow"
import { spansNamed } from "../support/tracing.js"

/** A user's SDK exporting spans and log records to memory. */
const makeSdk = () => {
  const spans = new InMemorySpanExporter()
  const logs = new InMemoryLogRecordExporter()
  const processor = new SimpleLogRecordProcessor({ exporter: logs })
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "taskflow-logs-test" },
    spanProcessor: new SimpleSpanProcessor(spans),
    logRecordProcessor: processor
  }))
  // The processor exports once the resource's attributes are known: flushed before reading.
  const flush = Effect.promise(() => processor.forceFlush())
  return { spans, logs, layer, flush }
}

/** The log record whose body is `message`. */
const logOf = (logs: InMemoryLogRecordExporter, message: string) =>
  logs.getFinishedLogRecords().find((record) => record.body === message)!

/** Checks a log record carries the run's id and the ids of `span` (its run's or attempt's span). */
const expectFrom = (logs: InMemoryLogRecordExporter, message: string, run: ReadableSpan, span: ReadableSpan) => {
  const record = logOf(logs, message)
  expect(record).toBeDefined()
  expect(record.attributes).toMatchObject({
    "taskflow.run_id": run.attributes["taskflow.run.id"],
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId
  })
}

describe("run logs through OpenTelemetry", () => {
  it.effect("a log in a task body carries the run id and its run span's trace and span ids", () => {
    const sdk = makeSdk()
    const submitted = Task.make("logs-submitted", () => Effect.log("from a submitted run"))
    const inline = Task.make("logs-inline", () => Effect.log("from an inline run"))
    const flow = Flow.make("logs-flow", () =>
      Effect.gen(function*() {
        yield* Effect.log("from the flow")
        yield* inline()
      }))
    return Effect.gen(function*() {
      const future = yield* submitted.submit()
      yield* future.result()
      yield* flow()
      yield* sdk.flush
      const [submittedRun] = spansNamed(sdk.spans, "task-run logs-submitted")
      const [inlineRun] = spansNamed(sdk.spans, "task-run logs-inline")
      const [flowRun] = spansNamed(sdk.spans, "flow-run logs-flow")
      expectFrom(sdk.logs, "from a submitted run", submittedRun, submittedRun)
      expectFrom(sdk.logs, "from an inline run", inlineRun, inlineRun)
      expectFrom(sdk.logs, "from the flow", flowRun, flowRun)
      expect(logOf(sdk.logs, "from an inline run").attributes["taskflow.flow_run_id"]).toBe(
        flowRun.attributes["taskflow.run.id"]
      )
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(sdk.layer))
  })

  it.effect("a task with retries logs under the span of its attempt", () => {
    const sdk = makeSdk()
    let attempts = 0
    const retried = Task.make(
      { name: "logs-retried", retries: 1 },
      () =>
        Effect.suspend(() =>
          Effect.zipRight(Effect.log(`attempt ${++attempts}`), attempts === 1 ? Effect.fail("again") : Effect.void)
        )
    )
    return Effect.gen(function*() {
      yield* Effect.flatMap(retried.submit(), (future) => future.result())
      yield* sdk.flush
      const [run] = spansNamed(sdk.spans, "task-run logs-retried")
      const [second] = spansNamed(sdk.spans, "attempt 2")
      expectFrom(sdk.logs, "attempt 2", run, second)
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(sdk.layer))
  })
})
