import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as TaskWorker from "../../TaskWorker.js"
import * as Telemetry from "../../Telemetry.js"
import { currentFlowRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import * as state_ from "../core/state.js"
import { cancel, executeTaskRun, record } from "../engine/engine.js"
import type { FlowDefinition } from "../flow/flow.js"
import { executeFlowRun, flowDefinition, isFlow } from "../flow/flow.js"
import { RunCell } from "../run/runCell.js"
import { isTask, taskDefinition } from "../task/task.js"
import { root as spanRoot } from "../telemetry/spanParent.js"
import { workerSpanParent } from "../telemetry/traceContext.js"
import type { HeldRuns } from "./heldRuns.js"

/** The definitions a worker serves, by name; anything but a task or a flow is refused. */
export const servedDefinitions = (
  tasks: ReadonlyArray<TaskWorker.Servable>
): Map<string, TaskDefinition | FlowDefinition> => {
  const definitions = new Map<string, TaskDefinition | FlowDefinition>()
  for (const task of tasks) {
    if (!isFlow(task) && !isTask(task)) {
      throw new Cause.IllegalArgumentException(
        `TaskWorker.serve takes tasks and flows made with Task.make or Flow.make, got ${String(task)}`
      )
    }
    const def = isFlow(task) ? flowDefinition(task) : taskDefinition(task)
    definitions.set(def.name, def)
  }
  return definitions
}

/** Starts a claimed run; `claimSentAt` is when its claim, which took its first lease, was sent (monotonic ms). */
export type StartRun = (run: RunStore_.ClaimedRun, claimSentAt: number) => void

/**
 * What starts claimed runs: each on a fiber of its own forked from `runFork` (the serving fiber's
 * runtime: its services, logger and settings), held in `held` until its fiber is over.
 */
export const runStarter = (options: {
  readonly definitions: ReadonlyMap<string, TaskDefinition | FlowDefinition>
  readonly held: HeldRuns
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  /** The flow run id the serving fiber has (none, unless served inside a flow): runs of other flows set theirs. */
  readonly servingFlowRunId: string | undefined
}): StartRun => {
  const { definitions, held, runFork, servingFlowRunId } = options
  // One tagged histogram per served name, made once: no metric key per run.
  const scheduleDelays = new Map(
    Array.from(definitions.values(), (def) => [
      def.name,
      Telemetry.scheduleDelay.pipe(
        Metric.tagged(Telemetry.Attributes.runKind, def.kind),
        Metric.tagged(Telemetry.Attributes.runName, def.name)
      )
    ])
  )
  /**
   * How long the run waited, Scheduled to claimed, as the store recorded both (the Scheduled time by
   * the clock of the process that delayed it, the claim by this worker's: a skew between the two
   * shifts it; a negative wait counts as none).
   */
  const recordScheduleDelay = (run: RunStore_.ClaimedRun): Effect.Effect<void> => {
    const histogram = scheduleDelays.get(run.name)
    if (histogram === undefined) return Effect.void
    const waited = Math.max(0, run.state.timestamp.getTime() - run.scheduledAt.getTime())
    return Metric.update(histogram, waited / 1000)
  }

  /**
   * A claimed run of a name this worker does not serve (a store that changed the name on the way,
   * as a lone surrogate becomes U+FFFD, or a store that returned what was not asked for): no body can
   * run it, and giving it back would have it claimed again. It ends Failed, saying so, with an
   * `UnknownTask` defect, and the worker goes on with its other runs.
   */
  const notServed = (run: RunStore_.ClaimedRun, cell: RunCell<unknown, unknown>): Effect.Effect<unknown> => {
    const served = Array.from(definitions.keys(), (name) => JSON.stringify(name)).slice(0, 10).join(", ")
    const message = `Run ${run.id} is of task ${JSON.stringify(run.name)}, which this task worker does not serve ` +
      `(it serves ${served}${definitions.size > 10 ? ", …" : ""}): no body can run it here.`
    const error = new Errors.UnknownTask({ taskName: run.name, message })
    return Effect.zipRight(
      Effect.logWarning(`Task worker: claimed a run it does not serve; failing it. ${message}`),
      record(held.store, cell, (timestamp) => state_.failed(Cause.die(error), { timestamp, message }))
    )
  }

  /** A claimed run's body; `cell` is its state here. */
  const execute = (run: RunStore_.ClaimedRun, cell: RunCell<unknown, unknown>): Effect.Effect<unknown> => {
    const def = definitions.get(run.name)
    if (def === undefined) return notServed(run, cell)
    if (Either.isLeft(run.parameters)) {
      const error = run.parameters.left
      return record(
        held.store,
        cell,
        (timestamp) => state_.failed(Cause.die(error), { timestamp, message: error.message })
      )
    }
    const args = run.parameters.right
    // The claim recorded this attempt's Running (and took its run count).
    const claimed = run.runCount
    // Under (or linked to) the span that delayed the run, else a trace of its own: never the
    // worker's span, which the runtime the run is forked from may carry.
    const spanParent = run.traceContext === undefined
      ? spanRoot
      : workerSpanParent(run.traceContext, def.tracing.join, run.scheduledAt, run.state.timestamp.getTime())
    if (def.kind === "flow") {
      const flowRun = executeFlowRun(def as FlowDefinition, run.id, held.store, args, run.state, claimed, spanParent)
      return Effect.exit(flowRun) as Effect.Effect<unknown>
    }
    // The run has its fiber to itself: its task run id is set on it once.
    const body = executeTaskRun({
      def,
      cell,
      store: held.store,
      args,
      waitFor: [],
      ownFiber: true,
      claimed,
      spanParent
    })
    // A task that requires services a worker cannot provide fails its run; it cannot reach here typed.
    return (run.flowRunId === servingFlowRunId
      ? body
      : Effect.locally(body, currentFlowRunId, run.flowRunId)) as Effect.Effect<unknown>
  }

  // Synchronous, so nothing interrupts a start halfway. The fiber runs at once until it first waits
  // (a no-op task, until its final state is queued). A run this worker lost and claimed again while
  // its old fiber is still ending starts once that one has ended: the old one's end would otherwise
  // clear the new claim's bookkeeping (no heartbeat, no fence), and both would run.
  // A deferred start's lease runs from its latest renewal, if later than the claim.
  return (run, claimSentAt) =>
    held.startAfterEarlierClaim(run.id, (renewedAt) => start(run, Math.max(claimSentAt, renewedAt ?? claimSentAt)))

  function start(run: RunStore_.ClaimedRun, claimSentAt: number): void {
    held.claimed(run.id, run.name, claimSentAt, run.runCount)
    const cell = new RunCell<unknown, unknown>(run.id, run.name, run.state)
    const fiber = runFork(Effect.zipRight(recordScheduleDelay(run), execute(run, cell)))
    held.track(run.id, fiber)
    fiber.addObserver((exit) => {
      // An interrupted task run (a cancel, a lost lease, shutdown) is recorded Cancelled once its
      // fiber is over, while the worker still holds it (a released run's write is dropped). Here, not
      // in every run's fiber: interruptions are rare. (A flow run records its own.)
      if (
        Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) && !state_.isFinal(cell.state) &&
        definitions.get(run.name)?.kind !== "flow"
      ) {
        runFork(Effect.ensuring(cancel(held.store, cell), Effect.sync(() => held.ended(run.id))))
      } else {
        held.ended(run.id)
      }
    })
  }
}
