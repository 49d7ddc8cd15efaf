/**
 * Run logs: what a task or flow logs with Effect's Logger while it runs, recorded with its run.
 *
 * One Logger (`runLogger`), added once by the run stores' and runners' layers, reads the run a line
 * belongs to from the fiber's FiberRefs (the task run, else the flow run whose body logs) and hands
 * the line to the store's sink: a run that does not log costs nothing, and nothing is set per run
 * for it. The per-run bound and the line that says how many were dropped are kept here, for every
 * store alike; each store numbers and keeps the lines its own way (memory at once, SQL through its
 * group-commit writer, before the run's final state).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashSet from "effect/HashSet"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { AnyState } from "../core/state.js"
import { isFinal } from "../core/state.js"
import { RunStore } from "./runStore.js"

/** The annotation every line a run logs carries: the run's id (a user's own Logger prints it too). @internal */
export const RUN_ID_ANNOTATION = "taskflow.run_id"
/** The annotation of lines logged inside a flow run (its body, or one of its task runs). @internal */
export const FLOW_RUN_ID_ANNOTATION = "taskflow.flow_run_id"

/** The longest message kept, in characters: a longer one is cut, with a marker. @internal */
export const MAX_MESSAGE = 8 * 1024
/** The longest annotation value kept, in characters. */
const MAX_ANNOTATION = 1024
/** The most lines a run keeps (in the process that runs it); past it one line says how many were dropped. @internal */
export const MAX_LINES = 10_000

/** A level of Effect's `LogLevel`, by its label. @internal */
export type LevelLabel = RunStore_.RunLog["level"]

/** A line as captured, before the store numbers it. @internal */
export interface LogLine {
  readonly runId: string
  readonly level: LevelLabel
  readonly message: string
  /** Milliseconds since the epoch. */
  readonly timestamp: number
  readonly annotations: Readonly<Record<string, string>>
  readonly spans: ReadonlyArray<{ readonly label: string; readonly startTime: number }>
}

/** What a store offers under `RunLogsKey`: it keeps the lines of its runs. @internal */
export interface RunLogSink {
  /** Keeps a line of a run of this store (one it does not know is dropped). Synchronous: never waits. */
  readonly append: (line: LogLine) => void
}

/** The key a store offers its log sink under (a wrapper that spreads the store keeps it). @internal */
export const RunLogsKey: unique symbol = Symbol.for("effect-taskflow/RunStore/RunLogs")

/** A store that may keep run logs. @internal */
export interface MaybeRunLogs {
  readonly [RunLogsKey]?: RunLogSink | undefined
}

/**
 * The store a run's lines go to when no `RunStore` is in the fiber's context: a runner's own memory
 * store. Set (scoped) by the layers that add `runLogger`.
 * @internal
 */
export const currentLogStore: FiberRef.FiberRef<RunStore_.Service | undefined> = FiberRef.unsafeMake<
  RunStore_.Service | undefined
>(undefined)

// ---------------------------------------------------------------------------------------------
// Capture: one Logger, the per-run bound
// ---------------------------------------------------------------------------------------------

interface Capture {
  readonly sink: RunLogSink
  lines: number
  dropped: number
}

/** The runs that logged and have not ended, by id (bounded: an entry whose run never ended is dropped first). */
const captures = new Map<string, Capture>()
const MAX_CAPTURES = 100_000

const sinkOf = (refs: FiberRefs.FiberRefs): RunLogSink | undefined => {
  const store = FiberRefs.getOrDefault(refs, currentLogStore) ??
    Option.getOrUndefined(Context.getOption(FiberRefs.getOrDefault(refs, FiberRef.currentContext), RunStore))
  return (store as (RunStore_.Service & MaybeRunLogs) | undefined)?.[RunLogsKey]
}

/** The run a fiber's line belongs to: its task run, else the flow run whose body it is. @internal */
export const runIdOf = (refs: FiberRefs.FiberRefs): string | undefined =>
  FiberRefs.getOrDefault(refs, currentTaskRunId) ?? FiberRefs.getOrDefault(refs, currentFlowRunId)

