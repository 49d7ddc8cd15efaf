/**
 * Tasks: effectful functions whose calls are recorded task runs. Call a task to run it inline,
 * `submit` it to the `TaskRunner` for a future, `map` it over iterables for a list of futures, or
 * `delay` it for a task worker.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Errors from "./Errors.js"
import type * as Futures from "./Futures.js"
import * as annotations from "./internal/core/annotations.js"
import * as currentRun from "./internal/core/currentRunId.js"
import * as internal from "./internal/task/task.js"
import type * as RunStore from "./RunStore.js"
import type * as TaskRunner from "./TaskRunner.js"
import type * as Telemetry from "./Telemetry.js"

/**
 * Options of `Task.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskOptions {
  /** Unique among tasks and flows: it identifies the task across threads and processes. */
  readonly name: string
  /** How many times a failed run is run again (default 0). */
  readonly retries?: number
  /** How long to wait before each retry (default none). */
  readonly retryDelay?: Duration.DurationInput
  /** A run that exceeds it is interrupted and ends Failed named TimedOut (then retried, if it has retries). */
  readonly timeout?: Duration.DurationInput
  /** Recorded with each run (`RunRecord.tags`). */
  readonly tags?: ReadonlyArray<string>
  /**
   * Encodes the arguments (as a tuple, e.g. `Schema.Tuple(Schema.Number)`) where they cross threads
   * or processes. Without it arguments cross as plain data (JSON, Date, Map, Set, bigint, typed
   * arrays, undefined, Errors); anything else (a class instance, a function, …) is refused with
   * `SerializationError`.
   */
  readonly parameters?: Schema.Schema<any, any, never>
  /** Encodes the value for the run store and other processes. */
  readonly success?: Schema.Schema<any, any, never>
  /** Encodes the typed failure for the run store and other processes. */
  readonly failure?: Schema.Schema<any, any, never>
  /**
   * Keep the result in the run store (default true). When false, a distributed or flow-run future
   * of the run fails `result()` with `MissingResult`; in-process futures still hold the value.
   */
  readonly persistResult?: boolean
  /** How the task's runs appear in traces (default: `join: "auto"`, arguments not recorded). */
  readonly tracing?: Telemetry.TracingOptions
}

/**
 * A static argument of `map`: passed whole to every run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Unmapped<T> {
  readonly _tag: "Unmapped"
  /** The argument passed whole to every run. */
  readonly value: T
}

/**
 * An upstream allowed to fail: the task runs anyway and receives the upstream's error as the value.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllowFailure<T> {
  readonly _tag: "AllowFailure"
  /** The upstream future, or a value with futures inside. */
  readonly value: T
}

/**
 * Marks a `map` argument as static (not iterated).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Task } from "effect-taskflow"
 *
 * const add = Task.make("add-unmapped-example", (a: number, b: number) => Effect.succeed(a + b))
 * const futures = add.map([1, 2, 3], Task.unmapped(10)) // runs add(1, 10), add(2, 10), add(3, 10)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const unmapped: <T>(value: T) => Unmapped<T> = annotations.unmapped

/**
 * Lets a run start even if this upstream future (or the futures inside this value) did not
 * complete: the task receives the upstream's error in its place (its typed failure or defect,
 * `CrashedRun`, `CancelledRun`, or `UpstreamTaskError` for a NotReady upstream).
 *
 * @since 0.1.0
 * @category constructors
 */
export const allowFailure: <T>(value: T) => AllowFailure<T> = annotations.allowFailure

/**
 * The id of the run whose body is executing: the task run (inline, submitted, on a worker thread or
 * on a task worker), or the flow run in a flow's own body; `None` outside any run. What the run logs
 * with Effect's `Logger` carries it too, as the annotation `taskflow.run_id`, and is recorded with
 * the run (`RunStore.Service.getLogs`).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Option from "effect/Option"
 * import { Task } from "effect-taskflow"
 *
 * const whoAmI = Task.make("who-am-i-example", () =>
 *   Effect.gen(function*() {
 *     const runId = yield* Task.currentRunId
 *     yield* Effect.log("working") // recorded with the run, annotated taskflow.run_id
 *     return Option.getOrElse(runId, () => "outside a run")
 *   }))
 * ```
 * @since 0.1.0
 * @category getters
 */
export const currentRunId: Effect.Effect<Option.Option<string>> = currentRun.currentRunId

/**
 * A parameter given as its value, a future of it, or wrapped in `allowFailure`.
 *
 * @since 0.1.0
 * @category models
 */
export type SubmitArg<P> = P | Futures.PrefectFuture<P, any> | AllowFailure<any>

/**
 * The arguments of `submit` and `delay`: each parameter as a `SubmitArg`.
 *
 * @since 0.1.0
 * @category models
 */
export type SubmitArgs<Args extends ReadonlyArray<any>> = { [K in keyof Args]: SubmitArg<Args[K]> }

