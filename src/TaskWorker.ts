/**
 * Task workers execute `delay`ed task and flow runs from a `RunStore`, in this or any other process
 * or machine that shares the store. A worker claims Scheduled runs of the tasks and flows it serves
 * (each run by one worker at a time), runs them, writes their states and results, and keeps a lease
 * on them with heartbeats. A worker that dies (`kill -9`) is noticed when its lease expires: its
 * runs are retried where the task has retries left, else they end Crashed. Never lost, never run
 * twice at once.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Flow from "./Flow.js"
import * as internal from "./internal/worker/taskWorker.js"
import type * as RunStore from "./RunStore.js"
import type * as Task from "./Task.js"

/**
 * What a worker serves: tasks made with `Task.make` and flows made with `Flow.make` (`Task.Any`,
 * `Flow.Any`). Typed loosely, by their name, so that tasks typed against narrower interfaces are
 * accepted too; anything else dies with `IllegalArgumentException` when `serve` starts.
 *
 * @since 0.1.0
 * @category models
 */
export type Servable = Task.Any | Flow.Any | { readonly name: string }

/**
 * Options of `serve`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions {
  /** How many runs execute at once: a positive integer (default 10). */
  readonly concurrency?: number
  /**
   * How long a claimed run stays held without a heartbeat (default 30 seconds). A worker that could
   * not renew a run's lease for this long, less one `heartbeatInterval`, stops the run: once the
   * lease ends, another worker may run it. When the store answers again, the worker gives back
   * (Scheduled again) the runs it stopped and still holds.
   */
  readonly lease?: Duration.DurationInput
  /** How often leases are renewed and cancel requests read (default 1 second). */
  readonly heartbeatInterval?: Duration.DurationInput
  /** The slowest the worker polls for new runs when nothing is pushed to it (default 1 second). */
  readonly pollInterval?: Duration.DurationInput
  /**
   * On shutdown, how long running runs may finish before they are given back (default 10 seconds);
   * a second SIGINT or SIGTERM cuts it short.
   */
  readonly shutdownGracePeriod?: Duration.DurationInput
  /**
   * The worker's name in the store (default `host:pid:random`). It must be unique among the workers
   * that share a store: the store knows a worker's leases, and the runs it holds, by this name. It
   * must not start with `process:` (the name of a process holding its own runs): `serve` dies with
   * `IllegalArgumentException`.
   */
  readonly workerId?: string
}

/**
 * Serves the given tasks and flows from the `RunStore` until interrupted. On interruption (SIGINT
 * or SIGTERM under `NodeRuntime.runMain`, or a fiber interrupt) it stops claiming, lets running runs
 * finish within `shutdownGracePeriod`, and gives back the rest, Scheduled again for another worker.
 * A second SIGINT or SIGTERM while it waits gives them all back at once, and the process exits
 * (one more ends it as the signal would). A run given back is not a retry: it is not named Retrying
 * nor counted against its `retries`. Only a worker killed outright (`kill -9`) leaves its runs to
 * be recovered when their leases end.
 * A run's cancel request (`RunStore.cancelRun`, `Futures.cancel`) interrupts it here; it ends
 * Cancelled. A task a worker does not serve is never claimed by it: it stays Scheduled.
 *
 * The runs get the services provided around `serve`: `delay` does not require a task's `R`, so
 * provide what the served tasks and flows need around the worker (`serve(...).pipe(Effect.provide(
 * AppLive))`), or their runs fail with `Service not found`. No tasks, or a `concurrency` that is not a
 * positive integer, a negative duration, or a `workerId` starting with `process:`, dies at once with
 * `IllegalArgumentException`.
 *
 * With a tracer installed around the worker (`@effect/opentelemetry`), each run's span continues
 * the trace of the span that delayed it, read from the store: a `delay`'s or `flow.delay`'s run is
 * that span's child (a new trace linked to it when claimed more than a minute after it was
 * Scheduled), a `mapDelay`'s runs are new traces linked to it (see `Telemetry.TracingOptions`'
 * `join`). A run with no trace context starts a trace of its own: never one under the worker's
 * span. The worker's own work (claims, polls, heartbeats, recovery) makes no spans. It records
 * `Telemetry.scheduleDelay` at each claim, `Telemetry.crashesRecovered` for the runs its recovery
 * ends Crashed, and `Telemetry.runsScheduled` per served name every 10 seconds.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import * as Effect from "effect/Effect"
 * import { RunStore, Task, TaskWorker } from "effect-taskflow"
 *
 * const double = Task.make("double-worker-example", (n: number) => Effect.succeed(n * 2))
 *
 * TaskWorker.serve([double], { concurrency: 50 }).pipe(
 *   Effect.provide(RunStore.sqlite({ filename: ".taskflow/runs.db" })),
 *   NodeRuntime.runMain
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const serve: (
  tasks: ReadonlyArray<Servable>,
  options?: ServeOptions
) => Effect.Effect<never, never, RunStore.RunStore> = internal.serve