/** Keeps a line of `runId`, within the run's bound. */
const capture = (sink: RunLogSink, runId: string, make: () => LogLine): void => {
  let entry = captures.get(runId)
  if (entry === undefined) {
    if (captures.size >= MAX_CAPTURES) captures.delete(captures.keys().next().value!)
    entry = { sink, lines: 0, dropped: 0 }
    captures.set(runId, entry)
  }
  if (entry.lines >= MAX_LINES) {
    entry.dropped++
    return
  }
  entry.lines++
  entry.sink.append(make())
}

/**
 * The run ended (its final state is about to be written): the line saying how many were dropped, if
 * any, goes before it. Called by the engine for every final state; a run that did not log finds nothing.
 * @internal
 */
export const endRunLogs = (runId: string): void => {
  if (captures.size === 0) return
  const entry = captures.get(runId)
  if (entry === undefined) return
  captures.delete(runId)
  if (entry.dropped === 0) return
  entry.sink.append({
    runId,
    level: "Warning",
    message: `${entry.dropped} more log line(s) of this run were dropped: a run keeps at most ${MAX_LINES} lines.`,
    timestamp: Date.now(),
    annotations: { [RUN_ID_ANNOTATION]: runId },
    spans: []
  })
}

/** The one Logger that records run logs. @internal */
export const runLogger: Logger.Logger<unknown, void> = Logger.make((options) => {
  const runId = runIdOf(options.context)
  if (runId === undefined) return
  const sink = sinkOf(options.context)
  if (sink === undefined) return
  capture(sink, runId, () => lineOf(runId, options))
})

/**
 * Adds `runLogger` to the fiber's loggers and makes `store` the one lines go to without a `RunStore`
 * in context, for as long as the scope is open (a layer's lifetime).
 * @internal
 */
export const installRunLogs = (store: RunStore_.Service): Effect.Effect<void, never, Scope.Scope> =>
  Effect.zipRight(
    Effect.locallyScopedWith(FiberRef.currentLoggers, HashSet.add(runLogger)),
    (store as RunStore_.Service & MaybeRunLogs)[RunLogsKey] === undefined
      ? Effect.void
      : Effect.locallyScoped(currentLogStore, store)
  )

// ---------------------------------------------------------------------------------------------
// Rendering: as Effect's own loggers render a line
// ---------------------------------------------------------------------------------------------

/** Lone surrogates become U+FFFD (as both SQL stores would keep them), NUL too (PostgreSQL refuses it). */
const wellFormed = (text: string): string =>
  text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")

/** Cuts `text` at `max` characters (never inside a surrogate pair), saying how much was cut. @internal */
export const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max
  return `${text.slice(0, end)}… [cut: ${text.length - end} more characters]`
}

/** A message as Effect's loggers render it: each part with `toStringUnknown`, then the cause, if any. @internal */
export const renderMessage = (message: unknown, cause: Cause.Cause<unknown>): string => {
  const parts = Array.isArray(message) ? message : [message]
  // On one line, as Effect's logfmt logger renders them; an Error as its name and message (JSON has
  // none of its fields to show: Effect would render "{}").
  let text = parts.map((part) => part instanceof Error ? String(part) : Inspectable.toStringUnknown(part, 0)).join(" ")
  if (!Cause.isEmptyType(cause)) {
    text += `${text.length > 0 ? "\n" : ""}${Cause.pretty(cause, { renderErrorCause: true })}`
  }
  return text
}

const lineOf = (runId: string, options: Logger.Logger.Options<unknown>): LogLine => {
  const annotations: Record<string, string> = {}
  for (const [key, value] of options.annotations) {
    annotations[wellFormed(key)] = cut(wellFormed(Inspectable.toStringUnknown(value, 0)), MAX_ANNOTATION)
  }
  const spans: Array<{ readonly label: string; readonly startTime: number }> = []
  for (const span of options.spans) spans.push({ label: wellFormed(span.label), startTime: span.startTime })
  return {
    runId,
    level: options.logLevel._tag as LevelLabel,
    message: cut(wellFormed(renderMessage(options.message, options.cause)), MAX_MESSAGE),
    timestamp: options.date.getTime(),
    annotations,
    spans
  }
}

