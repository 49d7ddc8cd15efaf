import { describe, expect, it } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Metric, Option, Schema, TestClock, Tracer } from "effect"
import { Flow, Futures, RunStore, Task, TaskRunner, Telemetry } from "effect-taskflow"
import { makeRunId } from "../../src/internal/core/runId.js"
import * as state_ from "../../src/internal/core/state.js"
import { executeTaskRun } from "../../src/internal/engine/engine.js"
import { executeFlowRun, flowDefinition } from "../../src/internal/flow/flow.js"
import { RunCell } from "../../src/internal/run/runCell.js"
import { taskDefinition } from "../../src/internal/task/task.js"
import type { RunSpanParent } from "../../src/internal/telemetry/spanParent.js"
import { root } from "../../src/internal/telemetry/spanParent.js"
import { freshSqliteFile } from "../support/stores.js"
import { makeTracing, parentIdOf, spansNamed } from "../support/tracing.js"

const idOf = (span: ReadableSpan) => span.spanContext().spanId
/** The state events (not the SDK's `exception`, nor log lines, which Effect adds as events too). */
const eventsOf = (span: ReadableSpan) =>
  span.events.filter((event) => event.attributes?.["taskflow.state.type"] !== undefined).map((event) => event.name)
const childrenOf = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan) =>
  spans.filter((span) => parentIdOf(span) === idOf(parent)).map((span) => span.name).sort()
/** The run span whose recorded parameters are `[input]`. */
const runOf = (spans: ReadonlyArray<ReadableSpan>, input: string) =>
  spans.find((span) => span.attributes["taskflow.run.parameters"] === JSON.stringify([input]))!

/** A task that completes for "ok", fails once for "flaky", and outlasts its timeout for "slow". */
const makeStep = (name: string) => {
  let flakyAttempts = 0
  return Task.make(
    { name, retries: 1, timeout: "1 second", tags: ["telemetry"], tracing: { recordParameters: true } },
    (input: string) =>
      Effect.suspend(() => {
        if (input === "flaky" && ++flakyAttempts === 1) return Effect.fail(new Error("flaky once"))
        if (input === "slow") return Effect.as(Effect.sleep("10 seconds"), input)
        return Effect.succeed(input)
      })
  )
}

/** Moves the TestClock on, a second at a time, until `fiber` ends. */
const finish = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10; i++) {
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.join(fiber)
  })

/** Checks the three task runs of the flow under `parent`. */
const checkRuns = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan, flowRunId: unknown) => {
  const [ok, flaky, slow] = [runOf(spans, "ok"), runOf(spans, "flaky"), runOf(spans, "slow")]
  for (const run of [ok, flaky, slow]) {
    expect(parentIdOf(run)).toBe(idOf(parent))
    expect(run.spanContext().traceId).toBe(parent.spanContext().traceId)
    expect(run.attributes).toMatchObject({
      "taskflow.run.kind": "task",
      "taskflow.flow_run.id": flowRunId,
      "taskflow.run.tags": ["telemetry"]
    })
    expect(typeof run.attributes["taskflow.run.id"]).toBe("string")
  }
  expect(childrenOf(spans, ok)).toEqual(["attempt 1"])
  expect(childrenOf(spans, flaky)).toEqual(["attempt 1", "attempt 2"])
  expect(childrenOf(spans, slow)).toEqual(["attempt 1", "attempt 2"])
  expect(eventsOf(ok)).toEqual(["Pending", "Running", "Completed"])
  expect(eventsOf(flaky)).toEqual(["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"])
  expect(eventsOf(slow)).toEqual(["Pending", "Running", "AwaitingRetry", "Retrying", "TimedOut"])
  expect(flaky.events[2].attributes).toMatchObject({ "taskflow.state.type": "SCHEDULED" })
  expect(String(flaky.events[2].attributes?.message)).toContain("Retry 1 of 1 after a failure")
  expect(ok.attributes).toMatchObject({ "taskflow.state.type": "COMPLETED", "taskflow.state.name": "Completed" })
  expect(ok.attributes["error.type"]).toBeUndefined()
  expect(flaky.status.code).toBe(1) // OK
  expect(slow.attributes).toMatchObject({
    "taskflow.state.type": "FAILED",
    "taskflow.state.name": "TimedOut",
    "error.type": "TaskTimeoutError"
  })
  expect(slow.status.code).toBe(2) // ERROR
  // Each attempt of the slow run timed out; the flaky run's first failed, its second did not.
  const attempts = (run: ReadableSpan) =>
    spans.filter((span) => parentIdOf(span) === idOf(run)).sort((a, b) =>
      Number(a.attributes["taskflow.run.attempt"]) - Number(b.attributes["taskflow.run.attempt"])
    )
  expect(attempts(slow).map((span) => span.status.code)).toEqual([2, 2])
  expect(attempts(flaky).map((span) => span.status.code)).toEqual([2, 1])
  expect(attempts(flaky).map((span) => span.attributes["taskflow.run.attempt"])).toEqual([1, 2])
  // Ended at the state's time (TestClock): the slow run took two timeouts of a second.
  expect(slow.endTime[0] - slow.startTime[0]).toBe(2)
}

