/**
 * Spans a task body makes on a worker-pool thread reach the user's tracer on the main thread, in the
 * run's trace: the thread records them, the pool replays them under the span the body ran under.
 * Real threads, so these tests run on the live clock.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Logger, Tracer } from "effect"
import { Flow, Task, TaskRunner, Telemetry } from "effect-taskflow"
import { idsOf, makeRecorder, replaySpans } from "../../src/internal/telemetry/threadSpans.js"
import {
  traced,
  tracedFailure,
  tracedFlaky,
  tracedForever,
  tracedLogging,
  tracerSeen
} from "../fixtures/tracedPoolTasks.js"
import { makeTracing, parentIdOf, spansNamed } from "../support/tracing.js"
import type { Tracing } from "../support/tracing.js"

const poolModule = new URL("../fixtures/tracedPoolTasks.ts", import.meta.url)
// A long grace: an interrupted body's thread answers at once (the cancel resolves then), and a loaded
// machine's stall must not make the pool terminate the thread, losing its spans.
const pool = TaskRunner.workerPool({ size: 2, module: poolModule, interruptGracePeriod: "10 seconds" })

const only = (tracing: Tracing, name: string): ReadableSpan => {
  const spans = spansNamed(tracing.exporter, name)
  expect(spans.map((span) => span.name)).toEqual([name])
  return spans[0]
}

/**
 * Runs `f` with a fresh in-memory SDK installed; it reads the spans inside (the SDK's shutdown, when
 * the layer closes, empties its exporter).
 */
const withTracing = <A, E, R>(f: (tracing: Tracing) => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const tracing = makeTracing()
    return Effect.provide(f(tracing), tracing.layer)
  })

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const traceOf = (span: ReadableSpan) => span.spanContext().traceId

layer(pool, { excludeTestServices: true, timeout: 60_000 })("worker pool: spans made on a thread", (it) => {
  it.effect("a body's spans join the submitter's trace, under the span current where the run executes", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        const result = yield* Effect.flatMap(traced.submit(21), (future) => future.result()).pipe(
          Effect.withSpan("outer")
        )
        expect(result).toBe(42)
        const outer = only(tracing, "outer")
        const inner = only(tracing, "inner")
        const child = only(tracing, "inner-child")
        expect(traceOf(inner)).toBe(traceOf(outer))
        expect(traceOf(child)).toBe(traceOf(outer))
        expect(parentIdOf(child)).toBe(idOf(inner))
        // The body runs under the run's span (no retries: no attempt span), a child of the submitter's.
        const run = only(tracing, "task-run pool-traced")
        expect(parentIdOf(run)).toBe(idOf(outer))
        expect(parentIdOf(inner)).toBe(idOf(run))
        expect(inner.kind).toBe(2) // CLIENT
        expect(inner.attributes).toMatchObject({
          "test.flag": true,
          "test.input": 21,
          "test.object": "{\n  \"a\": 1\n}"
        })
        // As @effect/opentelemetry writes them in-process: primitives as they are, anything else as text.
        expect(child.attributes["test.list"]).toBe("[\n  \"x\",\n  \"y\"\n]")
        expect(inner.events.map((event) => [event.name, event.attributes])).toEqual([
          ["halfway", { "test.n": 21, "test.object": "{\n  \"deep\": true\n}" }]
        ])
        // Times cross as they were, on the main thread's clock: each span lies within its parent.
        expect(compare(inner.startTime, outer.startTime)).toBeGreaterThanOrEqual(0)
        expect(compare(outer.endTime, inner.endTime)).toBeGreaterThanOrEqual(0)
        expect(compare(child.startTime, inner.startTime)).toBeGreaterThanOrEqual(0)
        expect(compare(inner.endTime, child.endTime)).toBeGreaterThanOrEqual(0)
        expect(compare(child.endTime, child.startTime)).toBeGreaterThan(0)
      })
    ))

  it.effect("a span that failed on the thread ends as an error with the failure's message", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        yield* Effect.flatMap(tracedFailure.submit("no"), (future) => future.wait()).pipe(
          Effect.withSpan("outer")
        )
        const refusing = only(tracing, "refusing")
        expect(parentIdOf(refusing)).toBe(idOf(only(tracing, "task-run pool-traced-failure")))
        expect(refusing.status.code).toBe(2) // ERROR
        expect(refusing.events.map((event) => event.name)).toContain("exception")
        const exception = refusing.events.find((event) => event.name === "exception")
        expect(exception?.attributes?.["exception.type"]).toBe("Refused")
      })
    ))

  it.effect("a tracer that throws as a body's spans are replayed loses them, but the run still ends", () =>
    withTracing(() =>
      Effect.gen(function*() {
        const tracer = yield* Effect.tracer
        // A user's span processor that throws, for the body's span only (the run's span is made fine).
        const throwing = Tracer.make({
          span: (name, ...rest) => {
            if (name === "inner") throw new Error("a span processor's bug")
            return tracer.span(name, ...rest)
          },
          context: tracer.context
        })
        const result = yield* Effect.flatMap(traced.submit(4), (future) => future.result()).pipe(
          Effect.withTracer(throwing),
          Effect.timeout("5 seconds")
        )
        expect(result).toBe(8)
      })
    ))

  it.effect("a run that times out still sends the spans its body ended: interrupted", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        const future = yield* tracedForever.with({ timeout: "100 millis" }).submit().pipe(Effect.withSpan("outer"))
        yield* future.wait()
        expect((yield* future.state).name).toBe("TimedOut")
        const waiting = only(tracing, "waiting forever")
        expect(parentIdOf(waiting)).toBe(idOf(only(tracing, "task-run pool-traced-forever")))
        expect(waiting.attributes["status.interrupted"]).toBe(true)
      })
    ))

  it.effect("a line logged under a span the body made is an event of that span only; the others, of the run's", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        yield* Effect.flatMap(tracedLogging.submit(), (future) => future.result()).pipe(
          Effect.withSpan("outer"),
          Effect.provide(Logger.remove(Logger.defaultLogger))
        )
        const eventsNamed = (name: string) =>
          tracing.exporter.getFinishedSpans().flatMap((span) =>
            span.events.filter((event) => event.name === name).map(() => span.name)
          )
        expect(eventsNamed("under my span")).toEqual(["logging"])
        expect(eventsNamed("at the top")).toEqual(["task-run pool-traced-logging"])
      })
    ))

  it.effect("with a tracer, the body runs under the run's span ids, with a tracer of its own", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        const seen = yield* Effect.flatMap(tracerSeen.submit(), (future) => future.result()).pipe(
          Effect.withSpan("outer")
        )
        expect(seen.defaultTracer).toBe(false)
        const outer = only(tracing, "outer")
        expect(seen.parent?.traceId).toBe(traceOf(outer))
        expect(seen.parent?.spanId).toBe(idOf(only(tracing, "task-run pool-tracer-seen")))
      })
    ))

  // Effect's default tracer: the run is sent as before, and the body runs as it would without tracing.
  it.effect("without a tracer, the body runs under Effect's default tracer and no parent span", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.flatMap(tracerSeen.submit(), (future) => future.result()).pipe(
        Effect.withSpan("outer")
      )
      expect(seen).toEqual({ defaultTracer: true, parent: null })
    }))
})

