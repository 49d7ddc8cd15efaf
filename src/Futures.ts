/**
 * Prefect's `prefect.futures` on Effect: typed futures for task and flow runs, `wait` with
 * `returnWhen`, `asCompleted` as a Stream, and resolution of futures nested in any structure.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Stream from "effect/Stream"
import type * as Errors from "./Errors.js"
import * as annotations from "./internal/core/annotations.js"
import * as internal from "./internal/futures/future.js"
import * as list from "./internal/futures/list.js"
import * as resolve from "./internal/futures/resolve.js"
import * as waiting from "./internal/futures/wait.js"
import type * as RunStore from "./RunStore.js"
import type * as State from "./State.js"

/**
 * The symbol every future carries (see `isPrefectFuture`).
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * The errors `result()` adds to the task's own `E`. `TaskTimeoutError` is a typed failure: a run
 * that exceeded its task's `timeout` ends Failed named TimedOut, and `result()` fails with it (a
 * task with a `timeout` has it in its `E` already, see `Task.TimeoutErrorOf`).
 *
 * @since 0.1.0
 * @category models
 */
export type ResultError =
  | Errors.CancelledRun
  | Errors.CrashedRun
  | Errors.UnfinishedRun
  | Errors.MissingResult
  | Errors.WaitTimeoutError
  | Errors.TaskTimeoutError

/**
 * The future of a task or flow run whose value is `A` and whose own failure is `E`.
 *
 * - `wait` never fails: it returns when the run is done or the timeout passes.
 * - `result` re-raises the run's own `Cause` (a typed failure fails with `E`, a defect stays a
 *   defect); with `raiseOnFailure: false` it returns the outcome as an `Exit`.
 * - `addDoneCallback` runs the callback at once if the run is done, otherwise when it is; every
 *   callback runs, and one that fails or dies is logged and stalls nothing.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-future-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   const future = yield* double.submit(21)
 *   yield* future.wait({ timeout: "5 seconds" })
 *   return yield* future.result() // 42
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category models
 */
export interface PrefectFuture<A, E = never> {
  /** The id of the run this future follows (a flow run's id for a flow-run future). */
  readonly taskRunId: string
  /** The run's current state (its final state once done). */
  readonly state: Effect.Effect<State.State<A, E>>
  /**
   * Waits until the run is done (Completed, Failed, Crashed, Cancelled, or NotReady when an upstream
   * did not complete) or `timeout` passes. Never fails: read `state` or `result()` afterwards.
   */
  wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void>
  /**
   * Waits for the run and returns its value. A run that did not complete re-raises its own `Cause`:
   * a typed failure fails with `E`, a defect stays a defect; a cancelled or crashed run fails with
   * `CancelledRun` or `CrashedRun`, a NotReady run with `UnfinishedRun`, a stored run whose result
   * was not kept with `MissingResult`. With `timeout`, fails with `WaitTimeoutError` when it passes
   * first (the run goes on).
   */
  result(options?: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure?: true
  }): Effect.Effect<A, E | ResultError>
  /**
   * With `raiseOnFailure: false`: waits for the run and returns its outcome as an `Exit` (a success
   * with the value, or a failure with the run's `Cause`) instead of failing with it. Still fails
   * with `UnfinishedRun` (NotReady), `MissingResult` or `WaitTimeoutError`.
   */
  result(options: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure: false
  }): Effect.Effect<
    Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>,
    Errors.UnfinishedRun | Errors.MissingResult | Errors.WaitTimeoutError
  >
  /**
   * Calls `fn` with this future once the run is done: at once if it already is. Every callback
   * runs; one that fails or dies is logged and stalls nothing (neither the run nor other callbacks).
   */
  addDoneCallback(fn: (future: PrefectFuture<A, E>) => Effect.Effect<void, unknown> | void): Effect.Effect<void>
}

/**
 * The base of every task-run future (`taskRunId` and `state`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectTaskRunFuture<A, E = never> extends PrefectFuture<A, E> {}

/**
 * A future that wraps another future-like thing `W` (a Fiber, for in-process runs).
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectWrappedFuture<A, E = never, W = unknown> extends PrefectTaskRunFuture<A, E> {
  /** The wrapped future-like thing: for a concurrent future, the run's fiber (interrupt it to cancel the run). */
  readonly wrappedFuture: W
}

