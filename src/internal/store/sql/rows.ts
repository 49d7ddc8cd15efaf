/**
 * Rows of the SQL stores, to and from what the store hands out: a run's record, a claimed run, a
 * new run's row, a state heard of another process.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type { StateRow } from "../../codec/storeCodec.js"
import { decodeParameters, decodeState, encodeParameters, encodeState } from "../../codec/storeCodec.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import { decodeTraceContextJson } from "../../telemetry/traceContext.js"
import { checkTraceContext } from "../rules.js"
import type { CREATE_COLUMNS, RunRow } from "./statements.js"

/** A run's current state, as its row holds it. */
export const stateRowOf = (row: RunRow): StateRow => ({
  type: row.state_type,
  name: row.state_name,
  message: row.state_message,
  timestamp: row.state_timestamp,
  cause: row.state_cause
})

/** The state types a row may hold; any other is a corrupt row. */
export const STATE_TYPES: ReadonlySet<string> = new Set([
  "SCHEDULED",
  "PENDING",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CRASHED",
  "CANCELLING",
  "CANCELLED",
  "PAUSED"
])

/** A corrupt row's error: it names the run and the column. */
const corruptRow = (runId: string, column: string, what: string) =>
  new Errors.SerializationError({
    message: `The row of run ${runId} in the run store is corrupt: its ${column} column ${what}`,
    runId
  })

/** A row's state type, or the error naming the run when no library writes it. */
export const checkedStateType = (
  runId: string,
  type: string,
  column = "state_type"
): Either.Either<string, Errors.SerializationError> =>
  STATE_TYPES.has(type)
    ? Either.right(type)
    : Either.left(corruptRow(runId, column, `holds ${JSON.stringify(type)}, which is not a state type`))

/** A row's tags: a JSON array of strings, or the error naming the run. */
const decodeTags = (runId: string, text: string): Either.Either<ReadonlyArray<string>, Errors.SerializationError> => {
  let tags: unknown
  try {
    tags = JSON.parse(text)
  } catch (error) {
    return Either.left(corruptRow(runId, "tags", `is not valid JSON (${(error as Error).message})`))
  }
  return Array.isArray(tags) && tags.every((tag) => typeof tag === "string")
    ? Either.right(tags as ReadonlyArray<string>)
    : Either.left(corruptRow(runId, "tags", "is not a JSON array of strings"))
}

/** A run's record, read from its row (and its result, where the query joined it); a corrupt row fails naming the run. */
export const toRecord = (row: RunRow): Either.Either<RunStore_.RunRecord, Errors.SerializationError> =>
  Either.flatMap(
    Either.all([checkedStateType(row.id, row.state_type), decodeTags(row.id, row.tags)]),
    ([, tags]) =>
      Either.map(decodeState(row.name, row.id, stateRowOf(row), row.result), (state) => ({
        ...recordFields(row),
        tags,
        state
      }))
  )

/** A record's fields that always read (a listing shows a corrupt row with them). */
const recordFields = (row: RunRow & { readonly rerun_of?: string | null }) => ({
  id: row.id,
  kind: row.kind as RunStore_.RunKind,
  name: row.name,
  flowRunId: row.flow_run_id ?? undefined,
  parentTaskRunId: row.parent_task_run_id ?? undefined,
  // A record is for reading: parameters that no longer decode are shown as stored.
  parameters: Either.getOrElse(decodeParameters(row.name, row.id, row.parameters), () => [row.parameters]),
  runCount: Number(row.run_count),
  retries: Number(row.retries),
  createdAt: new Date(Number(row.created_at)),
  workerId: row.worker_id ?? undefined,
  leaseExpiresAt: row.lease_expires_at === null ? undefined : new Date(Number(row.lease_expires_at)),
  rerunOf: row.rerun_of ?? undefined
})

/**
 * A row in a listing: its record, or, for a row that does not read, a record marked `corrupt` whose
 * state is Crashed named "Corrupt" (the error as its message and defect), so one bad row never hides
 * the others.
 */
export const toListedRecord = (row: RunRow): RunStore_.RunRecord =>
  Either.getOrElse(toRecord(row), (error) => ({
    ...recordFields(row),
    tags: Either.getOrElse(decodeTags(row.id, row.tags), () => []),
    state: state_.crashed(Cause.die(error), {
      timestamp: new Date(Number(row.state_timestamp)),
      name: "Corrupt",
      message: error.message
    }),
    corrupt: { message: error.message }
  }))

/** A claimed run's row as the worker gets it; `millis` is the claim's time (its Running state's). */
export const claimedRun = (row: RunRow, millis: number): RunStore_.ClaimedRun => ({
  id: row.id,
  kind: row.kind as RunStore_.RunKind,
  name: row.name,
  flowRunId: row.flow_run_id ?? undefined,
  parentTaskRunId: row.parent_task_run_id ?? undefined,
  parameters: decodeParameters(row.name, row.id, row.parameters),
  runCount: Number(row.run_count),
  retries: Number(row.retries),
  state: state_.running({ timestamp: new Date(millis), name: row.state_name }),
  traceContext: traceContextOf(row.trace_context),
  // A row claimed before migration 7 has none: it waited no time that is known.
  scheduledAt: new Date(row.scheduled_at == null ? millis : Number(row.scheduled_at))
})

