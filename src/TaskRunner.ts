/**
 * Where submitted task runs execute. `TaskRunner.concurrent` runs each on a fiber of this
 * process; other runners (worker threads) implement the same service. Runners are Layers: a flow
 * provides its own, and releasing the layer cancels the runs it still holds.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type { ResourceLimits } from "node:worker_threads"
import type { WorkerPoolError } from "./Errors.js"
import * as internal from "./internal/runner/taskRunner.js"
import * as workerPoolInternal from "./internal/runner/workerPool.js"
import type * as RunStore from "./RunStore.js"

/**
 * What a runner is, as its service (`yield* TaskRunner.TaskRunner`). Tasks reach it through
 * `submit` and `map`; a program rarely reads it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** "concurrent", "workerPool", … */
  readonly kind: string
  /** The most runs executing at once; `undefined` when unbounded. */
  readonly maxConcurrency: number | undefined
  /**
   * Where this runner records its runs: the `RunStore` in context when it was built, else its own
   * memory store, which keeps every unfinished run and the newest 10,000 finished ones (a runner
   * that lives as long as its process then holds bounded memory).
   */
  readonly store: RunStore.Service
}

/**
 * The task runner service.
 *
 * @since 0.1.0
 * @category tags
 */
export const TaskRunner: typeof internal.TaskRunner = internal.TaskRunner

/**
 * The task runner service's type: what `submit` and `map` require, and what
 * `TaskRunner.concurrent()` and `TaskRunner.workerPool(...)` provide.
 *
 * @since 0.1.0
 * @category tags
 */
export type TaskRunner = internal.TaskRunner

/**
 * Runs each task run on its own fiber. Unbounded by default; with `maxConcurrency` at most that
 * many run bodies execute at once, and a run gives its slot up while it waits on futures, so a
 * task that waits on runs it submitted cannot deadlock the runner. A `maxConcurrency` that is not
 * a positive integer dies with `IllegalArgumentException`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Task, TaskRunner } from "effect-taskflow"
 *
 * const square = Task.make("square-runner-example", (n: number) => Effect.succeed(n * n))
 *
 * const program = Effect.gen(function*() {
 *   const futures = yield* square.map([1, 2, 3, 4])
 *   return yield* futures.result() // [1, 4, 9, 16]
 * }).pipe(Effect.provide(TaskRunner.concurrent({ maxConcurrency: 2 })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const concurrent: (options?: { readonly maxConcurrency?: number }) => Layer.Layer<TaskRunner> =
  internal.concurrent

/**
 * Options of `TaskRunner.workerPool`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerPoolOptions {
  /** How many worker threads run task runs (one run per thread at a time). */
  readonly size: number
  /**
   * The module that defines the tasks (a URL, or a path resolved from the working directory).
   * Every thread imports it and finds tasks by name, so it must define them at its top level.
   */
  readonly module: URL | string
  /**
   * How long a cancelled run's thread may take to stop on its own (its fiber is interrupted)
   * before the thread is terminated and replaced. Default 1 second.
   */
  readonly interruptGracePeriod?: Duration.DurationInput
  /** How long the threads may take to load `module`. Default 30 seconds. */
  readonly startupTimeout?: Duration.DurationInput
  /** Heap limits of each thread; a thread that exceeds them dies and its run is Crashed. */
  readonly resourceLimits?: ResourceLimits
}

/**
 * Runs task runs on `size` worker threads, for CPU-bound tasks. `submit` and `map` return the same
 * `PrefectConcurrentFuture`s as the concurrent runner, with the same retries, timeouts, states and
 * store records: only the body of each run executes on a thread.
 *
 * - Tasks are found by name in `module`, which every thread imports. Arguments and results cross
 *   with the task's `parameters`/`success`/`failure` Schemas, or as structured-clone data (an Error,
 *   at any depth, arrives as a store keeps it: an Error with the same name, message, `_tag` and
 *   fields). A value that cannot cross fails the run at once with `SerializationError`;
 *   a name the module does not define fails it with `UnknownTask`.
 * - Cancellation is real: the run's fiber in the thread is interrupted; a thread that does not
 *   stop within `interruptGracePeriod` (a synchronous loop) is terminated and replaced.
 * - A thread that dies (`process.exit`, out of heap, an error outside the task) makes its run
 *   Crashed; the pool replaces it and the other runs carry on.
 * - The layer fails with `WorkerPoolError` when `module` does not load or no thread is ready within
 *   `startupTimeout`. Tasks on a pool cannot require services (`R` must be `never`).
 *
 * @example
 * ```ts
 * // tasks.ts: the module every thread imports
 * import * as Effect from "effect/Effect"
 * import { Task } from "effect-taskflow"
 *
 * const fibonacci = (n: number): number => (n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2))
 * export const fib = Task.make("fib-pool-example", (n: number) => Effect.sync(() => fibonacci(n)))
 *
 * // main.ts
 * import * as Effect from "effect/Effect"
 * import { TaskRunner } from "effect-taskflow"
 * import { fib } from "./tasks.js"
 *
 * const program = Effect.gen(function*() {
 *   const futures = yield* fib.map([30, 31, 32, 33])
 *   return yield* futures.result()
 * }).pipe(Effect.provide(TaskRunner.workerPool({ size: 2, module: new URL("./tasks.js", import.meta.url) })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const workerPool: (options: WorkerPoolOptions) => Layer.Layer<TaskRunner, WorkerPoolError> =
  workerPoolInternal.workerPool
