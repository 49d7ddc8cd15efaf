/**
 * Rows of the SQL stores, to and from what the store hands out: a run's record, a claimed run, a
 * new run's row, a state heard of another process.
 * @internal
 */
import { Cause, Either } from "effect"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type { StateRow } from "../../codec/storeCodec.js"
import { decodeParameters, decodeState, encodeParameters, encodeState } from "../../codec/storeCodec.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import type { CREATE_COLUMNS, RunRow } from "./statements.js"

/** A run's current state, as its row holds it. */
export const stateRowOf = (row: RunRow): StateRow => ({
  type: row.state_type,
  name: row.state_name,
  message: row.state_message,
  timestamp: row.state_timestamp,
  cause: row.state_cause
})

/** A run's record, read from its row (and its result, where the query joined it). */
export const toRecord = (row: RunRow): Either.Either<RunStore_.RunRecord, Errors.SerializationError> =>
  Either.map(decodeState(row.name, row.id, stateRowOf(row), row.result), (state) => ({
    id: row.id,
    kind: row.kind as RunStore_.RunKind,
    name: row.name,
    flowRunId: row.flow_run_id ?? undefined,
    parentTaskRunId: row.parent_task_run_id ?? undefined,
    // A record is for reading: parameters that no longer decode are shown as stored.
    parameters: Either.getOrElse(decodeParameters(row.name, row.id, row.parameters), () => [row.parameters]),
    tags: JSON.parse(row.tags) as ReadonlyArray<string>,
    runCount: Number(row.run_count),
    retries: Number(row.retries),
    state,
    createdAt: new Date(Number(row.created_at)),
    workerId: row.worker_id ?? undefined,
    leaseExpiresAt: row.lease_expires_at === null ? undefined : new Date(Number(row.lease_expires_at))
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
  state: state_.running({ timestamp: new Date(millis), name: row.state_name })
})

/** A state heard of (a notification, a poll, a read), for subscribers. */
export const decodedOrCrashed = (name: string, runId: string, row: StateRow, result: string | null | undefined) =>
  // A result that does not decode still ends the wait; reading it reports the error.
  Either.getOrElse(
    decodeState(name, runId, row, result),
    (error) => state_.crashed(Cause.die(error), { message: error.message }) as AnyState
  )

/** A new run's row, by column. */
export type NewRunRow = Record<(typeof CREATE_COLUMNS)[number], unknown>

/**
 * Encodes new runs' rows; parameters that cannot be encoded refuse the whole batch. Tags as stored:
 * the runs of one `mapDelay` share their task's tags array, encoded once.
 */
export const makeNewRow = () => {
  let lastTags: ReadonlyArray<string> | undefined
  let lastTagsJson = "[]"
  const tagsJson = (tags: ReadonlyArray<string>) => {
    if (tags !== lastTags) {
      lastTags = tags
      lastTagsJson = JSON.stringify(tags)
    }
    return lastTagsJson
  }
  return (run: RunStore_.NewRun): Either.Either<NewRunRow, Errors.SerializationError> =>
    Either.map(
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
          created_at: timestamp
        }
      }
    )
}
