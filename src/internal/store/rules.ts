import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as State from "../../State.js"
import * as Telemetry from "../../Telemetry.js"
import { decodeDuration } from "../core/duration.js"
import type { AnyState } from "../core/state.js"
import { cancelled, crashed, isFinal, scheduled } from "../core/state.js"
import { isTraceContext } from "../telemetry/traceContext.js"
import { PROCESS_HOLDER_PREFIX } from "./runStore.js"

/** @internal */
export const notFound = (runId: string) =>
  new Errors.RunNotFound({ runId, message: `Run ${runId} was not found in the run store.` })

/**
 * The orchestration rules every store enforces. Returns the refusal, or undefined when allowed.
 * @internal
 */
export const checkTransition = (runId: string, from: AnyState, to: AnyState): Errors.InvalidTransition | undefined => {
  if (isFinal(from)) {
    return new Errors.InvalidTransition({
      runId,
      message: `Run ${runId} is already ${from.type} (final); it cannot move to ${to.type}.`
    })
  }
  if (from.type === "CANCELLING" && !isFinal(to)) {
    return new Errors.InvalidTransition({
      runId,
      message: `Run ${runId} is CANCELLING; it can only move to a final state, not ${to.type}.`
    })
  }
  return undefined
}

/** A refusal for a worker that no longer holds the run. @internal */
export const notHeld = (runId: string, workerId: string) =>
  new Errors.InvalidTransition({
    runId,
    message: `Run ${runId} is not held by task worker ${workerId} (its lease expired or it was released).`
  })

/** A late write of an attempt the run has moved on from (it was taken over, and claimed again). @internal */
export const notAttempt = (runId: string, attempt: number, runCount: number) =>
  new Errors.InvalidTransition({
    runId,
    message: `Run ${runId} is on its attempt ${runCount}, not ${attempt}: it was taken over, and this write is late.`
  })

/** What a run its worker gives back becomes (see `releaseRuns`). @internal */
export const releasedState = (
  state: AnyState,
  workerId: string,
  timestamp: Date,
  message = `Released by task worker ${workerId}, which stopped.`
): AnyState =>
  state.type === "CANCELLING"
    ? cancelled({ timestamp, message: `Task worker ${workerId} stopped before the run was cancelled.` })
    : scheduled({ timestamp, message })

/**
 * The run count of a run its worker gives back: a give-back is not an attempt (the task did not
 * fail; its worker stopped it), so a Running run's count goes back to what it was before the claim
 * that started its attempt, and the next claim is not named Retrying nor counted against `retries`.
 * A run given back between attempts (Scheduled, AwaitingRetry) keeps its count. The SQL stores
 * compute the same in SQL, on the row as it is when written (`moveSet` in sql/statements.ts). @internal
 */
export const givenBackRunCount = (state: AnyState, runCount: number): number | undefined =>
  state.type === "RUNNING" ? Math.max(0, runCount - 1) : undefined

/** What a run whose worker's lease expired becomes. @internal */
export const recoveredState = (
  state: AnyState,
  runCount: number,
  retries: number,
  workerId: string | undefined,
  timestamp: Date
): AnyState => {
  if (workerId?.startsWith(PROCESS_HOLDER_PREFIX) === true) return recoveredInProcess(state, workerId, timestamp)
  if (state.type === "CANCELLING") {
    return cancelled({ timestamp, message: `Its task worker ${workerId} stopped before the run was cancelled.` })
  }
  if (runCount <= retries) {
    return scheduled({
      timestamp,
      name: "AwaitingRetry",
      message: `Its task worker ${workerId} stopped responding (lease expired); retry ${runCount} of ${retries}.`
    })
  }
  return crashed(Cause.die(new Error(`task worker ${workerId} stopped responding (lease expired)`)), {
    timestamp,
    message: `Its task worker ${workerId} stopped responding (lease expired) while the run was ${state.type}.`
  })
}

/**
 * What a run of a process that stopped responding becomes: Crashed, never Scheduled again, whatever
 * its retries (its body and whoever waited on it lived in that process); a Cancelling one, Cancelled.
 */
