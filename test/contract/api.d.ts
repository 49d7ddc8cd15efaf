// A copy of the project's API contract (shared/api.d.ts), renamed so the type test can compare the
// library against it. Keep it in step with the shared file.
/**
 * The public API contract of "effect-taskflow": the names and types that users and tests rely on.
 * The library's own exported types must be usable exactly as written here (it may add more).
 * Comments marked "Decided:" record choices made where Prefect's Python API had no direct equivalent.
 */
declare module "effect-taskflow-contract" {
  import type { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"

  // ---------------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------------
  export namespace State {
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

    /** `name` defaults to the capitalised type; the named variants DESIGN.md lists are these. */
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

    interface Base<T extends StateType> {
      readonly type: T
      // Decided: `name` is typed as a plain string (the list above is documentation, not a closed union).
      readonly name: string
      // Decided: `message` is optional text, `undefined` when the run set none.
      readonly message: string | undefined
      // Decided: `timestamp` is a JavaScript Date (DESIGN.md names the field, not its type).
      readonly timestamp: Date
    }

    export interface Scheduled extends Base<"SCHEDULED"> {}
    export interface Pending extends Base<"PENDING"> {}
    export interface Running extends Base<"RUNNING"> {}
    export interface Paused extends Base<"PAUSED"> {}
    export interface Cancelling extends Base<"CANCELLING"> {}
    export interface Cancelled extends Base<"CANCELLED"> {}
    /** "Completed carries the value". */
    export interface Completed<A> extends Base<"COMPLETED"> {
      // Decided: the field is called `value`.
      readonly value: A
    }
    /** "Failed and Crashed carry a Cause". */
    export interface Failed<E> extends Base<"FAILED"> {
      // Decided: the field is called `cause`.
      readonly cause: Cause.Cause<E>
    }
    export interface Crashed extends Base<"CRASHED"> {
      readonly cause: Cause.Cause<unknown>
    }

    // Decided: `State<A, E>` is a union discriminated by `type`.
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

    // Guards. `isFinal` is true for Completed, Failed, Crashed and Cancelled only.
    export const isFinal: <A, E>(self: State<A, E>) => self is Completed<A> | Failed<E> | Crashed | Cancelled
    export const isCompleted: <A, E>(self: State<A, E>) => self is Completed<A>
    export const isFailed: <A, E>(self: State<A, E>) => self is Failed<E>
    export const isCrashed: <A, E>(self: State<A, E>) => self is Crashed
    export const isCancelled: <A, E>(self: State<A, E>) => self is Cancelled
    export const isPending: <A, E>(self: State<A, E>) => self is Pending
    export const isRunning: <A, E>(self: State<A, E>) => self is Running
    export const isScheduled: <A, E>(self: State<A, E>) => self is Scheduled
    export const isPaused: <A, E>(self: State<A, E>) => self is Paused

    // Decided: the constructors are named after the types and take an optional name/message.
    export interface ConstructorOptions {
      readonly name?: string
      readonly message?: string
    }
    export const scheduled: (options?: ConstructorOptions) => Scheduled
    export const pending: (options?: ConstructorOptions) => Pending
    export const running: (options?: ConstructorOptions) => Running
    export const completed: <A>(value: A, options?: ConstructorOptions) => Completed<A>
    export const failed: <E>(cause: Cause.Cause<E>, options?: ConstructorOptions) => Failed<E>
    export const crashed: (cause: Cause.Cause<unknown>, options?: ConstructorOptions) => Crashed
    export const cancelled: (options?: ConstructorOptions) => Cancelled
    export const paused: (options?: ConstructorOptions) => Paused
    export const cancelling: (options?: ConstructorOptions) => Cancelling

    // Decided: `State.result` mirrors Prefect's `State.result()` and `PrefectFuture.result` (same two
    // overloads), and is an Effect because a persisted result may have to be read from the store.
    export const result: {
      <A, E>(
        self: State<A, E>,
        options?: { readonly raiseOnFailure?: true }
      ): Effect.Effect<A, E | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult>
      <A, E>(
        self: State<A, E>,
        options: { readonly raiseOnFailure: false }
      ): Effect.Effect<Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>, Errors.UnfinishedRun | Errors.MissingResult>
    }

    // Decided: the encoded side of `State.schema` is left opaque (`unknown`).
    export const schema: <A, I, E, EI>(
      success: Schema.Schema<A, I, never>,
      failure: Schema.Schema<E, EI, never>
    ) => Schema.Schema<State<A, E>, unknown, never>
  }

  // ---------------------------------------------------------------------------------------------
  // Errors (all Schema.TaggedErrors)
  // ---------------------------------------------------------------------------------------------
  export namespace Errors {
    // Decided: every error carries at least a `message: string` field; WaitTimeoutError's message is
    // exactly one of the three Prefect messages DESIGN.md quotes.
    type MessageFields<Tag extends string> = {
      readonly _tag: Schema.tag<Tag>
      readonly message: typeof Schema.String
    }

    const WaitTimeoutError_base: Schema.TaggedErrorClass<WaitTimeoutError, "WaitTimeoutError", MessageFields<"WaitTimeoutError">>
    export class WaitTimeoutError extends WaitTimeoutError_base {}

    const CancelledRun_base: Schema.TaggedErrorClass<CancelledRun, "CancelledRun", MessageFields<"CancelledRun">>
    export class CancelledRun extends CancelledRun_base {}

    const CrashedRun_base: Schema.TaggedErrorClass<CrashedRun, "CrashedRun", MessageFields<"CrashedRun">>
    export class CrashedRun extends CrashedRun_base {}

    const UnfinishedRun_base: Schema.TaggedErrorClass<UnfinishedRun, "UnfinishedRun", MessageFields<"UnfinishedRun">>
    export class UnfinishedRun extends UnfinishedRun_base {}

    const MissingResult_base: Schema.TaggedErrorClass<MissingResult, "MissingResult", MessageFields<"MissingResult">>
    export class MissingResult extends MissingResult_base {}

    const UpstreamTaskError_base: Schema.TaggedErrorClass<UpstreamTaskError, "UpstreamTaskError", MessageFields<"UpstreamTaskError">>
    export class UpstreamTaskError extends UpstreamTaskError_base {}

    const MappingLengthMismatch_base: Schema.TaggedErrorClass<
      MappingLengthMismatch,
      "MappingLengthMismatch",
      MessageFields<"MappingLengthMismatch">
    >
    export class MappingLengthMismatch extends MappingLengthMismatch_base {}

    const MappingMissingIterable_base: Schema.TaggedErrorClass<
      MappingMissingIterable,
      "MappingMissingIterable",
      MessageFields<"MappingMissingIterable">
    >
    export class MappingMissingIterable extends MappingMissingIterable_base {}

    // Decided (turn 2): a task timeout is a typed failure that `result()` reports, the run still
    // Failed named TimedOut; store and serialisation failures of `delay` are typed too.
    const TaskTimeoutError_base: Schema.TaggedErrorClass<TaskTimeoutError, "TaskTimeoutError", MessageFields<"TaskTimeoutError">>
    export class TaskTimeoutError extends TaskTimeoutError_base {}

    const RunStoreError_base: Schema.TaggedErrorClass<RunStoreError, "RunStoreError", MessageFields<"RunStoreError">>
    export class RunStoreError extends RunStoreError_base {}

    const SerializationError_base: Schema.TaggedErrorClass<SerializationError, "SerializationError", MessageFields<"SerializationError">>
    export class SerializationError extends SerializationError_base {}

    const RunNotFound_base: Schema.TaggedErrorClass<RunNotFound, "RunNotFound", MessageFields<"RunNotFound">>
    export class RunNotFound extends RunNotFound_base {}
  }

  // ---------------------------------------------------------------------------------------------
  // Futures
  // ---------------------------------------------------------------------------------------------
  export namespace Futures {
    /** The errors `result()` adds to the task's own `E` (DESIGN.md's interface). */
    export type ResultError =
      | Errors.CancelledRun
      | Errors.CrashedRun
      | Errors.UnfinishedRun
      | Errors.MissingResult
      | Errors.WaitTimeoutError
      | Errors.TaskTimeoutError

    export interface PrefectFuture<A, E = never> {
      readonly taskRunId: string
      readonly state: Effect.Effect<State.State<A, E>>
      /** Never fails; returns on timeout. */
      wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void>
      result(options?: {
        readonly timeout?: Duration.DurationInput
        readonly raiseOnFailure?: true
      }): Effect.Effect<A, E | ResultError>
      result(options: {
        readonly timeout?: Duration.DurationInput
        readonly raiseOnFailure: false
      }): Effect.Effect<
        Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>,
        Errors.UnfinishedRun | Errors.MissingResult | Errors.WaitTimeoutError
      >
      // Decided: a callback may fail or die; that is logged and never stalls waits or other callbacks.
      addDoneCallback(fn: (future: PrefectFuture<A, E>) => Effect.Effect<void, unknown> | void): Effect.Effect<void>
    }

    /** The base with `taskRunId`/`state`. */
    export interface PrefectTaskRunFuture<A, E = never> extends PrefectFuture<A, E> {}

    // Decided: the wrapped thing's type is a parameter of PrefectWrappedFuture.
    export interface PrefectWrappedFuture<A, E = never, W = unknown> extends PrefectTaskRunFuture<A, E> {
      readonly wrappedFuture: W
    }

    // Decided: a concurrent future wraps an Effect Fiber; what that fiber yields (the run's State,
    // or the task's value) is left open, so only "it is a Fiber" is pinned here.
    export interface PrefectConcurrentFuture<A, E = never> extends PrefectWrappedFuture<A, E, Fiber.Fiber<unknown, unknown>> {}

    export interface PrefectDistributedFuture<A, E = never> extends PrefectTaskRunFuture<A, E> {}
    export namespace PrefectDistributedFuture {
      // Decided: `make` is an Effect needing RunStore and does not check that the id exists
      // (an unknown run reads as Pending, as in Prefect); A and E are chosen by the caller.
      const make: <A = unknown, E = unknown>(
        taskRunId: string
      ) => Effect.Effect<PrefectDistributedFuture<A, E>, never, RunStore.RunStore>
    }

    // Decided: a flow-run future is a PrefectFuture (so it also has `taskRunId`, equal to the flow run id).
    export interface PrefectFlowRunFuture<A, E = never> extends PrefectFuture<A, E> {
      readonly flowRunId: string
    }
    export namespace PrefectFlowRunFuture {
      const make: <A = unknown, E = unknown>(flowRunId: string) => Effect.Effect<PrefectFlowRunFuture<A, E>, never, RunStore.RunStore>
    }

    // Decided: `fromFiber` is effectful (it draws a UUID and observes the fiber), so it returns an
    // Effect.
    export const fromFiber: <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.Effect<PrefectFuture<A, E>>

    export interface PrefectFutureList<A, E = never> extends Iterable<PrefectFuture<A, E>> {
      readonly length: number
      // Decided: `at` behaves like Array.prototype.at (negative indices, undefined when out of range).
      at(index: number): PrefectFuture<A, E> | undefined
      readonly futures: ReadonlyArray<PrefectFuture<A, E>>
      wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void>
      result(options?: {
        readonly timeout?: Duration.DurationInput
        readonly raiseOnFailure?: true
      }): Effect.Effect<Array<A>, E | ResultError>
      result(options: {
        readonly timeout?: Duration.DurationInput
        readonly raiseOnFailure: false
      }): Effect.Effect<
        Array<Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun>>,
        Errors.UnfinishedRun | Errors.MissingResult | Errors.WaitTimeoutError
      >
    }
    export namespace PrefectFutureList {
      // Decided: DESIGN.md names no constructor; by analogy with PrefectDistributedFuture.make this
      // is `PrefectFutureList.make(futures)`, pure.
      const make: <A, E = never>(futures: Iterable<PrefectFuture<A, E>>) => PrefectFutureList<A, E>
    }

    export type ReturnWhen = "ALL_COMPLETED" | "FIRST_COMPLETED" | "FIRST_EXCEPTION"

    // Decided: "also destructurable as [done, notDone]" is typed as a readonly pair that also has
    // the two named fields.
    export type DoneAndNotDoneFutures<A, E = never> = readonly [
      done: ReadonlySet<PrefectFuture<A, E>>,
      notDone: ReadonlySet<PrefectFuture<A, E>>
    ] & {
      readonly done: ReadonlySet<PrefectFuture<A, E>>
      readonly notDone: ReadonlySet<PrefectFuture<A, E>>
    }

    export const wait: <A, E>(
      futures: Iterable<PrefectFuture<A, E>>,
      options?: { readonly timeout?: Duration.DurationInput; readonly returnWhen?: ReturnWhen }
    ) => Effect.Effect<DoneAndNotDoneFutures<A, E>>

    export const asCompleted: <A, E>(
      futures: Iterable<PrefectFuture<A, E>>,
      options?: { readonly timeout?: Duration.DurationInput }
    ) => Stream.Stream<PrefectFuture<A, E>, Errors.WaitTimeoutError>

    // Decided: `quote(x)` returns an opaque wrapper that keeps `x` as `value`.
    export interface Quote<T> {
      readonly _tag: "Quote"
      readonly value: T
    }
    export const quote: <T>(value: T) => Quote<T>

    type Opaque = string | number | boolean | bigint | symbol | null | undefined | Date | RegExp | ((...args: Array<any>) => any)

    // Decided: the computed types. A top-level or nested PrefectFutureList becomes a plain Array
    // (Prefect's #21220 fix); a Quote is returned as it was; Map/Set/array/tuple/record keep their shape.
    export type ResolvedResults<T> =
      T extends Opaque ? T
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

    export type ResolvedStates<T> =
      T extends Opaque ? T
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

    /** The task errors (`E`) of every future reachable in `T`. */
    export type FutureErrors<T> =
      T extends Opaque ? never
      : T extends Quote<any> ? never
      : T extends PrefectFutureList<any, infer E> ? E
      : T extends PrefectFuture<any, infer E> ? E
      : T extends ReadonlyMap<infer K, infer V> ? FutureErrors<K> | FutureErrors<V>
      : T extends ReadonlySet<infer V> ? FutureErrors<V>
      : T extends ReadonlyArray<infer V> ? FutureErrors<V>
      : T extends object ? { [K in keyof T]: FutureErrors<T[K]> }[keyof T]
      : never

    export const resolveFuturesToStates: <T>(expr: T) => Effect.Effect<ResolvedStates<T>>

    // Decided: "fails if any future did not complete" fails with that future's own error or with
    // the result() error for a run that did not complete (Cancelled, Crashed, NotReady).
    export const resolveFuturesToResults: <T>(
      expr: T
    ) => Effect.Effect<
      ResolvedResults<T>,
      FutureErrors<T> | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult
    >
  }

  // ---------------------------------------------------------------------------------------------
  // Task
  // ---------------------------------------------------------------------------------------------
  export namespace Task {
    export interface TaskOptions {
      readonly name: string
      readonly retries?: number
      readonly retryDelay?: Duration.DurationInput
      readonly timeout?: Duration.DurationInput
      readonly tags?: ReadonlyArray<string>
      // Decided: the schemas are not tied to the body's types at the type level.
      readonly success?: Schema.Schema<any, any, never>
      readonly failure?: Schema.Schema<any, any, never>
      // Decided: results are kept in the run store unless this is false; a distributed or flow-run
      // future of a run that kept none fails its result() with MissingResult.
      readonly persistResult?: boolean
    }

    // Decided: the annotation wrappers are opaque values; only their constructors are public.
    export interface Unmapped<T> {
      readonly _tag: "Unmapped"
      readonly value: T
    }
    export interface AllowFailure<T> {
      readonly _tag: "AllowFailure"
      readonly value: T
    }
    export const unmapped: <T>(value: T) => Unmapped<T>
    export const allowFailure: <T>(value: T) => AllowFailure<T>

    // Decided: a parameter may be given as its value, a future of it, or (loosely typed) wrapped in
    // allowFailure, in which case the task receives the upstream's error in place of the value.
    export type SubmitArg<P> = P | Futures.PrefectFuture<P, any> | AllowFailure<any>
    export type SubmitArgs<Args extends ReadonlyArray<any>> = { [K in keyof Args]: SubmitArg<Args[K]> }

    // Decided: `map` takes, per parameter, an iterable (whose elements may be futures), a future of
    // an iterable, `Task.unmapped(x)` for a static value, or `Task.allowFailure(...)` of any of these.
    export type MapArg<P> =
      | Iterable<SubmitArg<P>>
      | Futures.PrefectFuture<Iterable<P>, any>
      | Unmapped<SubmitArg<P>>
      | AllowFailure<any>
    export type MapArgs<Args extends ReadonlyArray<any>> = { [K in keyof Args]: MapArg<Args[K]> }

    // Decided: `with` overrides the task's options (all optional) and adds `waitFor`.
    export interface WithOptions {
      readonly name?: string
      readonly retries?: number
      readonly retryDelay?: Duration.DurationInput
      readonly timeout?: Duration.DurationInput
      readonly tags?: ReadonlyArray<string>
      readonly waitFor?: ReadonlyArray<Futures.PrefectFuture<any, any> | AllowFailure<any>>
    }

    export interface Task<Args extends ReadonlyArray<any>, A, E = never, R = never> {
      /** Runs inline as a recorded task run. */
      // Decided: an inline call takes plain arguments and fails with the task's own E.
      (...args: Args): Effect.Effect<A, E, R>
      readonly name: string
      // Decided: the body's requirements R are the caller's to provide, next to TaskRunner.
      submit(...args: SubmitArgs<Args>): Effect.Effect<Futures.PrefectConcurrentFuture<A, E>, never, R | TaskRunner.TaskRunner>
      map(
        ...args: MapArgs<Args>
      ): Effect.Effect<
        Futures.PrefectFutureList<A, E>,
        Errors.MappingLengthMismatch | Errors.MappingMissingIterable,
        R | TaskRunner.TaskRunner
      >
      with(options: WithOptions): Task<Args, A, E, R>
      delay(
        ...args: SubmitArgs<Args>
      ): Effect.Effect<Futures.PrefectDistributedFuture<A, E>, Errors.RunStoreError | Errors.SerializationError, RunStore.RunStore>
    }

    export type Any = Task<any, any, any, any>

    export const make: {
      <Args extends ReadonlyArray<any>, A, E = never, R = never>(
        name: string,
        fn: (...args: Args) => Effect.Effect<A, E, R>
      ): Task<Args, A, E, R>
      <Args extends ReadonlyArray<any>, A, E = never, R = never>(
        options: TaskOptions,
        fn: (...args: Args) => Effect.Effect<A, E, R>
      ): Task<Args, A, E, R>
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flow
  // ---------------------------------------------------------------------------------------------
  export namespace Flow {
    export interface FlowOptions {
      readonly name: string
      // Decided: optional; a flow without one uses TaskRunner.concurrent().
      readonly taskRunner?: Layer.Layer<TaskRunner.TaskRunner>
      readonly timeout?: Duration.DurationInput
      readonly retries?: number
      readonly retryDelay?: Duration.DurationInput
    }

    export interface Flow<Args extends ReadonlyArray<any>, A, E = never, R = never> {
      // Decided: futures in the return value are resolved to their results (the flow's value is
      // `ResolvedResults<A>`), and the flow provides its own TaskRunner.
      (
        ...args: Args
      ): Effect.Effect<
        Futures.ResolvedResults<A>,
        E | Futures.FutureErrors<A> | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult,
        Exclude<R, TaskRunner.TaskRunner>
      >
      readonly name: string
      // Decided: DESIGN.md says a TaskWorker serves "tasks and flows" and names PrefectFlowRunFuture,
      // but pins no way to create a deferred flow run; this mirrors `Task.delay`.
      delay(
        ...args: Args
      ): Effect.Effect<Futures.PrefectFlowRunFuture<Futures.ResolvedResults<A>, E>, Errors.RunStoreError | Errors.SerializationError, RunStore.RunStore>
    }

    export type Any = Flow<any, any, any, any>

    export const make: {
      <Args extends ReadonlyArray<any>, A, E = never, R = never>(
        options: FlowOptions,
        fn: (...args: Args) => Effect.Effect<A, E, R>
      ): Flow<Args, A, E, R>
      // Decided: like Task.make, a bare name is accepted too.
      <Args extends ReadonlyArray<any>, A, E = never, R = never>(
        name: string,
        fn: (...args: Args) => Effect.Effect<A, E, R>
      ): Flow<Args, A, E, R>
    }
  }

  // ---------------------------------------------------------------------------------------------
  // TaskRunner
  // ---------------------------------------------------------------------------------------------
  export namespace TaskRunner {
    // Decided: the service's shape is the library's to design; users reach it through submit/map.
    export interface Service {
      readonly kind: string
    }
    const TaskRunner_base: Context.TagClass<TaskRunner, "effect-taskflow/TaskRunner", Service>
    export class TaskRunner extends TaskRunner_base {}

    /** Default unbounded. */
    export const concurrent: (options?: { readonly maxConcurrency?: number }) => Layer.Layer<TaskRunner>
    // Decided: worker threads load the module that exports the tasks (its URL) and find them by name.
    export const workerPool: (options: {
      readonly size: number
      readonly module: URL | string
    }) => Layer.Layer<TaskRunner, unknown, unknown>
  }

  // ---------------------------------------------------------------------------------------------
  // RunStore
  // ---------------------------------------------------------------------------------------------
  export namespace RunStore {
    export interface Service {
      readonly kind: string
    }
    const RunStore_base: Context.TagClass<RunStore, "effect-taskflow/RunStore", Service>
    export class RunStore extends RunStore_base {}

    export const memory: Layer.Layer<RunStore>
    // Decided: the SQL layers' error types (SqlError, ConfigError) are left as unknown here.
    export const sqlite: (options: { readonly filename: string }) => Layer.Layer<RunStore, unknown>
    export const postgres: (options: { readonly url: string }) => Layer.Layer<RunStore, unknown>
  }

  // ---------------------------------------------------------------------------------------------
  // TaskWorker
  // ---------------------------------------------------------------------------------------------
  export namespace TaskWorker {
    // Decided: `serve` is an Effect that serves until interrupted (SIGTERM or fiber interruption).
    export const serve: (
      tasks: ReadonlyArray<Task.Any | Flow.Any>,
      options?: { readonly concurrency?: number }
    ) => Effect.Effect<never, never, RunStore.RunStore>
  }
}