/**
 * A row's trace context; one that does not read (a hand-edited row) is none: the run starts a new
 * trace rather than failing for what only its tracing would use.
 */
const traceContextOf = (text: string | null | undefined): RunStore_.RunTraceContext | undefined =>
  text == null ? undefined : Option.getOrUndefined(decodeTraceContextJson(text))

/** A trace context as its column holds it. */
const traceContextText = (context: RunStore_.RunTraceContext | undefined): string | null =>
  context === undefined ? null : JSON.stringify({ traceparent: context.traceparent, join: context.join })

/** A state heard of (a notification, a poll, a read), for subscribers. */
export const decodedOrCrashed = (name: string, runId: string, row: StateRow, result: string | null | undefined) =>
  // A result that does not decode, or a state type no library writes, still ends the wait; reading
  // it reports the error.
  Either.getOrElse(
    Either.flatMap(checkedStateType(runId, row.type), () => decodeState(name, runId, row, result)),
    (error) => state_.crashed(Cause.die(error), { message: error.message }) as AnyState
  )

/** A new run's row, by column. */
export type NewRunRow = Record<(typeof CREATE_COLUMNS)[number], unknown>

/**
 * Encodes new runs' rows; parameters that cannot be encoded refuse the whole batch. Tags as stored:
 * the runs of one `mapDelay` share their task's tags array, encoded once. A run of this process (not
 * Scheduled for a task worker, not already final) is held by `hold.holder` from its first write,
 * its `lease_expires_at` the lease in ms, which the dialect's insert adds to the store's clock.
 */
export const makeNewRow = (hold?: { readonly holder: string; readonly lease: number }) => {
  let lastTags: ReadonlyArray<string> | undefined
  let lastTagsJson = "[]"
  const tagsJson = (tags: ReadonlyArray<string>) => {
    if (tags !== lastTags) {
      lastTags = tags
      lastTagsJson = JSON.stringify(tags)
    }
    return lastTagsJson
  }
  // The runs of one `mapDelay` share one trace context too.
  let lastContext: RunStore_.RunTraceContext | undefined
  let lastContextText: string | null = null
  const contextText = (context: RunStore_.RunTraceContext | undefined) => {
    if (context !== lastContext) {
      lastContext = context
      lastContextText = traceContextText(context)
    }
    return lastContextText
  }
  return (run: RunStore_.NewRun): Either.Either<NewRunRow, Errors.SerializationError> => {
    const refused = run.traceContext === undefined ? undefined : checkTraceContext(run)
    if (refused !== undefined) return Either.left(refused)
    return newRow(run, contextText(run.traceContext))
  }

  function newRow(
    run: RunStore_.NewRun,
    traceContext: string | null
  ): Either.Either<NewRunRow, Errors.SerializationError> {
    return Either.map(
      // A run created already finished keeps whatever it has; only a Scheduled run's arguments are
      // decoded by a worker, others (runs of this process) are only shown.
      encodeParameters(
        state_.isFinal(run.state) ? "" : run.name,
        run.id,
        run.parameters ?? [],
        run.state.type === "SCHEDULED"
      ),
      (parameters) => {
        const { cause } = Either.getOrElse(encodeState(run.name, run.id, run.state), () => ({ cause: null }))
        const timestamp = run.state.timestamp.getTime()
        return {
          id: run.id,
          kind: run.kind,
          name: run.name,
          flow_run_id: run.flowRunId ?? null,
          parent_task_run_id: run.parentTaskRunId ?? null,
          parameters,
          tags: tagsJson(run.tags ?? []),
          retries: run.retries ?? 0,
          run_count: 0,
          state_seq: 1,
          state_type: run.state.type,
          state_name: run.state.name,
          state_message: run.state.message ?? null,
          state_timestamp: timestamp,
          state_cause: cause,
          created_at: timestamp,
          trace_context: traceContext,
          ...(hold !== undefined && heldInProcess(run.state)
            ? { worker_id: hold.holder, lease_expires_at: hold.lease }
            : { worker_id: null, lease_expires_at: null })
        }
      }
    )
  }
}

/** Whether a run is Pending named NotReady: an upstream failed, it never starts. @internal */
export const isNotReady = (state: AnyState): boolean => state.type === "PENDING" && state.name === "NotReady"

/**
 * Whether a run of this process in this state is over for it: final, or NotReady (it never starts,
 * and nothing here would ever settle it). Such a run is not held; a change to it ends the hold. @internal
 */
export const overInProcess = (state: AnyState): boolean => state_.isFinal(state) || isNotReady(state)

/** Whether a new run in this state is a run of this process, held under its lease. @internal */
export const heldInProcess = (state: AnyState): boolean => state.type !== "SCHEDULED" && !overInProcess(state)