const recoveredInProcess = (state: AnyState, holder: string, timestamp: Date): AnyState => {
  if (state.type === "CANCELLING") {
    return cancelled({ timestamp, message: `Its process ${holder} stopped before the run was cancelled.` })
  }
  return crashed(Cause.die(new Error(`process ${holder} stopped responding (lease expired)`)), {
    timestamp,
    message: `Its process ${holder} stopped responding (lease expired) while the run was ${state.type}.`
  })
}

/**
 * What an unfinished run that nothing holds and no lease covers becomes (written by a version that
 * kept no leases for runs of its own process, or corrupt): nothing would ever finish it. @internal
 */
export const unleasedState = (state: AnyState, timestamp: Date): AnyState => {
  const what = `was ${state.type} with no process or task worker holding it and no lease (written by an older ` +
    `version of effect-taskflow, or corrupt)`
  return crashed(Cause.die(new Error(`The run ${what}.`)), {
    timestamp,
    message: `The run ${what}: recovered as Crashed.`
  })
}

/**
 * Subscribes listeners to a set the store calls: adds one, and returns the function that removes it.
 * @internal
 */
export const subscribeTo = <L>(listeners: Set<L>) => (listener: L): () => void => {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

/** A count the caller gives: a whole number of 0 or more. */
export const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0

/** Where a page starts: after the run created at `createdAt` with id `id`, in the listing's order. */
export interface CursorPosition {
  readonly createdAt: number
  readonly id: string
}

/** A `listRuns` filter, checked: what every store's listing reads. @internal */
export interface Listing {
  readonly stateTypes: ReadonlyArray<State.StateType> | undefined
  readonly stateNames: ReadonlyArray<string> | undefined
  readonly newestFirst: boolean
  readonly limit: number | undefined
  /** Time bounds in milliseconds: `after` inclusive, `before` exclusive. */
  readonly createdAfter: number | undefined
  readonly createdBefore: number | undefined
  readonly endedAfter: number | undefined
  readonly endedBefore: number | undefined
  /** The cursor's position: the listing goes on after it. */
  readonly after: CursorPosition | undefined
  /** No run can match (an empty list of state types or names, a limit of 0). */
  readonly empty: boolean
}

const illegal = (message: string) => new Cause.IllegalArgumentException(`listRuns: ${message}`)

const timeOf = (option: string, date: Date | undefined): number | undefined => {
  if (date === undefined) return undefined
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw illegal(`${option} must be a valid Date (e.g. new Date(Date.now() - 3_600_000)), got ${String(date)}`)
  }
  return date.getTime()
}

const listOf = <A extends string>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> | undefined =>
  value === undefined ? undefined : typeof value === "string" ? [value] : value

/**
 * A `listRuns` filter checked: a bad limit, kind, Date or cursor is a defect (IllegalArgumentException)
 * whose message says what to pass instead.
 * @internal
 */
export const listingOf = (filter: RunStore_.RunFilter | undefined): Listing => {
  const limit = filter?.limit
  if (limit !== undefined && !isCount(limit)) {
    throw illegal(`limit must be a whole number of 0 or more, got ${limit}`)
  }
  const kind = filter?.kind
  if (kind !== undefined && kind !== "task" && kind !== "flow") {
    throw illegal(`kind must be "task" or "flow", got ${JSON.stringify(kind)}`)
  }
  const newestFirst = filter?.order === "newest"
  const stateTypes = listOf(filter?.stateType)
  const stateNames = listOf(filter?.stateName)
  return {
    stateTypes,
    stateNames,
    newestFirst,
    limit,
    createdAfter: timeOf("createdAfter", filter?.createdAfter),
    createdBefore: timeOf("createdBefore", filter?.createdBefore),
    endedAfter: timeOf("endedAfter", filter?.endedAfter),
    endedBefore: timeOf("endedBefore", filter?.endedBefore),
    after: filter?.cursor === undefined ? undefined : decodeCursor(filter.cursor, newestFirst),
    empty: stateTypes?.length === 0 || stateNames?.length === 0 || limit === 0
  }
}