/**
 * The future of a run on the concurrent runner (or the worker pool): it wraps the fiber of the run,
 * which yields the state the run ended in. Interrupting that fiber cancels the run.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectConcurrentFuture<A, E = never>
  extends PrefectWrappedFuture<A, E, Fiber.Fiber<State.State<A, E>>>
{}

/**
 * The future of a run kept in the `RunStore` and executed elsewhere (`task.delay`), followed by id.
 * A run id the store does not know reads as Pending and is waited for.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectDistributedFuture<A, E = never> extends PrefectTaskRunFuture<A, E> {}

/**
 * Follows a task run kept in the `RunStore` by its id (`PrefectDistributedFuture.make(taskRunId)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const PrefectDistributedFuture: {
  /**
   * Follows the task run `taskRunId` in the `RunStore`. Does not check that the run exists.
   */
  readonly make: <A = unknown, E = unknown>(
    taskRunId: string
  ) => Effect.Effect<PrefectDistributedFuture<A, E>, never, RunStore.RunStore>
} = { make: internal.distributedFuture }

/**
 * The future of a flow run kept in the `RunStore`; its `taskRunId` equals `flowRunId`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectFlowRunFuture<A, E = never> extends PrefectFuture<A, E> {
  /** The id of the flow run (the same as `taskRunId`). */
  readonly flowRunId: string
}

/**
 * Follows a flow run kept in the `RunStore` by its id (`PrefectFlowRunFuture.make(flowRunId)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const PrefectFlowRunFuture: {
  /** Follows the flow run `flowRunId` in the `RunStore`. */
  readonly make: <A = unknown, E = unknown>(
    flowRunId: string
  ) => Effect.Effect<PrefectFlowRunFuture<A, E>, never, RunStore.RunStore>
} = { make: internal.flowRunFuture }

/**
 * Asks for the future's run to be cancelled, from anywhere. A run in this process (its fiber) is
 * interrupted; a run in the `RunStore` (distributed or flow-run future) is cancelled through the
 * store: one no task worker holds yet ends Cancelled at once, a running one moves to Cancelling and
 * the worker holding it interrupts it. A finished run is left as it is. Returns once the request
 * is recorded; `wait` on the future to see the run end. A stored future whose run id the store does
 * not know (`PrefectDistributedFuture.make("…")` with a wrong id) fails with `RunNotFound`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Futures, RunStore, Task } from "effect-taskflow"
 *
 * const slow = Task.make("slow-cancel-example", () => Effect.never)
 *
 * const program = Effect.gen(function*() {
 *   const future = yield* slow.delay()
 *   yield* Futures.cancel(future)
 *   return (yield* future.state).type // "CANCELLED": no worker had taken it yet
 * }).pipe(Effect.provide(RunStore.memory))
 * ```
 * @since 0.1.0
 * @category cancellation
 */
export const cancel: <A, E>(future: PrefectFuture<A, E>) => Effect.Effect<void, Errors.RunNotFound> = internal.cancel

/**
 * Whether a value is a future.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPrefectFuture: (u: unknown) => u is PrefectFuture<unknown, unknown> = internal.isPrefectFuture

/**
 * Any Effect fiber as a future: success → Completed, failure or defect → Failed, interruption →
 * Cancelled.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Futures } from "effect-taskflow"
 *
 * const program = Effect.gen(function*() {
 *   const fiber = yield* Effect.fork(Effect.succeed("hello"))
 *   const future = yield* Futures.fromFiber(fiber)
 *   return yield* future.result() // "hello"
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromFiber: <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.Effect<PrefectFuture<A, E>> = internal.fromFiber

/**
 * A list of futures (what `Task.map` returns), with `wait` and `result` for the whole.
 * `result()` returns the values in input order (duplicates allowed), fails fast with the first
 * failure in completion order, and counts result retrieval in its timeout.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefectFutureList<A, E = never> extends Iterable<PrefectFuture<A, E>> {
  /** How many futures the list holds. */
  readonly length: number
  /** As `Array.prototype.at`: negative indices count from the end; out of range gives undefined. */
  at(index: number): PrefectFuture<A, E> | undefined
  /** The futures, in input order. */
  readonly futures: ReadonlyArray<PrefectFuture<A, E>>
  /** Waits until all are done or `timeout` passes. Never fails. */
  wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void>
  /**
   * Waits for every run and returns their values in input order. Fails fast: with the first
   * failure in completion order (as `PrefectFuture.result`), without waiting for the others. With
   * `timeout`, fails with `WaitTimeoutError` when it passes first; retrieving the results counts.
   */
  result(options?: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure?: true
  }): Effect.Effect<Array<A>, E | ResultError>
  /**
   * With `raiseOnFailure: false`: waits for every run and returns their outcomes as `Exit`s, in
   * input order, instead of failing with the first failure.
   */
  result(options: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure: false
  }): Effect.Effect<
    Array<Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>>,
    Errors.UnfinishedRun | Errors.MissingResult | Errors.WaitTimeoutError
  >
}

/**
 * Makes a `PrefectFutureList` of futures (`PrefectFutureList.make(futures)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const PrefectFutureList: {
  /** A list of the given futures, in their order (duplicates kept). */
  readonly make: <A, E = never>(futures: Iterable<PrefectFuture<A, E>>) => PrefectFutureList<A, E>
} = { make: list.makeList }

