/**
 * One trace across processes: a run delayed for a task worker carries the trace context of the span
 * that delayed it in the store, and the worker's run span continues it (a `delay`'s as that span's
 * child, a `mapDelay`'s runs and late starts as traces of their own linked to it). The producer and
 * the worker share one process and runtime here, with the in-memory SDK: the store is all they
 * share of the trace, as two processes would.
 */
import { describe, expect, it } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Deferred, Effect, Exit, FiberId, Tracer } from "effect"
import { Flow, Futures, RunStore, State, Task, TaskWorker } from "effect-taskflow"
import { workerSpanParent } from "../../src/internal/telemetry/traceContext.js"
import {
  captureTraceContext,
  decodeTraceparent,
  encodeTraceparent,
  isTraceparent
} from "../../src/internal/telemetry/traceContext.js"
import { newRun, uuid } from "../support/storeRuns.js"
import { storeCases } from "../support/stores.js"
import { makeTracing, parentIdOf } from "../support/tracing.js"

const traceIdOf = (span: ReadableSpan) => span.spanContext().traceId
const spanIdOf = (span: ReadableSpan) => span.spanContext().spanId
const linkedTo = (span: ReadableSpan) => span.links.map((link) => link.context.spanId)

const named = (spans: ReadonlyArray<ReadableSpan>, name: string) => spans.filter((span) => span.name === name)

/** The one span named `name`. */
const only = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = named(spans, name)
  expect(found.map((span) => span.name)).toEqual([name])
  return found[0]
}

const double = Task.make("delayed-double", (n: number) => Effect.succeed(n * 2))
const linkedDouble = Task.make({ name: "delayed-linked", tracing: { join: "link" } }, (n: number) => Effect.succeed(n))
const untracedDouble = Task.make({ name: "delayed-none", tracing: { join: "none" } }, (n: number) => Effect.succeed(n))
const childAlways = Task.make({ name: "delayed-parent", tracing: { join: "parent" } }, (n: number) => Effect.succeed(n))
const sumFlow = Flow.make("delayed-sum-flow", (xs: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const futures = yield* double.map(xs)
    return yield* Effect.forEach(futures, (future) => future.result())
  }))
const served = [double, linkedDouble, untracedDouble, childAlways, sumFlow]

