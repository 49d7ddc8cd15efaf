import type { Duration } from "effect"
import { Cause, Clock, Effect, Exit, FiberRef, Option } from "effect"
import * as Errors from "../Errors.js"
import type * as RunStore_ from "../RunStore.js"
import type * as State from "../State.js"
import { seconds } from "./duration.js"
import type { AnyFuture, RunCell, SlotHolder } from "./futures.js"
import { awaitDone, currentSlot, internals, reacquireSlot } from "./futures.js"
import { collectFutures, replaceFutures } from "./resolve.js"
import * as state_ from "./state.js"

type AnyState = State.State<any, any>

/**
 * A task as the engine runs it: the body and its options, resolved to plain values.
 * @internal
 */
export interface TaskDefinition {
  readonly kind: "task" | "flow"
  readonly name: string
  readonly fn: (...args: Array<any>) => Effect.Effect<any, any, any>
  readonly retries: number
  readonly retryDelay: Duration.Duration | undefined
  readonly timeout: Duration.Duration | undefined
  readonly tags: ReadonlyArray<string>
  readonly persistResult: boolean
}

/** The flow run the current fiber works for. @internal */
export const currentFlowRunId: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(
  undefined
)
/** The task run the current fiber works for. @internal */
export const currentTaskRunId: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(
  undefined
)

/**
 * Moves a run to `state`: in the cell (what in-process futures read) and in the store. A run
 * that reached a final state keeps it (the store refuses the move too).
 * @internal
 */
export const record = (
  store: RunStore_.Service | undefined,
  cell: RunCell<any, any>,
  make: (timestamp: Date) => AnyState,
  options?: { readonly runCount?: number; readonly persistResult?: boolean }
): Effect.Effect<AnyState> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const state = make(new Date(now))
    if (cell.done !== undefined || state_.isFinal(cell.state)) return Effect.succeed(cell.state)
    cell.state = state
    if (store === undefined) return Effect.succeed(state)
    const stored = options?.persistResult === false && state.type === "COMPLETED"
      ? state_.completedWithoutResult({
        timestamp: state.timestamp,
        ...(state.message ? { message: state.message } : {})
      })
      : state
    return store.setState(cell.id, stored, options).pipe(
      Effect.catchTag("InvalidTransition", () => Effect.void),
      Effect.orDie,
      Effect.as(state)
    )
  })

/**
 * Waits for the futures in a run's arguments and `waitFor`, then replaces them by their values. A
 * future that did not complete makes the run NotReady, unless it sits inside `allowFailure`, in
 * which case its error is passed instead (Prefect's `resolve_inputs`).
 * @internal
 */
export const resolveInputs = (
  args: ReadonlyArray<unknown>,
  waitFor: ReadonlyArray<unknown>
): Effect.Effect<{ readonly args: ReadonlyArray<unknown> } | { readonly notReady: Errors.UpstreamTaskError }> => {
  // The common case, plain values only, skips the walk.
  if (waitFor.length === 0 && args.every((arg) => typeof arg !== "object" || arg === null)) {
    return Effect.succeed({ args })
  }
  const allowed = new Set<AnyFuture>()
  const futures = collectFutures(args, new Set(), allowed)
  collectFutures(waitFor, futures, allowed)
  if (futures.size === 0) return Effect.succeed({ args })
  for (const future of futures) future.markOutcomeRead()
  return Effect.map(Effect.forEach(futures, (future) => awaitDone(internals(future)), { discard: true }), () => {
    for (const future of futures) {
      const state = future.unsafeDone()!
      if (state.type !== "COMPLETED" && !allowed.has(future)) {
        return {
          notReady: new Errors.UpstreamTaskError({
            message: `Upstream task run '${future.taskRunId}' did not reach a 'COMPLETED' state.`
          })
        }
      }
    }
    const resolved = replaceFutures(args, (future) => valueOrError(future.unsafeDone()!, future.taskRunId), {
      unwrapAllowFailure: true
    }) as ReadonlyArray<unknown>
    return { args: resolved }
  })
}

/** What a task receives for an upstream under `allowFailure`: its value, or its error. */
const valueOrError = (state: AnyState, taskRunId: string): unknown => {
  switch (state.type) {
    case "COMPLETED":
      return state.value
    case "FAILED": {
      const failure = Cause.failureOption(state.cause)
      return Option.isSome(failure) ? failure.value : Cause.squash(state.cause)
    }
    case "CRASHED":
    case "CANCELLED":
      return state_.stateError(state)
    default:
      return new Errors.UpstreamTaskError({
        message: `Upstream task run '${taskRunId}' did not reach a 'COMPLETED' state.`
      })
  }
}

