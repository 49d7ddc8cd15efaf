/**
 * Spans made on a worker-pool thread, carried to the user's tracer on the main thread.
 *
 * A thread has no user tracer (no SDK, no exporter). When the run's fiber traces, the pool sends the
 * ids of the span current there (the run or attempt span); the thread runs the body under that span,
 * with a tracer that only records (`makeRecorder`). The ended spans travel back with the run's
 * outcome as plain data (`ThreadSpan`), and the pool replays them through the run fiber's tracer
 * (`replaySpans`): same names, kinds, times, attributes, events, links and outcomes, under the span
 * the body ran under.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** A span's ids, as they cross a thread boundary. @internal */
export interface SpanIds {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/** An attribute value that structured clone copies and a tracer takes as it is. @internal */
export type PlainValue = string | number | boolean | bigint | ReadonlyArray<string | number | boolean | bigint>

/** A span a thread span refers to (parent, link): one recorded on the thread (its index), or one outside it. @internal */
export type SpanRef = number | SpanIds

/** How a thread span ended: the first error of a failure as text (the tracer records it as an exception). @internal */
export type ThreadExit =
  | { readonly _tag: "Success" }
  | { readonly _tag: "Interrupted" }
  | { readonly _tag: "Failure"; readonly name: string; readonly message: string; readonly stack: string }

/**
 * The spans a run's body ended on a thread, and the thread clock's time as they were sent: the pool
 * moves their times onto its own clock (each thread's clock starts from `Date.now()`, up to a
 * millisecond apart; a test's TestClock is the main thread's only).
 * @internal
 */
export interface ThreadSpans {
  readonly now: bigint
  readonly spans: ReadonlyArray<ThreadSpan>
  /** Spans the body started past the recorder's cap (`MAX_THREAD_SPANS`), not kept; absent: none. */
  readonly dropped?: number
}

/**
 * The spans a run's body may keep on a thread until they are sent (with its outcome): past it, a
 * body making a span per item of a big loop would hold them all, and send them in one message.
 * @internal
 */
export const MAX_THREAD_SPANS = 10_000

/** The attribute the replay puts on the span the body ran under when spans were dropped. @internal */
export const SPANS_DROPPED = "taskflow.spans.dropped"

/** An ended span of a thread, as plain data. Times in nanoseconds (the thread's clock). @internal */
export interface ThreadSpan {
  /** Its place among the spans the run's body started on the thread. */
  readonly index: number
  readonly name: string
  readonly kind: Tracer.SpanKind
  /** None: a root span. */
  readonly parent: SpanRef | undefined
  readonly startTime: bigint
  readonly endTime: bigint
  readonly attributes: Readonly<Record<string, PlainValue>>
  readonly events: ReadonlyArray<ThreadSpanEvent>
  readonly links: ReadonlyArray<ThreadSpanLink>
  readonly exit: ThreadExit
}

/** @internal */
export interface ThreadSpanEvent {
  readonly name: string
  readonly time: bigint
  readonly attributes: Readonly<Record<string, PlainValue>> | undefined
}

/** @internal */
export interface ThreadSpanLink {
  readonly span: SpanRef
  readonly attributes: Readonly<Record<string, PlainValue>>
}

// Values: what crosses is what an OpenTelemetry attribute can hold; anything else goes as the text
// @effect/opentelemetry would have made of it on the main thread.

const isPrimitive = (value: unknown): value is string | number | boolean | bigint =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint"

/** @internal */
export const plainValue = (value: unknown): PlainValue => {
  if (isPrimitive(value)) return value
  if (Array.isArray(value) && value.every(isPrimitive)) return value.slice()
  return Inspectable.toStringUnknown(value)
}

const plainRecord = (record: Iterable<readonly [string, unknown]>): Record<string, PlainValue> => {
  const plain: Record<string, PlainValue> = {}
  for (const [key, value] of record) plain[key] = plainValue(value)
  return plain
}

const threadExit = (exit: Exit.Exit<unknown, unknown>): ThreadExit => {
  if (Exit.isSuccess(exit)) return { _tag: "Success" }
  if (Cause.isInterruptedOnly(exit.cause)) return { _tag: "Interrupted" }
  const first = Cause.prettyErrors(exit.cause)[0]
  // An empty cause is no error (as @effect/opentelemetry reads it).
  if (first === undefined) return { _tag: "Success" }
  return {
    _tag: "Failure",
    name: first.name,
    message: first.message,
    stack: Cause.pretty(exit.cause, { renderErrorCause: true })
  }
}

// The thread side: a tracer that records.

/** The clock a body's spans are timed with on a thread. */
const threadClock = Context.get(DefaultServices.liveServices, Clock.Clock)

const randomHex = (bytes: number): string => {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes))
  let hex = ""
  for (const byte of buffer) hex += byte.toString(16).padStart(2, "0")
  return hex
}