describe("trace context", () => {
  it("encodes a span as a W3C traceparent and reads it back as an external span", () => {
    const span = Tracer.externalSpan({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" })
    const traceparent = encodeTraceparent(span)
    expect(traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    expect(isTraceparent(traceparent)).toBe(true)
    expect(decodeTraceparent(traceparent)).toMatchObject({ ...span, _tag: "ExternalSpan", sampled: true })
    expect(decodeTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")?.sampled).toBe(false)
    for (
      const bad of [
        "",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        `00-${"0".repeat(32)}-b7ad6b7169203331-01`,
        `00-0af7651916cd43dd8448eb211c80319c-${"0".repeat(16)}-01`
      ]
    ) {
      expect(isTraceparent(bad)).toBe(false)
      expect(decodeTraceparent(bad)).toBeUndefined()
    }
  })

  it("a worker's choice: parent, link after a minute under auto, link, none", () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    const scheduledAt = new Date(1_000_000)
    const at = (seconds: number) => scheduledAt.getTime() + seconds * 1000
    const tagOf = (
      context: { readonly traceparent: string; readonly join: "parent" | "link" } | undefined,
      join: "auto" | "parent" | "link" | "none",
      seconds: number
    ) => workerSpanParent(context, join, scheduledAt, at(seconds))._tag
    expect(tagOf({ traceparent, join: "parent" }, "auto", 60)).toBe("Parent")
    expect(tagOf({ traceparent, join: "parent" }, "auto", 61)).toBe("Link")
    expect(tagOf({ traceparent, join: "parent" }, "parent", 3600)).toBe("Parent")
    expect(tagOf({ traceparent, join: "link" }, "auto", 0)).toBe("Link")
    expect(tagOf(undefined, "auto", 0)).toBe("Root")
    expect(tagOf({ traceparent: "garbage", join: "parent" }, "auto", 0)).toBe("Root")
    const parent = workerSpanParent({ traceparent, join: "parent" }, "auto", scheduledAt, at(1))
    expect(parent._tag === "Parent" && parent.span.spanId).toBe("b7ad6b7169203331")
  })

  it.effect("nothing is captured with no tracer installed, with no current span, or under join none", () =>
    Effect.gen(function*() {
      const capture = (join: "auto" | "none", many: boolean) =>
        Effect.withFiberRuntime<ReturnType<typeof captureTraceContext>>((fiber) =>
          Effect.succeed(captureTraceContext(fiber, join, many))
        )
      // Effect's default tracer: no spans are exported, nothing to continue.
      expect(yield* capture("auto", false).pipe(Effect.withSpan("default tracer"))).toBeUndefined()
      yield* Effect.gen(function*() {
        expect(yield* capture("auto", false)).toBeUndefined()
        expect(yield* capture("none", false).pipe(Effect.withSpan("producer"))).toBeUndefined()
        expect((yield* capture("auto", false).pipe(Effect.withSpan("producer")))?.join).toBe("parent")
        expect((yield* capture("auto", true).pipe(Effect.withSpan("producer")))?.join).toBe("link")
        expect(
          yield* capture("auto", false).pipe(Effect.withSpan("producer"), Effect.withTracerEnabled(false))
        ).toBeUndefined()
      }).pipe(Effect.provide(makeTracing().layer))
    }))
})

for (const store of storeCases) {
  describe.skipIf(!store.available)(`runs a task worker starts, on ${store.name}`, () => {
    /**
     * `effect` (the producer) with a task worker serving in the same runtime, both under a fresh
     * in-memory SDK; the worker stops (its runs ended, their spans exported) before the spans are read.
     */
    const traced = <A, E>(body: Effect.Effect<A, E, RunStore.RunStore>) => {
      const tracing = makeTracing()
      return Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(TaskWorker.serve(served, { concurrency: 5, pollInterval: 50, heartbeatInterval: 50 }))
        return yield* body
      })).pipe(
        Effect.provide(store.fresh()),
        // Read before the SDK's layer is released: its shutdown empties the exporter.
        Effect.map((a) => [a, tracing.exporter.getFinishedSpans()] as const),
        Effect.provide(tracing.layer)
      )
    }

    it.live("a delay's run is a child of the span that delayed it, in its trace", () =>
      Effect.gen(function*() {
        const [result, spans] = yield* traced(
          Effect.flatMap(double.delay(21), (future) => future.result({ timeout: "20 seconds" })).pipe(
            Effect.withSpan("producer")
          )
        )
        expect(result).toBe(42)
        const producer = only(spans, "producer")
        const run = only(spans, "task-run delayed-double")
        expect(traceIdOf(run)).toBe(traceIdOf(producer))
        expect(parentIdOf(run)).toBe(spanIdOf(producer))
        expect(run.links).toEqual([])
      }))

    it.live("a mapDelay of 5: five traces of their own, each linked to the span that delayed them", () =>
      Effect.gen(function*() {
        const [, spans] = yield* traced(
          Effect.flatMap(double.mapDelay([1, 2, 3, 4, 5]), (futures) => futures.result({ timeout: "20 seconds" })).pipe(
            Effect.withSpan("producer")
          )
        )
        const producer = only(spans, "producer")
        const runs = named(spans, "task-run delayed-double")
        expect(runs.length).toBe(5)
        expect(new Set(runs.map(traceIdOf)).size).toBe(5)
        for (const run of runs) {
          expect(traceIdOf(run)).not.toBe(traceIdOf(producer))
          expect(parentIdOf(run)).toBeUndefined()
          expect(linkedTo(run)).toEqual([spanIdOf(producer)])
        }
      }))

    it.live("join none: a new trace, with no link; join link: a new trace linked to it", () =>
      Effect.gen(function*() {
        const [, spans] = yield* traced(
          Effect.gen(function*() {
            yield* (yield* untracedDouble.delay(1)).result({ timeout: "20 seconds" })
            yield* (yield* linkedDouble.delay(2)).result({ timeout: "20 seconds" })
          }).pipe(Effect.withSpan("producer"))
        )
        const producer = only(spans, "producer")
        const none = only(spans, "task-run delayed-none")
        expect(traceIdOf(none)).not.toBe(traceIdOf(producer))
        expect(parentIdOf(none)).toBeUndefined()
        expect(none.links).toEqual([])
        const linked = only(spans, "task-run delayed-linked")
        expect(traceIdOf(linked)).not.toBe(traceIdOf(producer))
        expect(linkedTo(linked)).toEqual([spanIdOf(producer)])
      }))

    it.live("a run claimed more than a minute after it was Scheduled is linked, not a child (unless join parent)", () =>
      Effect.gen(function*() {
        const producerSpan = Tracer.externalSpan({
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b7ad6b7169203331"
        })
        const traceContext = { traceparent: encodeTraceparent(producerSpan), join: "parent" } as const
        const [, spans] = yield* traced(
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const timestamp = new Date(Date.now() - 2 * 60_000)
            const late = uuid()
            const lateChild = uuid()
            yield* s.createRun({
              ...newRun(late, double.name, State.scheduled({ timestamp })),
              parameters: [1],
              traceContext
            })
            yield* s.createRun({
              ...newRun(lateChild, childAlways.name, State.scheduled({ timestamp })),
              parameters: [2],
              traceContext
            })
            yield* awaitEnded([late, lateChild])
          })
        )
        const late = only(spans, "task-run delayed-double")
        expect(traceIdOf(late)).not.toBe(producerSpan.traceId)
        expect(linkedTo(late)).toEqual([producerSpan.spanId])
        const child = only(spans, "task-run delayed-parent")
        expect(traceIdOf(child)).toBe(producerSpan.traceId)
        expect(parentIdOf(child)).toBe(producerSpan.spanId)
      }))

    it.live("flow.delay: the flow-run span is a child of the span that delayed it, its task runs under it", () =>
      Effect.gen(function*() {
        const [result, spans] = yield* traced(
          Effect.flatMap(sumFlow.delay([1, 2]), (future) => future.result({ timeout: "20 seconds" })).pipe(
            Effect.withSpan("producer")
          )
        )
        expect(result).toEqual([2, 4])
        const producer = only(spans, "producer")
        const flowRun = only(spans, "flow-run delayed-sum-flow")
        expect(traceIdOf(flowRun)).toBe(traceIdOf(producer))
        expect(parentIdOf(flowRun)).toBe(spanIdOf(producer))
        const tasks = named(spans, "task-run delayed-double")
        expect(tasks.length).toBe(2)
        for (const task of tasks) {
          expect(traceIdOf(task)).toBe(traceIdOf(producer))
          expect(parentIdOf(task)).toBe(spanIdOf(flowRun))
        }
      }))

    it.live("runs of two producers, served together, never share a trace", () =>
      Effect.gen(function*() {
        const [, spans] = yield* traced(
          Effect.all([
            Effect.flatMap(double.delay(1), (future) => future.result({ timeout: "20 seconds" })).pipe(
              Effect.withSpan("producer one", { root: true })
            ),
            Effect.flatMap(double.delay(2), (future) => future.result({ timeout: "20 seconds" })).pipe(
              Effect.withSpan("producer two", { root: true })
            )
          ], { concurrency: "unbounded" })
        )
        const one = only(spans, "producer one")
        const two = only(spans, "producer two")
        expect(traceIdOf(one)).not.toBe(traceIdOf(two))
        const runs = named(spans, "task-run delayed-double")
        expect(runs.length).toBe(2)
        const byParent = new Map(runs.map((run) => [parentIdOf(run), run]))
        expect(traceIdOf(byParent.get(spanIdOf(one))!)).toBe(traceIdOf(one))
        expect(traceIdOf(byParent.get(spanIdOf(two))!)).toBe(traceIdOf(two))
        // Every span is in one of the two traces.
        expect(
          spans.every((span) => [traceIdOf(one), traceIdOf(two)].includes(traceIdOf(span)))
        ).toBe(true)
      }))

    it.live("an idle worker, polling and beating, makes no spans at all", () =>
      Effect.gen(function*() {
        const tracing = makeTracing()
        const beats = Deferred.unsafeMake<void>(FiberId.none)
        let count = 0
        const spans = yield* Effect.scoped(Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const counting: RunStore.Service = {
            ...s,
            heartbeat: (...args) =>
              Effect.ensuring(
                s.heartbeat(...args),
                Effect.sync(() => ++count === 10 && Deferred.unsafeDone(beats, Exit.void))
              )
          }
          yield* Effect.forkScoped(
            TaskWorker.serve(served, { pollInterval: 10, heartbeatInterval: 10 }).pipe(
              Effect.provideService(RunStore.RunStore, counting)
            )
          )
          yield* Deferred.await(beats)
        })).pipe(
          // The store opened and closed under the tracer too: its own statements make no spans either.
          Effect.provide(store.fresh()),
          Effect.zipRight(Effect.sync(() => tracing.exporter.getFinishedSpans())),
          Effect.provide(tracing.layer)
        )
        expect(spans.map((span) => span.name)).toEqual([])
      }))
  })
}

/** Waits until the runs have ended, following them through the store. */
const awaitEnded = (runIds: ReadonlyArray<string>) =>
  Effect.forEach(runIds, (runId) =>
    Effect.flatMap(
      Futures.PrefectDistributedFuture.make<unknown, unknown>(runId),
      (future) => future.result({ timeout: "20 seconds" })
    ), { discard: true })