// A test's TestClock stands still on the main thread while the thread's clock runs: the body's spans
// are moved onto the main thread's clock, and never start before the run's span.
layer(pool)("worker pool: spans made on a thread, under a TestClock", (it) => {
  it.effect("the body's spans lie within the span they ran under, on the TestClock's time", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        yield* Effect.flatMap(traced.submit(1), (future) => future.result()).pipe(Effect.withSpan("outer"))
        const outer = only(tracing, "outer")
        for (const name of ["inner", "inner-child"]) {
          const span = only(tracing, name)
          expect(compare(span.startTime, outer.startTime)).toBeGreaterThanOrEqual(0)
          expect(compare(outer.endTime, span.endTime)).toBeGreaterThanOrEqual(0)
        }
        expect(outer.startTime[0]).toBeLessThan(60) // the TestClock starts at 0
      })
    ))
})

// The case: the same trace a flow makes in-process, on the worker pool.
const flakyFlow = Flow.make(
  { name: "pool-traced-flaky-flow", taskRunner: pool },
  (attempts: SharedArrayBuffer) =>
    Effect.flatMap(tracedFlaky.map([0, 1, 2], Task.unmapped(attempts)), (futures) => futures.wait())
)

describe("worker pool: a flow's trace", () => {
  it.live(
    "a flow mapping a task (one retry, a timeout) over three inputs: flow-run, task-run, attempt spans, each body's span under its attempt",
    () =>
      withTracing((tracing) =>
        Effect.gen(function*() {
          // (Without the default logger: the flow warns that a run timed out, as it should.)
          yield* flakyFlow(new SharedArrayBuffer(3 * 4)).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
          const flowRun = only(tracing, "flow-run pool-traced-flaky-flow")
          const all = tracing.exporter.getFinishedSpans()
          const byId = new Map(all.map((span) => [idOf(span), span]))
          const parentOf = (span: ReadableSpan) => byId.get(parentIdOf(span) ?? "")
          for (const span of all) expect(traceOf(span)).toBe(traceOf(flowRun))
          const taskRuns = spansNamed(tracing.exporter, "task-run pool-traced-flaky")
          expect(taskRuns).toHaveLength(3)
          for (const taskRun of taskRuns) expect(parentOf(taskRun)).toBe(flowRun)
          // Each body span: under the attempt span of its own attempt, under the run of its input.
          const bodies = all.filter((span) => span.name.startsWith("body "))
          const seen = bodies.map((body) => {
            const attempt = parentOf(body)!
            expect(attempt.name).toBe(`attempt ${String(body.attributes["test.attempt"])}`)
            expect(attempt.attributes[Telemetry.Attributes.attempt]).toBe(body.attributes["test.attempt"])
            expect(taskRuns).toContain(parentOf(attempt))
            return `${body.name} #${String(body.attributes["test.attempt"])}: ${statusOf(body)}`
          })
          expect(seen.sort()).toEqual([
            "body 0 #1: error",
            "body 0 #2: ok",
            "body 1 #1: interrupted",
            "body 1 #2: interrupted",
            "body 2 #1: ok"
          ])
          // The runs' states, as in-process.
          const states = taskRuns.map((run) => String(run.attributes[Telemetry.Attributes.stateName])).sort()
          expect(states).toEqual(["Completed", "Completed", "TimedOut"])
        })
      ),
    60_000
  )
})