/** The spans a run's body makes on a thread. @internal */
export interface SpanRecorder {
  /** The tracer the body runs with. */
  readonly tracer: Tracer.Tracer
  /** The span the body runs under: the run's span on the main thread, if it had one. */
  readonly parent: Tracer.ExternalSpan | undefined
  /** The spans ended so far, in start order; each is taken once. */
  readonly takeEnded: () => ThreadSpans
}

class RecordingSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = randomHex(8)
  readonly traceId: string
  readonly sampled: boolean
  readonly attributes = new Map<string, unknown>()
  readonly links: Array<Tracer.SpanLink>
  readonly events: Array<ThreadSpanEvent> = []
  status: Tracer.SpanStatus
  constructor(
    readonly recorder: SpanRecorder,
    readonly index: number,
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.traceId = Option.isSome(parent) ? parent.value.traceId : randomHex(16)
    this.sampled = Option.isSome(parent) ? parent.value.sampled : true
    this.links = links.slice()
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Started") this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(name: string, time: bigint, attributes?: Record<string, unknown>): void {
    this.events.push({
      name,
      time,
      attributes: attributes === undefined ? undefined : plainRecord(Object.entries(attributes))
    })
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

const refOf = (recorder: SpanRecorder, span: Tracer.AnySpan): SpanRef =>
  span instanceof RecordingSpan && span.recorder === recorder
    ? span.index
    : { traceId: span.traceId, spanId: span.spanId, sampled: span.sampled }

const toThreadSpan = (recorder: SpanRecorder, span: RecordingSpan): ThreadSpan | undefined => {
  const status = span.status
  if (status._tag !== "Ended") return undefined
  return {
    index: span.index,
    name: span.name,
    kind: span.kind,
    parent: Option.isSome(span.parent) ? refOf(recorder, span.parent.value) : undefined,
    startTime: status.startTime,
    endTime: status.endTime,
    attributes: plainRecord(span.attributes),
    events: span.events,
    links: span.links.map((link) => ({
      span: refOf(recorder, link.span),
      attributes: plainRecord(Object.entries(link.attributes))
    })),
    exit: threadExit(status.exit)
  }
}

/**
 * A recorder for one run's body on a thread, under the span `parent` (the run's span on the main
 * thread; none: the body's spans are roots, as they would be in-process). It keeps at most
 * `maxSpans` spans (open, or ended and not yet taken); the body still gets a span past it, only
 * not kept (its children then hang under the run's span when replayed), and counted as dropped.
 * @internal
 */
export const makeRecorder = (parent: SpanIds | undefined, maxSpans: number = MAX_THREAD_SPANS): SpanRecorder => {
  let started: Array<RecordingSpan> = []
  let count = 0
  let dropped = 0
  const recorder: SpanRecorder = {
    tracer: Tracer.make({
      span: (name, parent, context, links, startTime, kind) => {
        const span = new RecordingSpan(recorder, count++, name, parent, context, links, startTime, kind)
        if (started.length < maxSpans) started.push(span)
        else dropped++
        return span
      },
      context: (f) => f()
    }),
    parent: parent === undefined ? undefined : Tracer.externalSpan(parent),
    takeEnded: () => {
      const ended: Array<ThreadSpan> = []
      const open: Array<RecordingSpan> = []
      for (const span of started) {
        const plain = toThreadSpan(recorder, span)
        if (plain === undefined) open.push(span)
        else ended.push(plain)
      }
      started = open
      const now = threadClock.unsafeCurrentTimeNanos()
      if (dropped === 0) return { now, spans: ended }
      const taken = dropped
      dropped = 0
      return { now, spans: ended, dropped: taken }
    }
  }
  return recorder
}

// The pool side: replay through the user's tracer.

/** The ids a thread needs to run a body under `span`. @internal */
export const idsOf = (span: Tracer.AnySpan): SpanIds => ({
  traceId: span.traceId,
  spanId: span.spanId,
  sampled: span.sampled
})

const replayedExit = (exit: ThreadExit): Exit.Exit<unknown, unknown> => {
  switch (exit._tag) {
    case "Success":
      return Exit.void
    case "Interrupted":
      return Exit.interrupt(FiberId.none)
    case "Failure": {
      const error = new Error(exit.message)
      error.name = exit.name
      error.stack = exit.stack
      return Exit.fail(error)
    }
  }
}

/** Where a run's thread spans are replayed: the run fiber's tracer and clock, the span its body ran under. @internal */
export interface ReplayTarget {
  readonly tracer: Tracer.Tracer
  readonly clock: Clock.Clock
  /** The run's or attempt's span; none: the body's spans are roots. */
  readonly parent: Tracer.AnySpan | undefined
}

/**
 * Replays a run's thread spans (in start order, as `takeEnded` gives them: parents first) through the
 * target's tracer, times moved onto its clock: a span whose parent is the span the body ran under (or
 * a thread span that did not end) hangs under `target.parent`. Spans the thread dropped (past its
 * cap) are counted on `target.parent` (`taskflow.spans.dropped`).
 * @internal
 */
export const replaySpans = (target: ReplayTarget, sent: ThreadSpans): void => {
  const { parent, tracer } = target
  if (sent.dropped !== undefined && parent?._tag === "Span") parent.attribute(SPANS_DROPPED, sent.dropped)
  const offset = target.clock.unsafeCurrentTimeNanos() - sent.now
  // Not before the run's span: a TestClock that stands still would put the body's spans before it.
  const floor = parent?._tag === "Span" ? parent.status.startTime : 0n
  // Zero: tracer timing was off (`Effect.withTracerTiming(false)`), and stays so.
  const time = (nanos: bigint) => {
    if (nanos === 0n) return nanos
    const moved = nanos + offset
    return moved < floor ? floor : moved
  }
  const replayed = new Map<number, Tracer.Span>()
  const resolve = (ref: SpanRef): Tracer.AnySpan | undefined => {
    if (typeof ref === "number") return replayed.get(ref) ?? parent
    if (parent !== undefined && ref.spanId === parent.spanId) return parent
    return Tracer.externalSpan(ref)
  }
  for (const thread of sent.spans) {
    const parentSpan = thread.parent === undefined ? undefined : resolve(thread.parent)
    const links: Array<Tracer.SpanLink> = []
    for (const link of thread.links) {
      const span = resolve(link.span)
      if (span !== undefined) links.push({ _tag: "SpanLink", span, attributes: link.attributes })
    }
    const span = tracer.span(
      thread.name,
      Option.fromNullable(parentSpan),
      Context.empty(),
      links,
      time(thread.startTime),
      thread.kind,
      { attributes: thread.attributes, root: parentSpan === undefined }
    )
    // Tracers take attributes one by one (Effect sets them after creating a span, as here).
    for (const key in thread.attributes) span.attribute(key, thread.attributes[key])
    for (const event of thread.events) span.event(event.name, time(event.time), event.attributes)
    span.end(time(thread.endTime), replayedExit(thread.exit))
    replayed.set(thread.index, span)
  }
}
