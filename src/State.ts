/**
 * The state of a task or flow run, as in Prefect: a type (SCHEDULED … CANCELLING), a name that
 * refines it (NotReady, AwaitingRetry, Retrying, TimedOut, …), a message and a timestamp.
 * Completed carries the run's value; Failed and Crashed carry an Effect `Cause`.
 *
 * @since 0.1.0
 */
import type { Cause, Effect, Exit, Schema } from "effect"
import type * as Errors from "./Errors.js"
import * as internal from "./internal/core/state.js"

/**
 * @since 0.1.0
 * @category models
 */
export type StateType =
  | "SCHEDULED"
  | "PENDING"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "CRASHED"
  | "PAUSED"
  | "CANCELLING"

/**
 * The names Prefect gives states. `name` defaults to the capitalised type.
 *
 * @since 0.1.0
 * @category models
 */
export type StateName =
  | "Scheduled"
  | "Pending"
  | "Running"
  | "Completed"
  | "Failed"
  | "Cancelled"
  | "Crashed"
  | "Paused"
  | "Cancelling"
  | "NotReady"
  | "AwaitingRetry"
  | "Retrying"
  | "TimedOut"
  | "Cached"
  | "Late"

/**
 * @since 0.1.0
 * @category models
 */
export interface Base<T extends StateType> {
  readonly type: T
  /** The capitalised type unless a more precise name was given (NotReady, Retrying, TimedOut, …). */
  readonly name: string
  readonly message: string | undefined
  /**
   * When the run entered this state. States made in the same millisecond share one Date (a run
   * keeps every state of its history, and a Date is about 100 bytes): read it, never mutate it.
   */
  readonly timestamp: Date
}

/** @since 0.1.0 @category models */
export interface Scheduled extends Base<"SCHEDULED"> {}
/** @since 0.1.0 @category models */
export interface Pending extends Base<"PENDING"> {}
/** @since 0.1.0 @category models */
export interface Running extends Base<"RUNNING"> {}
/** @since 0.1.0 @category models */
export interface Paused extends Base<"PAUSED"> {}
/** @since 0.1.0 @category models */
export interface Cancelling extends Base<"CANCELLING"> {}
/** @since 0.1.0 @category models */
export interface Cancelled extends Base<"CANCELLED"> {}
/**
 * A completed run and its value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Completed<A> extends Base<"COMPLETED"> {
  readonly value: A
}
/**
 * A run whose code failed: the `Cause` holds its typed failure `E` or its defect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed<E> extends Base<"FAILED"> {
  readonly cause: Cause.Cause<E>
}
/**
 * A run whose infrastructure failed (a worker died, a lease expired).
 *
 * @since 0.1.0
 * @category models
 */
export interface Crashed extends Base<"CRASHED"> {
  readonly cause: Cause.Cause<unknown>
}

/**
 * The state of a run whose value is `A` and whose own failure is `E`.
 *
 * @since 0.1.0
 * @category models
 */
export type State<A, E = never> =
  | Scheduled
  | Pending
  | Running
  | Completed<A>
  | Failed<E>
  | Crashed
  | Cancelled
  | Paused
  | Cancelling

/**
 * The states a run never leaves: Completed, Failed, Crashed and Cancelled (not Paused, not
 * Cancelling).
 *
 * @since 0.1.0
 * @category guards
 */
export const isFinal: <A, E>(self: State<A, E>) => self is Completed<A> | Failed<E> | Crashed | Cancelled =
  internal.isFinal
/** @since 0.1.0 @category guards */
export const isCompleted: <A, E>(self: State<A, E>) => self is Completed<A> = internal.isCompleted
/** @since 0.1.0 @category guards */
export const isFailed: <A, E>(self: State<A, E>) => self is Failed<E> = internal.isFailed
/** @since 0.1.0 @category guards */
export const isCrashed: <A, E>(self: State<A, E>) => self is Crashed = internal.isCrashed
/** @since 0.1.0 @category guards */
export const isCancelled: <A, E>(self: State<A, E>) => self is Cancelled = internal.isCancelled
/** @since 0.1.0 @category guards */
export const isPending: <A, E>(self: State<A, E>) => self is Pending = internal.isPending
/** @since 0.1.0 @category guards */
export const isRunning: <A, E>(self: State<A, E>) => self is Running = internal.isRunning
/** @since 0.1.0 @category guards */
export const isScheduled: <A, E>(self: State<A, E>) => self is Scheduled = internal.isScheduled
/** @since 0.1.0 @category guards */
export const isPaused: <A, E>(self: State<A, E>) => self is Paused = internal.isPaused

