/**
 * One trace across processes: the W3C trace context a delayed run carries in the store (see
 * `RunStore.RunTraceContext`), and where the span of the run a task worker starts hangs.
 * @internal
 */
import type * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import type { RunSpanParent } from "./spanParent.js"
import { root, tracingOn } from "./spanParent.js"

/** A stored trace context (the shape of `RunStore.RunTraceContext`; this folder may import only core). */
export interface TraceContext {
  readonly traceparent: string
  readonly join: "parent" | "link"
}

/** A task's or flow's `tracing.join` option. */
export type JoinOption = "auto" | "parent" | "link" | "none"

/** Version 00 of W3C Trace Context: lowercase hex, trace and span ids not all zeros. */
const TRACEPARENT = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})$/

/** Whether `traceparent` is a W3C `traceparent` (version 00) a worker can continue. @internal */
export const isTraceparent = (traceparent: unknown): traceparent is string =>
  typeof traceparent === "string" && TRACEPARENT.test(traceparent)

/** A trace context a worker can continue: what stores accept and read back. @internal */
export const TraceContextSchema = Schema.Struct({
  traceparent: Schema.String.pipe(Schema.filter(isTraceparent)),
  join: Schema.Literal("parent", "link")
})

/** Whether a value is a trace context a worker can continue. @internal */
export const isTraceContext = Schema.is(TraceContextSchema)

/** A trace context from its JSON text (a store's column), if it is one. @internal */
export const decodeTraceContextJson = Schema.decodeUnknownOption(Schema.parseJson(TraceContextSchema))

/**
 * The `traceparent` of a span: its trace and span ids (lowercased: W3C's form, while an incoming
 * header's uppercase ids are accepted by OTel and Effect's HTTP tracing), sampled or not. @internal
 */
export const encodeTraceparent = (span: Tracer.AnySpan): string =>
  `00-${span.traceId.toLowerCase()}-${span.spanId.toLowerCase()}-${span.sampled ? "01" : "00"}`

/** The span a `traceparent` names, as an external span (of another process), or undefined when malformed. @internal */
export const decodeTraceparent = (traceparent: string): Tracer.ExternalSpan | undefined => {
  const match = TRACEPARENT.exec(traceparent)
  if (match === null) return undefined
  // Bit 0 of the flags: the producer's sampler kept its span.
  return Tracer.externalSpan({ traceId: match[1], spanId: match[2], sampled: (parseInt(match[3], 16) & 1) === 1 })
}

/**
 * What a run created for a task worker stores of the current span, if anything: nothing unless
 * runs make spans on this fiber (`tracingOn`), there is a current span, and the task's join is not
 * "none". A `delay` (`many` false) is the span's child under "auto", a `mapDelay`'s runs are
 * linked to it: a fan-out of hundreds of children would bury the producer's trace. Nothing either
 * when the span's ids are not W3C's (a b3 64-bit trace id, Effect's noop span, zeros): the run then
 * starts a trace of its own, as tracing metadata must never refuse a user's run.
 * @internal
 */
export const captureTraceContext = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  join: JoinOption,
  many: boolean
): TraceContext | undefined => {
  if (join === "none" || !tracingOn(fiber)) return undefined
  const span = fiber.currentSpan
  if (span === undefined) return undefined
  const traceparent = encodeTraceparent(span)
  if (!isTraceparent(traceparent)) return undefined
  return { traceparent, join: join === "auto" ? (many ? "link" : "parent") : join }
}

/** How late a run may start and still be a child of the span that delayed it, under "auto". @internal */
export const LATE_START_MILLIS = 60_000

/**
 * Where the span of a run a task worker claimed hangs: under the span that delayed it (its
 * context's join "parent"), or in a trace of its own linked to it ("link", or "parent" under the
 * task's "auto" when claimed more than a minute after it was scheduled: a child starting hours after
 * its parent ended makes an unreadable trace), or a new trace when the run has no (readable)
 * context. Never under the worker's own span or another run's.
 * @internal
 */
export const workerSpanParent = (
  context: TraceContext | undefined,
  join: JoinOption,
  scheduledAt: Date,
  claimedAt: number
): RunSpanParent => {
  if (context === undefined) return root
  const span = decodeTraceparent(context.traceparent)
  if (span === undefined) return root
  if (context.join === "link") return { _tag: "Link", span }
  const late = join === "auto" && claimedAt - scheduledAt.getTime() > LATE_START_MILLIS
  return late ? { _tag: "Link", span } : { _tag: "Parent", span }
}