/**
 * When `wait` returns: when all futures are done (the default), when any is done, or when any
 * ends in a state other than Completed (or all are done).
 *
 * @since 0.1.0
 * @category models
 */
export type ReturnWhen = "ALL_COMPLETED" | "FIRST_COMPLETED" | "FIRST_EXCEPTION"

/**
 * The futures that are done and those that are not, as named fields or as a pair.
 *
 * @since 0.1.0
 * @category models
 */
export type DoneAndNotDoneFutures<A, E = never> =
  & readonly [
    done: ReadonlySet<PrefectFuture<A, E>>,
    notDone: ReadonlySet<PrefectFuture<A, E>>
  ]
  & {
    /** The futures whose runs are done. */
    readonly done: ReadonlySet<PrefectFuture<A, E>>
    /** The futures whose runs were not done when `wait` returned. */
    readonly notDone: ReadonlySet<PrefectFuture<A, E>>
  }

/**
 * Waits for futures (duplicates removed) until `returnWhen` is met or `timeout` passes, and returns
 * which are done. Never fails on timeout. A run is done when its execution ended in any way
 * (Completed, Failed, Crashed, Cancelled, or NotReady when an upstream failed).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Futures, Task, TaskRunner } from "effect-taskflow"
 *
 * const slow = Task.make("slow-wait-example", (ms: number) => Effect.sleep(ms))
 *
 * const program = Effect.gen(function*() {
 *   const futures = yield* slow.map([10, 10_000])
 *   const { done, notDone } = yield* Futures.wait(futures, { timeout: "1 second" })
 *   return [done.size, notDone.size] // [1, 1]
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category waiting
 */
export const wait: {
  /**
   * Data-last `wait(options)(futures)`, for `pipe`: waits until `returnWhen` is met (`ALL_COMPLETED`
   * by default, `FIRST_COMPLETED`, `FIRST_EXCEPTION`) or `timeout` passes, and returns
   * `{ done, notDone }` (also `[done, notDone]`). Never fails.
   */
  (
    options?: { readonly timeout?: Duration.DurationInput; readonly returnWhen?: ReturnWhen }
  ): <A, E>(futures: Iterable<PrefectFuture<A, E>>) => Effect.Effect<DoneAndNotDoneFutures<A, E>>
  /**
   * Waits for `futures` (duplicates removed) until `returnWhen` is met (`ALL_COMPLETED` by default,
   * `FIRST_COMPLETED`, `FIRST_EXCEPTION`) or `timeout` passes, and returns `{ done, notDone }`
   * (also `[done, notDone]`). Never fails, also on timeout.
   */
  <A, E>(
    futures: Iterable<PrefectFuture<A, E>>,
    options?: { readonly timeout?: Duration.DurationInput; readonly returnWhen?: ReturnWhen }
  ): Effect.Effect<DoneAndNotDoneFutures<A, E>>
} = waiting.wait

/**
 * The futures as they finish: those already done first, then in completion order, each once. With
 * a `timeout` the stream fails with `WaitTimeoutError` ("<n> (of <m>) futures unfinished") when it
 * passes. Use `Stream.toAsyncIterable` for `for await`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
 * import { Futures, Task, TaskRunner } from "effect-taskflow"
 *
 * const sleepy = Task.make("sleepy-as-completed-example", (ms: number) => Effect.as(Effect.sleep(ms), ms))
 *
 * const program = Effect.gen(function*() {
 *   const futures = yield* sleepy.map([30, 10, 20])
 *   return yield* Futures.asCompleted(futures).pipe(
 *     Stream.mapEffect((future) => future.result()),
 *     Stream.runCollect
 *   ) // 10, 20, 30
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category waiting
 */
export const asCompleted: {
  /**
   * Data-last `asCompleted(options)(futures)`, for `pipe`: a `Stream` of the futures as they finish,
   * each once; with `timeout` it fails with `WaitTimeoutError` when that passes.
   */
  (
    options?: { readonly timeout?: Duration.DurationInput }
  ): <A, E>(futures: Iterable<PrefectFuture<A, E>>) => Stream.Stream<PrefectFuture<A, E>, Errors.WaitTimeoutError>
  /**
   * A `Stream` of `futures` as they finish: those already done first, then in completion order, each
   * once. With `timeout` it fails with `WaitTimeoutError` ("<n> (of <m>) futures unfinished") when
   * that passes. Consume it with `Stream.runForEach`, or `Stream.toAsyncIterable` for `for await`.
   */
  <A, E>(
    futures: Iterable<PrefectFuture<A, E>>,
    options?: { readonly timeout?: Duration.DurationInput }
  ): Stream.Stream<PrefectFuture<A, E>, Errors.WaitTimeoutError>
} = waiting.asCompleted