/** A captured line as a store returns it, numbered `seq`. @internal */
export const toRunLog = (line: LogLine, seq: number): RunStore_.RunLog => ({
  runId: line.runId,
  seq,
  level: line.level,
  message: line.message,
  timestamp: new Date(line.timestamp),
  annotations: line.annotations,
  spans: line.spans.map((span) => ({ label: span.label, startTime: new Date(span.startTime) }))
})

// ---------------------------------------------------------------------------------------------
// Following: existing lines, then new ones, until the run is final and its last lines are out
// ---------------------------------------------------------------------------------------------

/** What `followLogs` needs of a store. @internal */
export interface Followable {
  readonly getLogs: RunStore_.Service["getLogs"]
  readonly unsafeSubscribe: RunStore_.Service["unsafeSubscribe"]
  /** Calls `onLines` when new lines of the run may have been written (from this process or another). */
  readonly unsafeSubscribeLogs: (runId: string, onLines: () => void) => () => void
}

/** How many lines each read of a follower takes. */
const FOLLOW_PAGE = 1000

/**
 * Follows a run's lines: reads what is there, then reads again only when woken (lines written, the
 * run's state changed), and ends once it has read after seeing the run final: the store writes a
 * run's lines before its final state, so that read has them all.
 * @internal
 */
export const followLogs = (
  store: Followable,
  runId: string,
  options?: { readonly after?: number }
): Stream.Stream<RunStore_.RunLog, Errors.RunNotFound | Errors.RunStoreError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const wake = yield* Queue.sliding<void>(1)
    const signal = () => Queue.unsafeOffer(wake, undefined)
    let final = false
    const onState = (state: AnyState) => {
      if (isFinal(state)) final = true
      signal()
    }
    yield* Effect.acquireRelease(Effect.sync(() => store.unsafeSubscribe(runId, onState)), (stop) => Effect.sync(stop))
    yield* Effect.acquireRelease(
      Effect.sync(() => store.unsafeSubscribeLogs(runId, signal)),
      (stop) => Effect.sync(stop)
    )
    let cursor = options?.after ?? 0
    const next: Effect.Effect<
      ReadonlyArray<RunStore_.RunLog>,
      Option.Option<Errors.RunNotFound | Errors.RunStoreError>
    > = Effect.gen(function*() {
      while (true) {
        // Read whether the run was final before reading the lines: those were all written before it.
        const wasFinal = final
        const lines = yield* Effect.mapError(store.getLogs(runId, { after: cursor, limit: FOLLOW_PAGE }), Option.some)
        if (lines.length > 0) {
          cursor = lines[lines.length - 1]!.seq
          return lines
        }
        if (wasFinal) return yield* Effect.fail(Option.none())
        yield* Queue.take(wake)
      }
    })
    return Stream.flattenIterables(Stream.repeatEffectOption(next))
  }))

/** `getLogs`'s options, checked: a bad `after` or `limit` is a defect, as `listRuns`'s `limit` is. @internal */
export const logRange = (
  options: { readonly after?: number; readonly limit?: number } | undefined
): { readonly after: number; readonly limit: number } => {
  const after = options?.after ?? 0
  const limit = options?.limit ?? Number.POSITIVE_INFINITY
  if (!Number.isInteger(after) || after < 0) {
    throw new Cause.IllegalArgumentException(
      `getLogs: 'after' must be a whole number of 0 or more (a seq), got ${after}`
    )
  }
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 0)) {
    throw new Cause.IllegalArgumentException(`getLogs: 'limit' must be a whole number of 0 or more, got ${limit}`)
  }
  return { after, limit }
}