/**
 * @since 0.1.0
 * @category constructors
 */
export interface ConstructorOptions {
  readonly name?: string
  readonly message?: string
  /** Defaults to now. */
  readonly timestamp?: Date
}

/**
 * @example
 * ```ts
 * import { State } from "effect-taskflow"
 *
 * const retrying = State.running({ name: "Retrying" })
 * console.log(retrying.type, retrying.name) // RUNNING Retrying
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const scheduled: (options?: ConstructorOptions) => Scheduled = internal.scheduled
/** @since 0.1.0 @category constructors */
export const pending: (options?: ConstructorOptions) => Pending = internal.pending
/** @since 0.1.0 @category constructors */
export const running: (options?: ConstructorOptions) => Running = internal.running
/** @since 0.1.0 @category constructors */
export const completed: <A>(value: A, options?: ConstructorOptions) => Completed<A> = internal.completed
/** @since 0.1.0 @category constructors */
export const failed: <E>(cause: Cause.Cause<E>, options?: ConstructorOptions) => Failed<E> = internal.failed
/** @since 0.1.0 @category constructors */
export const crashed: (cause: Cause.Cause<unknown>, options?: ConstructorOptions) => Crashed = internal.crashed
/** @since 0.1.0 @category constructors */
export const cancelled: (options?: ConstructorOptions) => Cancelled = internal.cancelled
/** @since 0.1.0 @category constructors */
export const paused: (options?: ConstructorOptions) => Paused = internal.paused
/** @since 0.1.0 @category constructors */
export const cancelling: (options?: ConstructorOptions) => Cancelling = internal.cancelling

/**
 * The result held by a state, as Prefect's `State.result()`:
 * - not final (Pending, NotReady, Running, Paused, …) → fails with `UnfinishedRun`;
 * - Failed → fails with the run's own `Cause` (a typed failure stays typed, a defect stays a defect;
 *   a run that exceeded its timeout, Failed named TimedOut, fails with the typed `TaskTimeoutError`);
 *   Crashed → `CrashedRun`; Cancelled → `CancelledRun`;
 * - Completed whose result was not kept → `MissingResult`.
 *
 * With `raiseOnFailure: false` a finished run's outcome is returned as an `Exit` instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { State } from "effect-taskflow"
 *
 * const value = Effect.runSync(State.result(State.completed(42))) // 42
 * ```
 * @since 0.1.0
 * @category results
 */
export const result: {
  <A, E>(
    self: State<A, E>,
    options?: { readonly raiseOnFailure?: true }
  ): Effect.Effect<A, E | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult>
  <A, E>(
    self: State<A, E>,
    options: { readonly raiseOnFailure: false }
  ): Effect.Effect<
    Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>,
    Errors.UnfinishedRun | Errors.MissingResult
  >
} = internal.result as any

/**
 * A `Schema` for a state whose value is encoded with `success` and whose typed failure is encoded
 * with `failure` (defects are encoded as `Schema.Defect` does). The run store uses it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schema: <A, I, E, EI>(
  success: Schema.Schema<A, I, never>,
  failure: Schema.Schema<E, EI, never>
) => Schema.Schema<State<A, E>, unknown, never> = internal.schema

/**
 * A Completed state whose value was not kept (`persistResult: false`): reading its result fails
 * with `MissingResult`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const completedWithoutResult: (options?: ConstructorOptions) => Completed<never> =
  internal.completedWithoutResult

/**
 * Whether a Completed state's value was kept.
 *
 * @since 0.1.0
 * @category guards
 */
export const hasResult: <A>(self: Completed<A>) => boolean = internal.hasResult