/**
 * A value that `resolveFuturesToStates`/`resolveFuturesToResults` (and task arguments) leave alone.
 *
 * @since 0.1.0
 * @category models
 */
export interface Quote<T> {
  readonly _tag: "Quote"
  /** The value, left as it is. */
  readonly value: T
}

/**
 * Marks a value not to be walked when resolving futures (a large structure, or futures to pass on
 * as they are).
 *
 * @since 0.1.0
 * @category constructors
 */
export const quote: <T>(value: T) => Quote<T> = annotations.quote

type Opaque =
  | string
  | number
  | boolean
  | bigint
  | symbol
  | null
  | undefined
  | Date
  | RegExp
  | ((...args: Array<any>) => any)

/**
 * `T` with every future replaced by its value; a PrefectFutureList becomes an Array.
 *
 * @since 0.1.0
 * @category models
 */
export type ResolvedResults<T> = T extends Opaque ? T
  : T extends Quote<any> ? T
  : T extends PrefectFutureList<infer A, any> ? Array<A>
  : T extends PrefectFuture<infer A, any> ? A
  : T extends Map<infer K, infer V> ? Map<ResolvedResults<K>, ResolvedResults<V>>
  : T extends ReadonlyMap<infer K, infer V> ? ReadonlyMap<ResolvedResults<K>, ResolvedResults<V>>
  : T extends Set<infer V> ? Set<ResolvedResults<V>>
  : T extends ReadonlySet<infer V> ? ReadonlySet<ResolvedResults<V>>
  : T extends ReadonlyArray<any> ? { [K in keyof T]: ResolvedResults<T[K]> }
  : T extends object ? { [K in keyof T]: ResolvedResults<T[K]> }
  : T

/**
 * `T` with every future replaced by its state.
 *
 * @since 0.1.0
 * @category models
 */
export type ResolvedStates<T> = T extends Opaque ? T
  : T extends Quote<any> ? T
  : T extends PrefectFutureList<infer A, infer E> ? Array<State.State<A, E>>
  : T extends PrefectFuture<infer A, infer E> ? State.State<A, E>
  : T extends Map<infer K, infer V> ? Map<ResolvedStates<K>, ResolvedStates<V>>
  : T extends ReadonlyMap<infer K, infer V> ? ReadonlyMap<ResolvedStates<K>, ResolvedStates<V>>
  : T extends Set<infer V> ? Set<ResolvedStates<V>>
  : T extends ReadonlySet<infer V> ? ReadonlySet<ResolvedStates<V>>
  : T extends ReadonlyArray<any> ? { [K in keyof T]: ResolvedStates<T[K]> }
  : T extends object ? { [K in keyof T]: ResolvedStates<T[K]> }
  : T

/**
 * The task errors (`E`) of every future reachable in `T`.
 *
 * @since 0.1.0
 * @category models
 */
export type FutureErrors<T> = T extends Opaque ? never
  : T extends Quote<any> ? never
  : T extends PrefectFutureList<any, infer E> ? E
  : T extends PrefectFuture<any, infer E> ? E
  : T extends ReadonlyMap<infer K, infer V> ? FutureErrors<K> | FutureErrors<V>
  : T extends ReadonlySet<infer V> ? FutureErrors<V>
  : T extends ReadonlyArray<infer V> ? FutureErrors<V>
  : T extends object ? { [K in keyof T]: FutureErrors<T[K]> }[keyof T]
  : never

/**
 * Waits for every future in `expr` (arrays, tuples, plain objects, Map keys and values, Sets, to any
 * depth; not inside `quote`) and returns the same shape with each future replaced by its state.
 * Input without futures comes back as the same object.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Futures, Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-resolve-states-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   const a = yield* double.submit(1)
 *   const { first } = yield* Futures.resolveFuturesToStates({ first: a })
 *   return first.type // "COMPLETED"
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category resolving
 */
export const resolveFuturesToStates: <T>(expr: T) => Effect.Effect<ResolvedStates<T>> = resolve.resolveFuturesToStates

/**
 * As `resolveFuturesToStates`, with each future replaced by its result. Fails with the first run
 * (in completion order) that did not complete: its own error, or `CancelledRun`, `CrashedRun`,
 * `UnfinishedRun` (NotReady) or `MissingResult`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Futures, Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-resolve-results-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   const a = yield* double.submit(1)
 *   const b = yield* double.submit(2)
 *   return yield* Futures.resolveFuturesToResults({ pair: [a, b], label: "sum" })
 *   // { pair: [2, 4], label: "sum" }
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category resolving
 */
export const resolveFuturesToResults: <T>(
  expr: T
) => Effect.Effect<
  ResolvedResults<T>,
  FutureErrors<T> | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult
> = resolve.resolveFuturesToResults