describe("run spans", () => {
  it.effect("a flow mapping a task: flow-run → task-run → attempt N, with states as events (concurrent runner)", () => {
    const tracing = makeTracing()
    const step = makeStep("spans-step")
    const flow = Flow.make("spans-flow", (inputs: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const futures = yield* step.map(inputs)
        for (const future of futures) yield* future.wait()
        return "done"
      }))
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.withSpan(flow(["ok", "flaky", "slow"]), "outer"))
      expect(yield* finish(fiber)).toBe("done")
      const spans = tracing.exporter.getFinishedSpans()
      const [outer] = spansNamed(tracing.exporter, "outer")
      const [flowRun] = spansNamed(tracing.exporter, "flow-run spans-flow")
      expect(parentIdOf(flowRun)).toBe(idOf(outer))
      expect(flowRun.attributes).toMatchObject({ "taskflow.run.kind": "flow", "taskflow.run.name": "spans-flow" })
      expect(flowRun.attributes["taskflow.run.parameters"]).toBeUndefined() // not asked for
      expect(eventsOf(flowRun)).toEqual(["Pending", "Running", "Completed"])
      expect(spansNamed(tracing.exporter, "task-run spans-step").length).toBe(3)
      checkRuns(spans, flowRun, flowRun.attributes["taskflow.run.id"])
    }).pipe(Effect.provide(tracing.layer))
  })

  it.effect("inline calls are children of the calling span, each attempt its own span", () => {
    const tracing = makeTracing()
    const step = makeStep("spans-inline")
    const flow = Flow.make(
      "spans-inline-flow",
      (inputs: ReadonlyArray<string>) => Effect.forEach(inputs, (input) => Effect.either(step(input)))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(flow(["ok", "flaky", "slow"]))
      yield* finish(fiber)
      const spans = tracing.exporter.getFinishedSpans()
      const [flowRun] = spansNamed(tracing.exporter, "flow-run spans-inline-flow")
      expect(parentIdOf(flowRun)).toBeUndefined()
      checkRuns(spans, flowRun, flowRun.attributes["taskflow.run.id"])
    }).pipe(Effect.provide(tracing.layer))
  })

  it.effect("a submitted run is a child of the span current at submit; the body's spans are its children", () => {
    const tracing = makeTracing()
    const plain = Task.make("spans-plain", (n: number) => Effect.withSpan(Effect.succeed(n), "inner"))
    return Effect.gen(function*() {
      const future = yield* Effect.withSpan(plain.submit(1), "outer")
      expect(yield* future.result()).toBe(1)
      const [outer] = spansNamed(tracing.exporter, "outer")
      const [run] = spansNamed(tracing.exporter, "task-run spans-plain")
      const [inner] = spansNamed(tracing.exporter, "inner")
      expect(parentIdOf(run)).toBe(idOf(outer))
      // No retries: no attempt span, the body runs under the run's span.
      expect(parentIdOf(inner)).toBe(idOf(run))
      expect(run.attributes["taskflow.flow_run.id"]).toBeUndefined()
      expect(run.attributes["taskflow.run.tags"]).toBeUndefined()
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(tracing.layer))
  })

  it.effect("with no tracer installed, or tracing off, runs make no spans", () =>
    Effect.gen(function*() {
      let calls = 0
      const native = yield* Effect.tracer
      const counting = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          calls++
          return native.span(name, parent, context, links, startTime, kind)
        },
        context: (f) => f()
      })
      const body = Task.make(
        { name: "spans-current", retries: 1 },
        () => Effect.map(Effect.option(Effect.currentSpan), (span) => Option.map(span, (s) => s.name))
      )
      // Effect's default tracer: the body sees the submitter's span, not one of the run.
      const future = yield* Effect.withSpan(body.submit(), "outer")
      expect(yield* future.result()).toEqual(Option.some("outer"))
      expect(yield* Effect.withSpan(body(), "outer-inline")).toEqual(Option.some("outer-inline"))
      // A tracer installed but turned off: it is asked for no span at all.
      const off = yield* Effect.withTracerEnabled(
        Effect.withSpan(Effect.flatMap(body.submit(), (f) => f.result()), "user-span"),
        false
      ).pipe(Effect.withTracer(counting))
      // The body sees the user's span (a no-op one): the run made none of its own.
      expect(off).toEqual(Option.some("user-span"))
      expect(calls).toBe(0)
      // On: the user's span, the run's and its attempt's.
      yield* Effect.withSpan(Effect.flatMap(body.submit(), (f) => f.result()), "user-span").pipe(
        Effect.withTracer(counting)
      )
      expect(calls).toBe(3)
    }).pipe(Effect.provide(TaskRunner.concurrent())))

  it.effect("a task worker's run hangs where its span parent says: Parent, Link or Root, never on the worker's span", () => {
    const tracing = makeTracing()
    const def = taskDefinition(Task.make("spans-worker", () => Effect.void))
    const flowDef = flowDefinition(Flow.make("spans-worker-flow", () => Effect.void))
    // The span that delayed the runs, in another process.
    const remote = Tracer.externalSpan({ traceId: "a".repeat(32), spanId: "b".repeat(16), sampled: true })
    const claimed = (spanParent: RunSpanParent) =>
      executeTaskRun({
        def,
        cell: new RunCell(makeRunId(), def.name, state_.running()),
        store: undefined,
        args: [],
        waitFor: [],
        ownFiber: true,
        claimed: 1,
        spanParent
      })
    const claimedFlow = Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const id = makeRunId()
      const running = state_.running()
      yield* store.createRun({
        id,
        kind: "flow",
        name: flowDef.name,
        flowRunId: undefined,
        parentTaskRunId: undefined,
        parameters: [],
        tags: [],
        retries: 0,
        state: running
      })
      yield* executeFlowRun(flowDef, id, store, [], running, 1, { _tag: "Link", span: remote })
    }).pipe(Effect.provide(RunStore.memory))
    return Effect.gen(function*() {
      yield* Effect.withSpan(
        Effect.all([claimed({ _tag: "Parent", span: remote }), claimed({ _tag: "Link", span: remote }), claimed(root)]),
        "worker"
      )
      yield* Effect.withSpan(claimedFlow, "worker")
      const [parent, link, fresh] = spansNamed(tracing.exporter, "task-run spans-worker")
      expect(parent.spanContext().traceId).toBe(remote.traceId)
      expect(parentIdOf(parent)).toBe(remote.spanId)
      for (const span of [link, fresh]) {
        expect(parentIdOf(span)).toBeUndefined()
        expect(span.spanContext().traceId).not.toBe(remote.traceId)
      }
      expect(link.links.map((l) => l.context.spanId)).toEqual([remote.spanId])
      expect(fresh.links).toEqual([])
      // A claimed run starts Running (the claim recorded it).
      expect(eventsOf(parent)).toEqual(["Running", "Completed"])
      const [flowRun] = spansNamed(tracing.exporter, "flow-run spans-worker-flow")
      expect(parentIdOf(flowRun)).toBeUndefined()
      expect(flowRun.links.map((l) => l.context.traceId)).toEqual([remote.traceId])
      expect(eventsOf(flowRun)).toEqual(["Running", "Completed"])
    }).pipe(Effect.provide(tracing.layer))
  })

  it.effect("a run that never ran ends its span: NotReady (error.type UpstreamTaskError), Cancelled", () => {
    const tracing = makeTracing()
    const boom = Task.make("spans-boom", () => Effect.fail(new Error("boom")))
    const after = Task.make("spans-after", (_: unknown) => Effect.void)
    const never = Task.make("spans-never", () => Effect.never)
    return Effect.gen(function*() {
      const failed = yield* boom.submit()
      yield* Effect.flatMap(after.submit(failed), (future) => future.wait())
      const stuck = yield* never.submit()
      yield* Effect.yieldNow()
      yield* Futures.cancel(stuck)
      yield* stuck.wait()
      const [notReady] = spansNamed(tracing.exporter, "task-run spans-after")
      expect(eventsOf(notReady)).toEqual(["Pending", "NotReady"])
      expect(notReady.attributes).toMatchObject({
        "taskflow.state.type": "PENDING",
        "taskflow.state.name": "NotReady",
        "error.type": "UpstreamTaskError"
      })
      const [boomRun] = spansNamed(tracing.exporter, "task-run spans-boom")
      expect(boomRun.attributes["error.type"]).toBe("Error")
      expect(boomRun.status.code).toBe(2)
      const [cancelled] = spansNamed(tracing.exporter, "task-run spans-never")
      expect(eventsOf(cancelled)).toEqual(["Pending", "Running", "Cancelled"])
      expect(cancelled.attributes).toMatchObject({ "taskflow.state.type": "CANCELLED" })
      expect(cancelled.status.code).not.toBe(2)
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(tracing.layer))
  })

  it.live("a run its store cannot create (arguments its Schema rejects) ends its span Crashed, uncounted", () => {
    const tracing = makeTracing()
    const unstorable = Task.make(
      { name: "spans-unstorable", parameters: Schema.Tuple(Schema.Number) },
      (_: number) => Effect.void
    )
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(unstorable("nope" as unknown as number))
      expect(exit._tag).toBe("Failure")
      const [run] = spansNamed(tracing.exporter, "task-run spans-unstorable")
      expect(run.attributes).toMatchObject({ "taskflow.state.type": "CRASHED", "error.type": "SerializationError" })
      expect(run.status.code).toBe(2)
      const counted = yield* Metric.value(
        Telemetry.runsEnded.pipe(
          Metric.tagged("taskflow.run.kind", "task"),
          Metric.tagged("taskflow.run.name", "spans-unstorable"),
          Metric.tagged("taskflow.state.type", "CRASHED")
        )
      )
      expect(counted.count).toBe(0)
    }).pipe(
      Effect.provide(RunStore.sqlite({ filename: freshSqliteFile() })),
      Effect.provide(tracing.layer)
    )
  })
})
