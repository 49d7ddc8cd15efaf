/**
 * The state of a task or flow run, as in Prefect: a type (SCHEDULED … CANCELLING), a name that
 * refines it (NotReady, AwaitingRetry, Retrying, TimedOut, …), a message and a timestamp.
 * Completed carries the run's value; Failed and Crashed carry an Effect `Cause`.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Schema from "effect/Schema"
import type * as Errors from "./Errors.js"
import * as internal from "./internal/core/state.js"

/**
 * The kind of a state. Final: COMPLETED, FAILED, CRASHED and CANCELLED.
 *
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
 * What every state has: its type, name, message and timestamp.
 *
 * @since 0.1.0
 * @category models
 */
export interface Base<T extends StateType> {
  /** The kind of state (SCHEDULED … CANCELLING); guards such as `State.isCompleted` narrow on it. */
  readonly type: T
  /** The capitalised type unless a more precise name was given (NotReady, Retrying, TimedOut, …). */
  readonly name: string
  /** Why the run is in this state, where that is known (e.g. the upstream of a NotReady run). */
  readonly message: string | undefined
  /**
   * When the run entered this state. States made in the same millisecond share one Date (a run
   * keeps every state of its history, and a Date is about 100 bytes): read it, never mutate it.
   */
  readonly timestamp: Date
}

/**
 * A run waiting for a task worker to claim it (`delay`), or for its retry (AwaitingRetry).
 *
 * @since 0.1.0
 * @category models
 */
export interface Scheduled extends Base<"SCHEDULED"> {}
/**
 * A run created and not started yet; a run whose upstream did not complete stays Pending named NotReady.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pending extends Base<"PENDING"> {}
/**
 * A run whose body is executing (named Retrying on a retry).
 *
 * @since 0.1.0
 * @category models
 */
export interface Running extends Base<"RUNNING"> {}
/**
 * A paused run (Prefect's state; nothing in this library pauses runs).
 *
 * @since 0.1.0
 * @category models
 */
export interface Paused extends Base<"PAUSED"> {}
/**
 * A run asked to cancel while a task worker holds it; it ends Cancelled.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cancelling extends Base<"CANCELLING"> {}
/**
 * A run that was cancelled (interrupted, or cancelled before it started).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cancelled extends Base<"CANCELLED"> {}
/**
 * A completed run and its value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Completed<A> extends Base<"COMPLETED"> {
  /** The run's value (see `hasResult` for a run whose result was not kept). */
  readonly value: A
}
/**
 * A run whose code failed: the `Cause` holds its typed failure `E` or its defect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed<E> extends Base<"FAILED"> {
  /** Why the run failed: its typed failure `E`, or a defect. */
  readonly cause: Cause.Cause<E>
}
/**
 * A run whose infrastructure failed (a worker died, a lease expired).
 *
 * @since 0.1.0
 * @category models
 */
export interface Crashed extends Base<"CRASHED"> {
  /** What went wrong where the run executed. */
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
/**
 * Whether the state is Completed (narrows to `Completed<A>`, with its `value`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isCompleted: <A, E>(self: State<A, E>) => self is Completed<A> = internal.isCompleted
/**
 * Whether the state is Failed (narrows to `Failed<E>`, with its `cause`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isFailed: <A, E>(self: State<A, E>) => self is Failed<E> = internal.isFailed
/**
 * Whether the state is Crashed (narrows to `Crashed`, with its `cause`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isCrashed: <A, E>(self: State<A, E>) => self is Crashed = internal.isCrashed
/**
 * Whether the state is Cancelled.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCancelled: <A, E>(self: State<A, E>) => self is Cancelled = internal.isCancelled
/**
 * Whether the state is Pending (also a NotReady run).
 *
 * @since 0.1.0
 * @category guards
 */
export const isPending: <A, E>(self: State<A, E>) => self is Pending = internal.isPending
/**
 * Whether the state is Running (also Retrying).
 *
 * @since 0.1.0
 * @category guards
 */
export const isRunning: <A, E>(self: State<A, E>) => self is Running = internal.isRunning
/**
 * Whether the state is Scheduled (also AwaitingRetry).
 *
 * @since 0.1.0
 * @category guards
 */
export const isScheduled: <A, E>(self: State<A, E>) => self is Scheduled = internal.isScheduled
/**
 * Whether the state is Paused.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPaused: <A, E>(self: State<A, E>) => self is Paused = internal.isPaused

/**
 * Options of the state constructors.
 *
 * @since 0.1.0
 * @category constructors
 */
export interface ConstructorOptions {
  /** The state's name, when more precise than its type (NotReady, AwaitingRetry, Retrying, TimedOut, …). */
  readonly name?: string
  /** Why the run is in this state. */
  readonly message?: string
  /** Defaults to now. */
  readonly timestamp?: Date
}

/**
 * A Scheduled state (`name` e.g. "AwaitingRetry"). Each state has its constructor: `scheduled`,
 * `pending`, `running`, `completed(value)`, `failed(cause)`, `crashed(cause)`, `cancelled`,
 * `paused`, `cancelling`; `options` give its `name`, `message` and `timestamp`.
 *
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
/**
 * A Pending state (`name` e.g. "NotReady"; `message`, `timestamp` default to none and now).
 *
 * @since 0.1.0
 * @category constructors
 */
export const pending: (options?: ConstructorOptions) => Pending = internal.pending
/**
 * A Running state (`name` e.g. "Retrying").
 *
 * @since 0.1.0
 * @category constructors
 */
export const running: (options?: ConstructorOptions) => Running = internal.running
/**
 * A Completed state holding `value`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const completed: <A>(value: A, options?: ConstructorOptions) => Completed<A> = internal.completed
/**
 * A Failed state holding the run's `cause` (`name` e.g. "TimedOut").
 *
 * @since 0.1.0
 * @category constructors
 */
export const failed: <E>(cause: Cause.Cause<E>, options?: ConstructorOptions) => Failed<E> = internal.failed
/**
 * A Crashed state holding what went wrong where the run executed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const crashed: (cause: Cause.Cause<unknown>, options?: ConstructorOptions) => Crashed = internal.crashed
/**
 * A Cancelled state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cancelled: (options?: ConstructorOptions) => Cancelled = internal.cancelled
/**
 * A Paused state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const paused: (options?: ConstructorOptions) => Paused = internal.paused
/**
 * A Cancelling state: the run was asked to cancel while a worker holds it.
 *
 * @since 0.1.0
 * @category constructors
 */
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
 * import * as Effect from "effect/Effect"
 * import { State } from "effect-taskflow"
 *
 * const value = Effect.runSync(State.result(State.completed(42))) // 42
 * ```
 * @since 0.1.0
 * @category results
 */
export const result: {
  /**
   * The state's result: a Completed state's value; a Failed state fails with the run's own `Cause`,
   * Crashed with `CrashedRun`, Cancelled with `CancelledRun`, a state that is not final with
   * `UnfinishedRun`, a Completed state whose result was not kept with `MissingResult`.
   */
  <A, E>(
    self: State<A, E>,
    options?: { readonly raiseOnFailure?: true }
  ): Effect.Effect<A, E | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult>
  /**
   * With `raiseOnFailure: false`: a finished run's outcome as an `Exit` (its value, or its failure
   * as a `Cause`); a state that is not final still fails with `UnfinishedRun`, one whose result was
   * not kept with `MissingResult`.
   */
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
