/**
 * What effect-taskflow tells your tracing and metrics: every task and flow run is an Effect span
 * (`task-run <name>`, `flow-run <name>`), and the metrics below are Effect `Metric`s. Export both
 * with `@effect/opentelemetry` (see the README's "Tracing and metrics"); nothing here loads an
 * OpenTelemetry SDK. With no tracer installed (Effect's default one), runs make no spans.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * How a task's or flow's runs appear in traces (the `tracing` option of `Task.make` and `Flow.make`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "effect-taskflow"
 *
 * // Each delayed run starts a trace of its own, linked to the span that delayed it.
 * const resize = Task.make({ name: "resize", tracing: { join: "link" } }, (url: string) => Effect.succeed(url))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TracingOptions {
  /**
   * How a run a task worker starts (`delay`, `mapDelay`, `flow.delay`) joins the trace of the span
   * that delayed it: `"parent"` as its child, `"link"` as a new trace linked to it, `"none"` as a new
   * trace with no link (the trace context is not stored). `"auto"` (the default): a `delay` is a
   * child unless the run starts long after it was scheduled; the runs of a `mapDelay` are linked.
   */
  readonly join?: "auto" | "parent" | "link" | "none"
  /**
   * Record the run's arguments on its span as `taskflow.run.parameters` (JSON, cut short when long).
   * Off by default: arguments may hold what a trace backend should not keep.
   */
  readonly recordParameters?: boolean
}

/**
 * The attribute names of run spans and metrics.
 *
 * @since 0.1.0
 * @category attributes
 */
export const Attributes = {
  runId: "taskflow.run.id",
  runKind: "taskflow.run.kind",
  runName: "taskflow.run.name",
  flowRunId: "taskflow.flow_run.id",
  runTags: "taskflow.run.tags",
  parameters: "taskflow.run.parameters",
  attempt: "taskflow.run.attempt",
  stateType: "taskflow.state.type",
  stateName: "taskflow.state.name",
  errorType: "error.type",
  /** On `taskflow.wait` spans (waits on several futures): how many futures the wait was on. */
  waitCount: "taskflow.wait.count",
  /** On `taskflow.wait` spans: how many of its futures were done when the wait ended. */
  waitDone: "taskflow.wait.done",
  /** On `taskflow.wait` spans: how many of its futures were not done when the wait ended (a timeout). */
  waitNotDone: "taskflow.wait.not_done",
  /**
   * On the run's span (its attempt's, with retries) of a worker-pool run whose body started more spans
   * than its thread keeps (10,000): how many it did not keep.
   */
  spansDropped: "taskflow.spans.dropped"
} as const

/** Seconds, from 1 ms to about 70 minutes. */
const secondsBoundaries = MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 12 })

/**
 * Runs that reached a final state, tagged `taskflow.run.kind`, `taskflow.run.name` and
 * `taskflow.state.type` (COMPLETED, FAILED, CRASHED, CANCELLED). A run that never ran because an
 * upstream run did not complete (NotReady) is counted too, with `taskflow.state.type` PENDING (its
 * last state in this process), and has no `runDuration`.
 *
 * Taskflow's run metrics carry only these tags: labels added with Effect's `Effect.tagMetrics` are
 * not added to them. A run is counted by the process (and thread) that ran it: inline task calls
 * made inside a worker-pool task's body are counted in that thread's own metrics, which nothing
 * exports (their spans do reach the main thread).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const completedReports = Metric.value(
 *   Telemetry.runsEnded.pipe(
 *     Metric.tagged("taskflow.run.kind", "task"),
 *     Metric.tagged("taskflow.run.name", "report"),
 *     Metric.tagged("taskflow.state.type", "COMPLETED")
 *   )
 * ).pipe(Effect.map((state) => state.count))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const runsEnded = Metric.counter("taskflow.runs.ended", {
  description: "Task and flow runs that reached a final state",
  incremental: true
})

/**
 * Retries started (an attempt after the first), tagged `taskflow.run.kind` and `taskflow.run.name`:
 * counted as the attempt starts, not when a stopped run's next attempt is skipped. As `runsEnded`:
 * no `Effect.tagMetrics` labels, and inline calls inside a worker-pool body are not exported.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const retriesOfFetch = Metric.value(Telemetry.retries.pipe(Metric.tagged("taskflow.run.name", "fetch")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Metric.counter("taskflow.run.retries", {
  description: "Attempts of task and flow runs after their first",
  incremental: true
})

/**
 * Runs a store ended Crashed because their holder's lease expired (a worker or process died),
 * counted by the process whose sweep recovered them, tagged `taskflow.run.kind`.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const recovered = Metric.value(Telemetry.crashesRecovered)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const crashesRecovered = Metric.counter("taskflow.runs.crashes_recovered", {
  description: "Runs ended Crashed after their holder's lease expired",
  incremental: true
})

/**
 * How long runs took, first Running to final state, in seconds; tagged `taskflow.run.kind`,
 * `taskflow.run.name` and `taskflow.state.type`. A run that never ran (cancelled while it waited,
 * or NotReady) is counted in `runsEnded` but has no duration.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const durations = Metric.value(Telemetry.runDuration)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const runDuration = Metric.histogram(
  "taskflow.run.duration",
  secondsBoundaries,
  "Seconds from a run's first Running to its final state"
)

/**
 * How long runs waited from Scheduled to Running (on a task worker: until claimed), in seconds;
 * tagged `taskflow.run.kind` and `taskflow.run.name`. On a task worker it compares the clock of the
 * process that delayed the run (the Scheduled time) with the worker's (the claim): a skew between
 * hosts shifts it, and a negative wait counts as 0.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const waits = Metric.value(Telemetry.scheduleDelay)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const scheduleDelay = Metric.histogram(
  "taskflow.run.schedule_delay",
  secondsBoundaries,
  "Seconds a run waited from Scheduled to Running"
)

/**
 * Scheduled runs in a task worker's store, per name the worker serves (`taskflow.run.name`),
 * read by the worker about every 10 seconds, and set to 0 when it stops. A name's count stops at
 * 10,000 (read it as "10,000 or more"): the read must stay cheap however large the backlog. Every
 * worker serving a name reports the same backlog: aggregate it across workers with max, not sum.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Telemetry } from "effect-taskflow"
 *
 * const backlog = Metric.value(Telemetry.runsScheduled.pipe(Metric.tagged("taskflow.run.name", "resize")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const runsScheduled = Metric.gauge("taskflow.runs.scheduled", {
  description: "Scheduled runs in the store, per task or flow name a task worker serves"
})