/**
 * A `countRuns` filter checked: the listing's filter without its order, limit and cursor (a count
 * covers every matching run).
 * @internal
 */
export const countingOf = (filter: RunStore_.RunFilter | undefined): Listing => {
  if (filter === undefined) return listingOf(undefined)
  const { cursor: _cursor, limit: _limit, order: _order, ...counted } = filter
  return listingOf(counted)
}

/**
 * A `countRuns` cap checked: a bad one is a defect (IllegalArgumentException); undefined counts all.
 * @internal
 */
export const countCapOf = (options: RunStore_.CountOptions | undefined): number | undefined => {
  const cap = options?.cap
  if (cap !== undefined && !isCount(cap)) {
    throw new Cause.IllegalArgumentException(`countRuns: cap must be a whole number of 0 or more, got ${cap}`)
  }
  return cap
}

/** Cursors carry a version, the position and the order they were made for, as base64url JSON. */
const CURSOR_VERSION = 1

/** The cursor of the page after `last` (a page's `next`). @internal */
export const encodeCursor = (last: RunStore_.RunRecord, newestFirst: boolean): string =>
  Buffer.from(JSON.stringify([CURSOR_VERSION, last.createdAt.getTime(), last.id, newestFirst ? "newest" : "oldest"]))
    .toString("base64url")

const decodeCursor = (cursor: string, newestFirst: boolean): CursorPosition => {
  let decoded: unknown
  try {
    decoded = typeof cursor === "string" ? JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) : undefined
  } catch {
    decoded = undefined
  }
  if (
    !Array.isArray(decoded) || decoded.length !== 4 || decoded[0] !== CURSOR_VERSION ||
    typeof decoded[1] !== "number" || !Number.isFinite(decoded[1]) || typeof decoded[2] !== "string"
  ) {
    throw illegal(
      `cursor ${JSON.stringify(cursor)} is not a cursor this library made: pass a page's \`next\` as it came, ` +
        "or no cursor for the first page"
    )
  }
  if (decoded[3] !== (newestFirst ? "newest" : "oldest")) {
    throw illegal(
      `this cursor goes on a listing in order "${
        decoded[3]
      }": pass the same order (and filter) as the page that gave it`
    )
  }
  return { createdAt: decoded[1], id: decoded[2] }
}

/**
 * The least string greater than every string that starts with `prefix`, by code point (SQLite's
 * BINARY order, PostgreSQL's `text_pattern_ops`): `id >= prefix AND id < bound` finds the ids that
 * start with it by index. Undefined when there is none (every string is below the bound).
 * @internal
 */
export const prefixBound = (prefix: string): string | undefined => {
  const points = Array.from(prefix, (char) => char.codePointAt(0)!)
  while (points.length > 0) {
    let last = points.pop()! + 1
    if (last >= 0xD800 && last <= 0xDFFF) last = 0xE000
    if (last <= 0x10FFFF) return String.fromCodePoint(...points, last)
  }
  return undefined
}

/** The final state types, the only ones `prune` deletes. @internal */
export const FINAL_TYPES: ReadonlyArray<State.StateType> = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]

/** `prune` options, checked, at `nowMillis`. @internal */
export interface Pruning {
  /** Runs that ended before this (milliseconds) may go. */
  readonly cutoff: number
  /** The final state types a run outside any flow run (or a flow run) must be in. */
  readonly states: ReadonlyArray<State.StateType>
}

/**
 * `prune` options checked: a missing or bad `olderThan`, or a `states` entry that is not a final type,
 * is a defect (IllegalArgumentException).
 * @internal
 */
export const pruningOf = (options: RunStore_.PruneOptions, nowMillis: number): Pruning => {
  const olderThan = decodeDuration("olderThan", options?.olderThan)
  if (olderThan === undefined) {
    throw new Cause.IllegalArgumentException(`prune: 'olderThan' is required, e.g. { olderThan: "30 days" }`)
  }
  const states = options.states ?? FINAL_TYPES
  for (const type of states) {
    if (!FINAL_TYPES.includes(type)) {
      throw new Cause.IllegalArgumentException(
        `prune: states must be final state types (${FINAL_TYPES.join(", ")}), got ${JSON.stringify(type)}; ` +
          "runs that are not final are never pruned"
      )
    }
  }
  return { cutoff: nowMillis - Duration.toMillis(olderThan), states }
}

