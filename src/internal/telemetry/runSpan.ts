import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type * as State from "../../State.js"
import { Attributes } from "../../Telemetry.js"
import type { TaskDefinition } from "../core/definition.js"
import type { RunSpanParent } from "./spanParent.js"

type AnyState = State.State<unknown, unknown>

/**
 * A run's span and what its attempt spans need (they start where no fiber is at hand).
 * @internal
 */
export interface RunSpan {
  readonly span: Tracer.Span
  readonly tracer: Tracer.Tracer
  readonly context: Context.Context<never>
  /** The last state with an event on the span, so that its end does not repeat it. */
  last: AnyState | undefined
}

/** Parameters longer than this are cut: a span attribute is no place for a payload. */
const PARAMETERS_LIMIT = 2_000

/** Effect's span times are nanoseconds; run states are stamped in milliseconds. */
const nanos = (millis: number): bigint => BigInt(millis) * 1_000_000n

/** The span current on `fiber` (what a run under `Current` hangs on). */
const currentSpan = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Option.Option<Tracer.AnySpan> =>
  Context.getOption(fiber.currentContext, Tracer.ParentSpan)

/** The run's arguments as JSON, cut short; what JSON cannot say (a bigint, a cycle) is said by String. */
const parametersText = (args: ReadonlyArray<unknown>): string => {
  let text: string
  try {
    text = JSON.stringify(args, (_, value) => typeof value === "bigint" ? value.toString() : value) ?? "[]"
  } catch {
    text = String(args)
  }
  return text.length > PARAMETERS_LIMIT ? `${text.slice(0, PARAMETERS_LIMIT)}…` : text
}

/**
 * Starts the span of a run (`task-run <name>`, `flow-run <name>`) on `fiber`'s tracer, at the
 * fiber's clock, hung as `parent` says, with the run's attributes and an event for its state now.
 * Called only when `tracingOn(fiber)`.
 * @internal
 */
export const startRunSpan = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  def: TaskDefinition,
  runId: string,
  state: AnyState,
  args: ReadonlyArray<unknown>,
  flowRunId: string | undefined,
  parent: RunSpanParent
): RunSpan => {
  const tracer = fiber.currentTracer
  const context = fiber.currentContext
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const start = nanos(clock.unsafeCurrentTimeMillis())
  const span = tracer.span(
    `${def.kind}-run ${def.name}`,
    parent._tag === "Current"
      ? currentSpan(fiber)
      : parent._tag === "Parent"
      ? Option.some(parent.span)
      : Option.none(),
    context,
    parent._tag === "Link" ? [{ _tag: "SpanLink", span: parent.span, attributes: {} }] : [],
    start,
    "internal",
    parent._tag === "Current" || parent._tag === "Parent" ? undefined : { root: true }
  )
  span.attribute(Attributes.runId, runId)
  span.attribute(Attributes.runKind, def.kind)
  span.attribute(Attributes.runName, def.name)
  if (flowRunId !== undefined) span.attribute(Attributes.flowRunId, flowRunId)
  if (def.tags.length > 0) setTags(span, def.tags)
  if (def.tracing.recordParameters) span.attribute(Attributes.parameters, parametersText(args))
  span.event(state.name, start, stateAttributes(state))
  return { span, tracer, context, last: state }
}

/** The OpenTelemetry span inside `@effect/opentelemetry`'s, which takes arrays as they are. */
interface WrapsOtelSpan {
  readonly span: { readonly setAttribute: (key: string, value: ReadonlyArray<string>) => unknown }
}

const wrapsOtelSpan = (span: Tracer.Span): span is Tracer.Span & WrapsOtelSpan => {
  const inner = (span as { readonly span?: { readonly setAttribute?: unknown } }).span
  return typeof inner === "object" && inner !== null && typeof inner.setAttribute === "function"
}

/**
 * The run's tags as a string array: `@effect/opentelemetry` turns an array given to
 * `Span.attribute` into one string, so the array is set on its OpenTelemetry span directly.
 */
const setTags = (span: Tracer.Span, tags: ReadonlyArray<string>): void => {
  span.attribute(Attributes.runTags, tags)
  if (wrapsOtelSpan(span)) span.span.setAttribute(Attributes.runTags, [...tags])
}

const stateAttributes = (state: AnyState): Record<string, unknown> =>
  state.message === undefined
    ? { [Attributes.stateType]: state.type }
    : { [Attributes.stateType]: state.type, message: state.message }

/**
 * The event of a state the engine recorded, at the state's timestamp.
 * @internal
 */
export const stateEvent = (run: RunSpan, state: AnyState): void => {
  run.last = state
  run.span.event(state.name, nanos(state.timestamp.getTime()), stateAttributes(state))
}

/** What failed a run, for `error.type`: the failure's `_tag`, else its `name`. */
const errorType = (state: AnyState): string | undefined => {
  if (state.type === "PENDING" && state.name === "NotReady") return "UpstreamTaskError"
  if (state.type !== "FAILED" && state.type !== "CRASHED") return undefined
  const error: unknown = Cause.squash(state.cause)
  if (typeof error === "object" && error !== null) {
    if ("_tag" in error && typeof error._tag === "string") return error._tag
    if ("name" in error && typeof error.name === "string") return error.name
  }
  return state.type === "CRASHED" ? "Crashed" : "Error"
}

/**
 * Ends a run's span at its last state's timestamp (never before its start), with the end attributes;
 * Failed and Crashed runs end with an error status.
 * @internal
 */
export const endRunSpan = (run: RunSpan, state: AnyState): void => {
  const { span } = run
  span.attribute(Attributes.stateType, state.type)
  span.attribute(Attributes.stateName, state.name)
  const error = errorType(state)
  if (error !== undefined) span.attribute(Attributes.errorType, error)
  const end = nanos(state.timestamp.getTime())
  const started = span.status._tag === "Started" ? span.status.startTime : end
  span.end(
    end < started ? started : end,
    state.type === "FAILED" || state.type === "CRASHED" ? Exit.failCause(state.cause) : Exit.void
  )
}

/**
 * Starts the span of attempt `attempt` of a run (a task with retries), a child of the run's span.
 * @internal
 */
export const startAttemptSpan = (run: RunSpan, attempt: number, clock: Clock.Clock): Tracer.Span => {
  const span = run.tracer.span(
    `attempt ${attempt}`,
    Option.some(run.span),
    run.context,
    [],
    nanos(clock.unsafeCurrentTimeMillis()),
    "internal"
  )
  span.attribute(Attributes.attempt, attempt)
  return span
}

/**
 * Ends an attempt's span with its outcome (a timeout or failure: error status).
 * @internal
 */
export const endAttemptSpan = (span: Tracer.Span, clock: Clock.Clock, exit: Exit.Exit<unknown, unknown>): void =>
  span.end(nanos(clock.unsafeCurrentTimeMillis()), exit)
