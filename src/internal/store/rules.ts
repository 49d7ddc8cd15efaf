import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as State from "../../State.js"
import { decodeDuration } from "../core/duration.js"
import type { AnyState } from "../core/state.js"
import { cancelled, crashed, isFinal, scheduled } from "../core/state.js"

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

/**
 * A `listRuns` filter's state types, order and limit, checked: a bad limit is a defect.
 * @internal
 */
export const listingOf = (filter: RunStore_.RunFilter | undefined): {
  readonly stateTypes: ReadonlyArray<State.StateType> | undefined
  readonly newestFirst: boolean
  readonly limit: number | undefined
} => {
  const limit = filter?.limit
  if (limit !== undefined && !isCount(limit)) {
    throw new Cause.IllegalArgumentException(`listRuns: limit must be a whole number of 0 or more, got ${limit}`)
  }
  const stateType = filter?.stateType
  return {
    stateTypes: stateType === undefined ? undefined : typeof stateType === "string" ? [stateType] : stateType,
    newestFirst: filter?.order === "newest",
    limit
  }
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