/** Whether a failure is the run's own timeout. */
const isTimeout = (cause: Cause.Cause<unknown>) =>
  Cause.reduce(
    cause,
    false,
    (found, reason) => Option.some(found || (reason._tag === "Die" && reason.defect instanceof Errors.TaskTimeoutError))
  )

/**
 * Runs the body of a task or flow with its timeout and retries, recording Running, Retrying,
 * AwaitingRetry and the final state. Never fails: the outcome is the state.
 * @internal
 */
export const executeAttempts = <R>(
  def: TaskDefinition,
  cell: RunCell<any, any>,
  store: RunStore_.Service | undefined,
  body: Effect.Effect<any, any, R>,
  onSuccess: (value: any) => Effect.Effect<AnyState, never, R> = (value) => Effect.succeed(state_.completed(value))
): Effect.Effect<AnyState, never, R> => {
  const label = def.kind === "task" ? "Task run" : "Flow run"
  const timed = def.timeout === undefined ? body : Effect.timeoutFailCause(body, {
    duration: def.timeout,
    onTimeout: () =>
      Cause.die(
        new Errors.TaskTimeoutError({
          message: `${label} '${def.name}' (${cell.id}) exceeded its timeout of ${seconds(def.timeout!)} seconds.`
        })
      )
  })
  const attempt = (runCount: number): Effect.Effect<AnyState, never, R> =>
    record(store, cell, (timestamp) => state_.running({ timestamp, name: runCount === 1 ? "Running" : "Retrying" }), {
      runCount
    }).pipe(
      Effect.zipRight(Effect.exit(timed)),
      Effect.flatMap((exit): Effect.Effect<AnyState, never, R> => {
        if (Exit.isSuccess(exit)) return onSuccess(exit.value)
        const cause = exit.cause
        if (Cause.isInterruptedOnly(cause)) return Effect.succeed(state_.cancelled())
        const timedOut = isTimeout(cause)
        if (runCount <= def.retries) {
          return record(store, cell, (timestamp) =>
            state_.scheduled({
              timestamp,
              name: "AwaitingRetry",
              message: `Retry ${runCount} of ${def.retries}${timedOut ? " after a timeout" : ""}.`
            })).pipe(
              Effect.zipRight(def.retryDelay === undefined ? Effect.void : Effect.sleep(def.retryDelay)),
              Effect.zipRight(Effect.suspend(() => attempt(runCount + 1)))
            )
        }
        return Effect.succeed(state_.failed(cause, timedOut ? { name: "TimedOut" } : undefined))
      })
    )
  return attempt(1)
}

/**
 * One task run, start to end: inputs, slot, attempts, final state. Interruption records Cancelled.
 * @internal
 */
export const executeTaskRun = <R>(
  def: TaskDefinition,
  cell: RunCell<any, any>,
  store: RunStore_.Service | undefined,
  args: ReadonlyArray<unknown>,
  waitFor: ReadonlyArray<unknown>,
  semaphore: Effect.Semaphore | undefined
): Effect.Effect<AnyState, never, R> => {
  const run = Effect.flatMap(resolveInputs(args, waitFor), (inputs): Effect.Effect<AnyState, never, R> => {
    if ("notReady" in inputs) {
      return record(
        store,
        cell,
        (timestamp) => state_.pending({ timestamp, name: "NotReady", message: inputs.notReady.message })
      )
    }
    const attempts = Effect.flatMap(
      executeAttempts(def, cell, store, def.fn(...inputs.args) as Effect.Effect<any, any, R>),
      (final) => record(store, cell, () => final, { persistResult: def.persistResult })
    )
    const withRun = Effect.locally(attempts, currentTaskRunId, cell.id)
    return semaphore === undefined ? withRun : withSlot(semaphore, withRun)
  })
  return Effect.onInterrupt(run, () => record(store, cell, (timestamp) => state_.cancelled({ timestamp })))
}

/** Holds one permit of `semaphore` while `effect` runs, except while it waits on futures. */
const withSlot = <A, E, R>(semaphore: Effect.Semaphore, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const holder: SlotHolder = { held: false, release: semaphore.release(1), take: Effect.asVoid(semaphore.take(1)) }
  return Effect.zipRight(
    reacquireSlot(holder),
    Effect.ensuring(
      Effect.locally(effect, currentSlot, holder),
      Effect.suspend(() => {
        if (!holder.held) return Effect.void
        holder.held = false
        return holder.release
      })
    )
  )
}
