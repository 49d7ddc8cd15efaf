/**
 * Where submitted task runs execute. `TaskRunner.concurrent` runs each on a fiber of this
 * process; other runners (worker threads) implement the same service. Runners are Layers: a flow
 * provides its own, and releasing the layer cancels the runs it still holds.
 *
 * @since 0.1.0
 */
import type { Layer } from "effect"
import * as internal from "./internal/taskRunner.js"
import type * as RunStore from "./RunStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** "concurrent", "workerPool", … */
  readonly kind: string
  /** The most runs executing at once; `undefined` when unbounded. */
  readonly maxConcurrency: number | undefined
  /** Where this runner records its runs: the `RunStore` in context when it was built, else its own memory store. */
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
 * import { Effect } from "effect"
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