/**
 * A store's `unclaimedAfter` option in milliseconds: the default when absent; negative or unreadable
 * input is a defect (`IllegalArgumentException`), as for every duration option.
 * @internal
 */
export const unclaimedAfterMillis = (input: Duration.DurationInput | undefined, fallback: number): number => {
  const decoded = decodeDuration("unclaimedAfter", input)
  return decoded === undefined ? fallback : Duration.toMillis(decoded)
}

/**
 * How long a run has waited unclaimed, if it is to be reported as such (`RunRecord.unclaimedFor`):
 * Scheduled, held by no worker, for at least `after` ms by the reader's clock. Whether a live worker
 * serves its name is asked only then, so reading a run that is not waiting costs nothing more.
 * @internal
 */
export const unclaimedWait = (
  { state, workerId }: Pick<RunStore_.RunRecord, "state" | "workerId">,
  nowMillis: number,
  after: number
): number | undefined => {
  // A run a worker holds (Scheduled between its attempts there) is not waiting for one.
  if (state.type !== "SCHEDULED" || workerId !== undefined) return undefined
  const waited = nowMillis - state.timestamp.getTime()
  return waited >= after ? waited : undefined
}

/** A record with `unclaimedFor` set. @internal */
export const withUnclaimedFor = (record: RunStore_.RunRecord, waited: number): RunStore_.RunRecord => ({
  ...record,
  unclaimedFor: Duration.millis(waited)
})

/**
 * A new run's trace context, refused (a SerializationError naming the run and the shape wanted)
 * when its `traceparent` is not W3C-shaped: as with arguments that cannot be stored, nothing is
 * created, rather than a run whose worker could not continue the trace. @internal
 */
export const checkTraceContext = (run: RunStore_.NewRun): Errors.SerializationError | undefined => {
  const context = run.traceContext
  // Typed, but a caller (JavaScript, a cast) may pass anything: checked as unknown.
  if (context === undefined || isTraceContext(context as unknown)) return undefined
  return new Errors.SerializationError({
    runId: run.id,
    message: `Run ${run.id}'s traceContext is not one a task worker can continue: traceparent must be a W3C ` +
      `traceparent "00-<32 lowercase hex>-<16 lowercase hex>-<2 hex>" (got ${JSON.stringify(context.traceparent)}) ` +
      `and join "parent" or "link" (got ${JSON.stringify(context.join)}). Leave traceContext out to start a new trace.`
  })
}

/** The first refused trace context of `runs`, if any. @internal */
export const refusedTraceContext = (runs: ReadonlyArray<RunStore_.NewRun>): Errors.SerializationError | undefined => {
  for (const run of runs) {
    if (run.traceContext === undefined) continue
    const refused = checkTraceContext(run)
    if (refused !== undefined) return refused
  }
  return undefined
}

/** `Telemetry.crashesRecovered` by kind, tagged once. */
const crashesByKind = {
  task: Telemetry.crashesRecovered.pipe(Metric.tagged(Telemetry.Attributes.runKind, "task")),
  flow: Telemetry.crashesRecovered.pipe(Metric.tagged(Telemetry.Attributes.runKind, "flow"))
}

/**
 * Counts runs a recovery of expired leases ended Crashed (`Telemetry.crashesRecovered`), tagged by
 * kind. @internal
 */
export const countCrashesRecovered = (kinds: ReadonlyArray<RunStore_.RunKind>): Effect.Effect<void> => {
  if (kinds.length === 0) return Effect.void
  const tasks = kinds.filter((kind) => kind === "task").length
  return Effect.all([
    tasks === 0 ? Effect.void : Metric.incrementBy(crashesByKind.task, tasks),
    tasks === kinds.length ? Effect.void : Metric.incrementBy(crashesByKind.flow, kinds.length - tasks)
  ], { discard: true })
}