// The recorder and the replay without threads: what a body may do with spans, through structured clone.
describe("thread spans: record, then replay", () => {
  it.live("a body keeps at most the recorder's cap of spans; the others are counted on the run's span", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        const tracer = yield* Effect.tracer
        const clock = yield* Effect.clock
        yield* Effect.gen(function*() {
          const run = yield* Effect.currentSpan
          const recorder = makeRecorder(idsOf(run), 2)
          const body = Effect.forEach(["s0", "s1", "s2", "s3"], (name) => Effect.withSpan(Effect.void, name))
          Effect.runSync(body.pipe(Effect.withTracer(recorder.tracer), Effect.withParentSpan(recorder.parent!)))
          // Taken: the cap counts the spans kept, not those made.
          replaySpans({ tracer, clock, parent: run }, structuredClone(recorder.takeEnded()))
          expect(recorder.takeEnded()).toMatchObject({ spans: [] })
          expect(recorder.takeEnded().dropped).toBeUndefined()
        }).pipe(Effect.withSpan("run"))
        expect(["s0", "s1", "s2", "s3"].flatMap((name) => spansNamed(tracing.exporter, name))).toHaveLength(2)
        expect(only(tracing, "run").attributes[Telemetry.Attributes.spansDropped]).toBe(2)
      })
    ))

  it.live("parents and links keep to the replayed spans; a root stays a root; a span whose parent never ended hangs under the run's", () =>
    withTracing((tracing) =>
      Effect.gen(function*() {
        const tracer = yield* Effect.tracer
        const clock = yield* Effect.clock
        yield* Effect.gen(function*() {
          const run = yield* Effect.currentSpan
          const recorder = makeRecorder(idsOf(run))
          const body = Effect.gen(function*() {
            const a = yield* Effect.currentSpan
            yield* Effect.void.pipe(
              Effect.withSpan("b", { links: [{ _tag: "SpanLink", span: a, attributes: { why: 1 } }] })
            )
            const open = yield* Effect.makeSpan("never ends")
            yield* Effect.void.pipe(Effect.withSpan("under the open span"), Effect.withParentSpan(open))
          }).pipe(Effect.withSpan("a"), Effect.zipRight(Effect.withSpan(Effect.void, "c", { root: true })))
          Effect.runSync(body.pipe(Effect.withTracer(recorder.tracer), Effect.withParentSpan(recorder.parent!)))
          replaySpans({ tracer, clock, parent: run }, structuredClone(recorder.takeEnded()))
          expect(recorder.takeEnded().spans).toEqual([])
        }).pipe(Effect.withSpan("run"))
        const [run, a, b, c, orphan] = ["run", "a", "b", "c", "under the open span"].map((name) => only(tracing, name))
        expect(spansNamed(tracing.exporter, "never ends")).toEqual([])
        expect(parentIdOf(a)).toBe(idOf(run))
        expect(parentIdOf(b)).toBe(idOf(a))
        expect(b.links.map((link) => [link.context.spanId, link.attributes])).toEqual([[idOf(a), { why: 1 }]])
        expect(parentIdOf(c)).toBeUndefined()
        expect(traceOf(c)).not.toBe(traceOf(run))
        expect(parentIdOf(orphan)).toBe(idOf(run))
        for (const span of [a, b, orphan]) expect(traceOf(span)).toBe(traceOf(run))
      })
    ))
})

const statusOf = (span: ReadableSpan) =>
  span.attributes["status.interrupted"] === true ? "interrupted" : span.status.code === 2 ? "error" : "ok"

const compare = (a: readonly [number, number], b: readonly [number, number]) => a[0] - b[0] || a[1] - b[1]