/**
 * A `map` parameter: an iterable (elements may be futures), a future of an iterable, a static
 * value in `unmapped`, or any of these in `allowFailure`. Other non-iterable values are static too.
 *
 * @since 0.1.0
 * @category models
 */
export type MapArg<P> =
  | Iterable<SubmitArg<P>>
  | Futures.PrefectFuture<Iterable<P>, any>
  | Unmapped<SubmitArg<P>>
  | AllowFailure<any>

/**
 * The arguments of `map` and `mapDelay`: each parameter as a `MapArg`.
 *
 * @since 0.1.0
 * @category models
 */
export type MapArgs<Args extends ReadonlyArray<any>> = { [K in keyof Args]: MapArg<Args[K]> }

/**
 * Overrides for `task.with(...)`, plus `waitFor`: futures the run waits for before it starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface WithOptions {
  /** Another name for the runs (unique among tasks and flows, as for `Task.make`). */
  readonly name?: string
  /** How many times a failed run is run again. */
  readonly retries?: number
  /** How long to wait before each retry. */
  readonly retryDelay?: Duration.DurationInput
  /** A run that exceeds it ends Failed named TimedOut (then is retried, if it has retries). */
  readonly timeout?: Duration.DurationInput
  /** Recorded with each run (`RunRecord.tags`). */
  readonly tags?: ReadonlyArray<string>
  /** Futures each run waits for before it starts; their values are not passed to it. */
  readonly waitFor?: ReadonlyArray<Futures.PrefectFuture<any, any> | AllowFailure<any>>
}

/**
 * A task whose body takes `Args`, succeeds with `A`, fails with `E` and needs `R`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Task<Args extends ReadonlyArray<any>, A, E = never, R = never> {
  /** Runs the task inline, in the calling fiber, as a recorded task run; fails with its own error. */
  (...args: Args): Effect.Effect<A, E, R>
  /** The task's name: unique among tasks and flows, it finds the task on other threads and processes. */
  readonly name: string
  /**
   * Starts a run on the `TaskRunner` and returns its future. Futures among the arguments (at any
   * depth) are awaited by the run and replaced by their results; if one did not complete the run
   * ends Pending named NotReady and never runs (unless it is in `allowFailure`).
   */
  submit(
    ...args: SubmitArgs<Args>
  ): Effect.Effect<Futures.PrefectConcurrentFuture<A, E>, never, R | TaskRunner.TaskRunner>
  /**
   * One run per position of the iterable arguments (zipped), each submitted to the `TaskRunner`, as
   * a `PrefectFutureList` in input order. Static arguments go in `Task.unmapped(x)`; elements may be
   * futures, and an argument may be a future of an iterable (see `MapArg`). Iterables of different
   * lengths fail with `MappingLengthMismatch`, no iterable at all with `MappingMissingIterable`.
   */
  map(
    ...args: MapArgs<Args>
  ): Effect.Effect<
    Futures.PrefectFutureList<A, E>,
    Errors.MappingLengthMismatch | Errors.MappingMissingIterable,
    R | TaskRunner.TaskRunner
  >
  /**
   * The same task (the same body) with other options (`name`, `retries`, `retryDelay`, `timeout`,
   * `tags`) for the runs started from it, or with `waitFor`: futures its runs wait for before they
   * start (a run whose `waitFor` future did not complete ends Pending named NotReady, unless it is in
   * `allowFailure`). A new `name` is registered as `Task.make` registers one, so workers and pools
   * find this task by it: a name another task or flow already has throws `DuplicateTaskName` (the
   * same body may take the same new name again). A name or tag that breaks the name rules throws
   * `InvalidTaskName`, invalid options `IllegalArgumentException`, as in `make`. Setting `timeout` adds `TaskTimeoutError` to `E` (see `TimeoutErrorOf`).
   */
  with<const O extends WithOptions>(options: O): Task<Args, A, E | TimeoutErrorOf<O>, R>
  /**
   * Schedules a run in the `RunStore` for a task worker (`TaskWorker.serve`) to execute, and returns
   * a future that follows it by id from any process. Futures among the arguments are waited for
   * here and replaced by their results (a future cannot be stored); an upstream that did not
   * complete makes the run Pending named NotReady. Until a worker serves the task, the run stays
   * Scheduled.
   *
   * Arguments cross to the worker exactly or not at all: without a `parameters` Schema, plain JSON
   * and `Date`, `Map`, `Set`, `bigint`, typed arrays, `undefined`, `NaN`/`±Infinity`/`-0` and Errors
   * are carried exactly; a value that is not (a function, a symbol, a class instance, a cyclic
   * value, …) fails this call with a `SerializationError` naming the argument and the place inside
   * it, and no run is created. A store that fails fails it with `RunStoreError`.
   */
  delay(
    ...args: SubmitArgs<Args>
  ): Effect.Effect<
    Futures.PrefectDistributedFuture<A, E>,
    Errors.RunStoreError | Errors.SerializationError,
    RunStore.RunStore
  >
  /**
   * `map` for task workers (Prefect's `map(deferred=True)`): one run per position, all scheduled in
   * the `RunStore` in one batch, as a list of distributed futures. Arguments follow `delay`'s rule:
   * one that cannot be stored exactly fails the call with `SerializationError` and no run is created.
   */
  mapDelay(
    ...args: MapArgs<Args>
  ): Effect.Effect<
    Futures.PrefectFutureList<A, E>,
    | Errors.MappingLengthMismatch
    | Errors.MappingMissingIterable
    | Errors.RunStoreError
    | Errors.SerializationError,
    RunStore.RunStore
  >
}

