/**
 * Flows: effectful functions whose calls are recorded flow runs. A flow provides its own
 * `TaskRunner` to its body, resolves the futures in its return value, and cancels the task runs it
 * left running when it returns (with one warning naming them).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Errors from "./Errors.js"
import type * as Futures from "./Futures.js"
import * as currentRun from "./internal/core/currentRunId.js"
import * as internal from "./internal/flow/flow.js"
import type * as RunStore from "./RunStore.js"
import type { TimeoutErrorOf } from "./Task.js"
import type * as TaskRunner from "./TaskRunner.js"
import type * as Telemetry from "./Telemetry.js"

/**
 * Options of `Flow.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FlowOptions {
  /** Unique among tasks and flows. */
  readonly name: string
  /**
   * The runner the flow's task runs use; `TaskRunner.concurrent()` when not given. Each flow run
   * builds it and releases it when it ends. A runner that fails to build (a worker pool whose module
   * does not load) makes the flow run Crashed, and the call fails with `CrashedRun`.
   */
  readonly taskRunner?: Layer.Layer<TaskRunner.TaskRunner, unknown>
  /**
   * A run that exceeds it is interrupted (its task runs are cancelled) and ends Failed named TimedOut;
   * the call fails with `TaskTimeoutError`, which a `timeout` adds to the flow's `E`.
   */
  readonly timeout?: Duration.DurationInput
  /** How many times a failed flow run is run again (default 0). */
  readonly retries?: number
  /** How long to wait before each retry (default none). */
  readonly retryDelay?: Duration.DurationInput
  /** Recorded with each flow run (`RunRecord.tags`). */
  readonly tags?: ReadonlyArray<string>
  /**
   * Encodes the arguments of `delay` (a tuple Schema) for the run store. Without it they are stored
   * as plain data (JSON, Date, Map, Set, bigint, typed arrays, undefined, Errors); anything else is
   * refused with `SerializationError`.
   */
  readonly parameters?: Schema.Schema<any, any, never>
  /**
   * Encodes the flow's value (futures resolved) for the run store, e.g. `Schema.Array(Invoice)` for
   * a flow that returns `Schema.Class` instances: without it a value that is not plain data fails
   * the run with `SerializationError` when it is stored.
   */
  readonly success?: Schema.Schema<any, any, never>
  /** Encodes the typed failure for the run store. */
  readonly failure?: Schema.Schema<any, any, never>
  /** Keep the result in the run store (default true); see `Task.TaskOptions.persistResult`. */
  readonly persistResult?: boolean
  /** How the flow's runs appear in traces; see `Task.TaskOptions.tracing`. */
  readonly tracing?: Telemetry.TracingOptions
}

/**
 * A flow whose body takes `Args`, returns `A` (futures in it are resolved), fails with `E` and
 * needs `R` (less the `TaskRunner`, which the flow provides).
 *
 * @since 0.1.0
 * @category models
 */
export interface Flow<Args extends ReadonlyArray<any>, A, E = never, R = never> {
  /**
   * Runs the flow as a recorded flow run. Its state follows Prefect: Completed when the body
   * succeeds and every future it returned completed; Failed ("k/n states failed.") or Cancelled
   * otherwise, and the call fails with the first such future's error.
   */
  (
    ...args: Args
  ): Effect.Effect<
    Futures.ResolvedResults<A>,
    E | Futures.FutureErrors<A> | Errors.CancelledRun | Errors.CrashedRun | Errors.UnfinishedRun | Errors.MissingResult,
    Exclude<R, TaskRunner.TaskRunner>
  >
  /** The flow's name: unique among tasks and flows, it finds the flow on task workers. */
  readonly name: string
  /**
   * Schedules a flow run in the `RunStore` for a task worker serving the flow, and returns a future
   * that follows it. (Task workers come with the SQL run store; until one serves the flow the run
   * stays Scheduled.) Arguments follow `Task.delay`'s rule: one that cannot be stored exactly fails
   * this call with a `SerializationError` naming it (give the flow a `parameters` Schema), a store
   * that fails fails it with `RunStoreError`.
   */
  delay(
    ...args: Args
  ): Effect.Effect<
    Futures.PrefectFlowRunFuture<Futures.ResolvedResults<A>, E>,
    Errors.RunStoreError | Errors.SerializationError,
    RunStore.RunStore
  >
}

/**
 * Any flow, whatever its arguments, value, error and requirements.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Flow<any, any, any, any>

/**
 * Defines a flow. Like tasks, names are unique (`DuplicateTaskName` otherwise) and follow the
 * same rules (`InvalidTaskName` otherwise).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Flow, Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-flow-example", (n: number) => Effect.succeed(n * 2))
 *
 * const pipeline = Flow.make(
 *   { name: "pipeline-flow-example", taskRunner: TaskRunner.concurrent({ maxConcurrency: 8 }) },
 *   (xs: ReadonlyArray<number>) =>
 *     Effect.gen(function*() {
 *       const futures = yield* double.map(xs)
 *       return futures // resolved to [2, 4, 6] when the flow returns
 *     })
 * )
 *
 * const program = pipeline([1, 2, 3])
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  /**
   * Defines a flow with options: `name` (unique among tasks and flows), `taskRunner` (the layer its
   * task runs use, built per flow run; `TaskRunner.concurrent()` by default), `timeout`, `retries`,
   * `retryDelay` and `tags`. Calling the flow is a recorded flow run whose value is the body's
   * return value with futures resolved; task runs it left running are cancelled when it returns.
   *
   * `Flow.make({ name: "pipeline", taskRunner: TaskRunner.concurrent({ maxConcurrency: 8 }) }, body)`
   */
  <Args extends ReadonlyArray<any>, A, E = never, R = never, const O extends FlowOptions = FlowOptions>(
    options: O,
    fn: (...args: Args) => Effect.Effect<A, E, R>
  ): Flow<Args, A, E | TimeoutErrorOf<O>, R>
  /**
   * Defines a flow named `name` (unique among tasks and flows; a second definition throws
   * `DuplicateTaskName`) whose body is `fn`, on `TaskRunner.concurrent()`. Calling the flow is a
   * recorded flow run whose value is the body's return value with futures resolved; task runs it
   * left running are cancelled when it returns. `flow.delay(...)` schedules it for a task worker.
   *
   * `Flow.make("pipeline", (xs: ReadonlyArray<number>) => double.map(xs))`
   */
  <Args extends ReadonlyArray<any>, A, E = never, R = never>(
    name: string,
    fn: (...args: Args) => Effect.Effect<A, E, R>
  ): Flow<Args, A, E, R>
} = internal.make as any

/**
 * Whether a value is a flow.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFlow: (u: unknown) => u is Any = internal.isFlow

/**
 * The id of the flow run the current fiber works for: in the flow's own body, and in its task runs
 * (in this process, or on a task worker running a run the flow delayed); `None` outside any flow.
 * Lines logged in a flow run carry it as the annotation `taskflow.flow_run_id`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Flow } from "effect-taskflow"
 *
 * const pipeline = Flow.make("current-flow-run-example", () =>
 *   Effect.gen(function*() {
 *     const flowRunId = yield* Flow.currentRunId // Option.some(<this flow run's id>)
 *     yield* Effect.log("starting") // recorded with the flow run
 *     return flowRunId
 *   }))
 * ```
 * @since 0.1.0
 * @category getters
 */
export const currentRunId: Effect.Effect<Option.Option<string>> = currentRun.currentFlowRunIdOption