/**
 * Any task, whatever its arguments, value, error and requirements.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Task<any, any, any, any>

/**
 * Defines a task. The name must be unique among tasks and flows: a second definition throws
 * `DuplicateTaskName`. A name must be 1 to 200 characters of well-formed Unicode without control
 * characters, each tag 1 to 100 (they travel in store rows and PostgreSQL notifications): any other
 * throws `InvalidTaskName`, saying what is wrong. Invalid options (negative `retries`; a negative, `NaN` or unreadable `timeout`
 * or `retryDelay`) throw `IllegalArgumentException`. A `timeout` adds `TaskTimeoutError` to the
 * task's `E` (see `TimeoutErrorOf`). `submit` and `map` with no `TaskRunner` in context die with a
 * message saying to provide one (`TaskRunner.concurrent()`) or to run in a flow.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-make-example", (n: number) => Effect.succeed(n * 2))
 * const flaky = Task.make(
 *   { name: "flaky-make-example", retries: 3, retryDelay: "1 second", timeout: "10 seconds", tags: ["io"] },
 *   (url: string) => Effect.succeed(url.length)
 * )
 *
 * const program = Effect.gen(function*() {
 *   const inline = yield* double(21) // 42, recorded as a task run
 *   const future = yield* double.submit(inline) // runs on the TaskRunner
 *   const chained = yield* double.submit(future) // waits for `future`, passes its result
 *   return yield* chained.result() // 168
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  /**
   * Defines a task named `name` (unique among tasks and flows; a second definition throws
   * `DuplicateTaskName`) whose body is `fn`. Call the task to run it inline, `submit` it for a
   * future, `map` it over iterables, or `delay` it for a task worker; every call is a recorded run.
   *
   * `Task.make("double", (n: number) => Effect.succeed(n * 2))`
   */
  <Args extends ReadonlyArray<any>, A, E = never, R = never>(
    name: string,
    fn: (...args: Args) => Effect.Effect<A, E, R>
  ): Task<Args, A, E, R>
  /**
   * Defines a task with options: `name` (unique among tasks and flows), `retries` and `retryDelay`,
   * `timeout` (a run that exceeds it ends Failed named TimedOut, then is retried if it has retries
   * left), `tags`, the `parameters`/`success`/`failure` Schemas that carry values across threads
   * and processes, and `persistResult`. Invalid options (negative `retries`, a negative `timeout`)
   * throw `IllegalArgumentException`.
   *
   * `Task.make({ name: "fetch", retries: 3, retryDelay: "1 second", timeout: "10 seconds" }, fetchUrl)`
   */
  <Args extends ReadonlyArray<any>, A, E = never, R = never, const O extends TaskOptions = TaskOptions>(
    options: O,
    fn: (...args: Args) => Effect.Effect<A, E, R>
  ): Task<Args, A, E | TimeoutErrorOf<O>, R>
} = internal.make as any

/**
 * The error a `timeout` adds to a task's or flow's `E`: `TaskTimeoutError` when the options given
 * to `make` or `with` set `timeout`, else `never`. A run that exceeds its timeout ends Failed named
 * TimedOut and its inline call, `result()` and `State.result` fail with `TaskTimeoutError` (typed,
 * so `Effect.either`, `catchAll` and `catchTag` see it). Options typed as a whole `TaskOptions`
 * (whose `timeout` may be absent) add nothing: `result()` still lists `TaskTimeoutError` in
 * `Futures.ResultError`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import type { Errors } from "effect-taskflow"
 * import { Task } from "effect-taskflow"
 *
 * const slow = Task.make({ name: "slow-timeout-of-example", timeout: "1 second" }, () => Effect.never)
 * // The inline call fails with TaskTimeoutError when the run exceeds 1 second.
 * const call: Effect.Effect<never, Errors.TaskTimeoutError> = slow()
 * ```
 * @since 0.1.0
 * @category models
 */
export type TimeoutErrorOf<O> = O extends { readonly timeout: unknown } ? Errors.TaskTimeoutError : never

/**
 * Whether a value is a task.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTask: (u: unknown) => u is Any = internal.isTask
