import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Flow from "../../Flow.js"
import type * as RunStore_ from "../../RunStore.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { register } from "../core/registry.js"
import { makeRunId } from "../core/runId.js"
import * as state_ from "../core/state.js"
import type { AnyState } from "../core/state.js"
import { endUnfinished, executeAttempts, record, RunCrashed } from "../engine/engine.js"
import { flowRunFuture } from "../futures/future.js"
import { collectFutures, resolveFuturesToResults } from "../futures/resolve.js"
import { RunCell } from "../run/runCell.js"
import { concurrent, runnerInternal, TaskRunner } from "../runner/taskRunner.js"
import { makeMemory } from "../store/memory/memoryStore.js"
import { RunStore } from "../store/runStore.js"
import { createDeferred, makeDefinition } from "../task/task.js"
import { startRunSpan } from "../telemetry/runSpan.js"
import type { RunSpanParent } from "../telemetry/spanParent.js"
import { current, tracingOn } from "../telemetry/spanParent.js"
import type { TraceContext } from "../telemetry/traceContext.js"
import { captureTraceContext } from "../telemetry/traceContext.js"

/** @internal */
export const FlowTypeId: unique symbol = Symbol.for("effect-taskflow/Flow")

/** @internal */
export interface FlowDefinition extends TaskDefinition {
  readonly taskRunner: Layer.Layer<TaskRunner, unknown> | undefined
}

/** The body returned futures that did not all complete: the flow ends in `state` and fails with `cause`. */
class ReturnedFailure {
  constructor(readonly state: AnyState, readonly cause: Cause.Cause<unknown>) {}
}

/**
 * Resolves the futures in a flow's return value. When one did not complete, the flow's state
 * follows Prefect's `return_value_to_state`: Cancelled if one was cancelled, else Failed
 * ("k/n states failed.").
 */
const resolveReturnValue = (value: unknown): Effect.Effect<unknown, ReturnedFailure> => {
  const futures = Array.from(collectFutures(value))
  if (futures.length === 0) return Effect.succeed(value)
  return Effect.catchAllCause(resolveFuturesToResults(value), (cause) =>
    Effect.clockWith((clock) => {
      const states = futures.map((future) => future.unsafeDone()!)
      const notCompleted = states.filter((state) => state.type !== "COMPLETED").length
      const counts = `${notCompleted}/${states.length}`
      // Stamped by the Effect clock, as the engine's states are (the run's span ends there).
      const timestamp = state_.timestampAt(clock.unsafeCurrentTimeMillis())
      const state = states.some(state_.isCancelled)
        ? state_.cancelled({ message: `${counts} states cancelled.`, timestamp })
        : state_.failed(cause, { message: `${counts} states failed.`, timestamp })
      return Effect.fail(new ReturnedFailure(state, cause))
    }))
}

/** The task runs of a flow run's latest attempt that did not complete, in the order they ended. */
interface Unsuccessful {
  runs: ReadonlyArray<RunCell<any, any>>
}

/**
 * The first of a flow's task runs that failed or crashed (a NotReady or Cancelled run is a
 * consequence, not a cause), named with its task, id, state and reason; else the first that did
 * not complete.
 */
const firstFailure = (runs: ReadonlyArray<RunCell<any, any>>): string | undefined => {
  const ended = runs.filter((run) => run.done !== undefined)
  const first = ended.find((run) => run.done!.type === "FAILED" || run.done!.type === "CRASHED") ?? ended[0]
  return first === undefined
    ? undefined
    : `The first task run to fail: '${first.name}' (${first.id}) is ${state_.describeEnd(first.done!)}`
}

/** A Failed flow state that names the first of its task runs that failed, and why. */
const withFirstFailure = (state: AnyState, runs: ReadonlyArray<RunCell<any, any>>): AnyState => {
  if (state.type !== "FAILED" || state.name === "TimedOut") return state
  const first = firstFailure(runs)
  if (first === undefined) return state
  return state_.failed(state.cause, {
    name: state.name,
    timestamp: state.timestamp,
    message: state.message === undefined ? first : `${state.message} ${first}`
  })
}

/** One attempt: build the runner, run the body, resolve its return value, release the runner. */
const runBody = (
  def: FlowDefinition,
  flowRunId: string,
  store: RunStore_.Service,
  args: ReadonlyArray<unknown>,
  unsuccessfulRuns: Unsuccessful
) =>
  Effect.scoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const runnerContext = yield* Layer.buildWithScope(def.taskRunner ?? concurrent(), scope).pipe(
      Effect.provideService(RunStore, store),
      // A runner that cannot start (a worker pool whose module fails to load) crashes the flow run.
      Effect.catchAll((error) =>
        Effect.die(
          new RunCrashed(
            `The task runner of flow run '${def.name}' (${flowRunId}) could not start: ${
              error instanceof Error ? error.message : String(error)
            }`
          )
        )
      )
    )
    const unsuccessful = runnerInternal(Context.get(runnerContext, TaskRunner)).keepUnsuccessful()
    unsuccessfulRuns.runs = unsuccessful
    const value = yield* def.fn(...args).pipe(
      Effect.provide(runnerContext),
      Effect.provideService(RunStore, store),
      Effect.locally(currentFlowRunId, flowRunId),
      Effect.locally(currentTaskRunId, undefined)
    )
    // Futures in the return value are resolved before the runner cancels what is left.
    const resolved = yield* resolveReturnValue(value)
    const runs = unsuccessful.filter((run) => !run.outcomeRead)
    if (runs.length > 0) {
      yield* Effect.logWarning(
        `Flow run '${def.name}' (${flowRunId}) completed, but ${runs.length} of its task runs did not: ` +
          runs.slice(0, 10).map((run) => `'${run.name}' (${run.id}) ${state_.describe(run.state)}`).join("; ") +
          (runs.length > 10 ? ` and ${runs.length - 10} more` : "") +
          ". Nothing read their results, so they do not fail the flow; return their futures or call result() to make them count."
      )
    }
    return resolved
  }))

const callFlow = (def: FlowDefinition, args: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const store = Option.getOrElse(yield* Effect.serviceOption(RunStore), () => makeMemory(undefined, false))
    const id = makeRunId()
    const pending = state_.pending()
    const create = Effect.orDie(store.createRun({
      id,
      kind: "flow",
      name: def.name,
      flowRunId: yield* FiberRef.get(currentFlowRunId),
      parentTaskRunId: yield* FiberRef.get(currentTaskRunId),
      parameters: args,
      tags: def.tags,
      retries: def.retries,
      state: pending
    }))
    const cell = new RunCell<any, any>(id, def.name, pending)
    // A run created (held here, on a SQL store) is run, or ended Cancelled, whenever the caller is
    // interrupted: never left held with nothing to run or end it.
    return yield* Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        create,
        Effect.onExit(restore(runFlow(def, cell, store, args, undefined, current)), endUnfinished(store, cell))
      )
    )
  })

/**
 * Executes a flow run that exists in `store` (in `initial` state): attempts, return-value
 * resolution, the final state. Succeeds with the flow's value, or fails as the flow did.
 * @internal
 */
export const executeFlowRun = (
  def: FlowDefinition,
  id: string,
  store: RunStore_.Service,
  args: ReadonlyArray<unknown>,
  initial: AnyState,
  claimed: number | undefined,
  /**
   * Where the run's span hangs (a task worker: under or linked to the span that delayed it);
   * undefined: under the span current where it executes (unlike `TaskRun.spanParent`).
   */
  spanParent?: RunSpanParent
) => runFlow(def, new RunCell<any, any>(id, def.name, initial), store, args, claimed, spanParent ?? current)

/** `executeFlowRun` on the run's cell. */
const runFlow = (
  def: FlowDefinition,
  cell: RunCell<any, any>,
  store: RunStore_.Service,
  args: ReadonlyArray<unknown>,
  claimed: number | undefined,
  spanParent: RunSpanParent
) =>
  Effect.gen(function*() {
    const id = cell.id
    yield* startFlowSpan(def, cell, args, spanParent)
    const unsuccessful: Unsuccessful = { runs: [] }
    const attempts = yield* executeAttempts(def, cell, store, runBody(def, id, store, args, unsuccessful), {
      claimed
    }).pipe(
      Effect.onInterrupt(() => record(store, cell, (timestamp) => state_.cancelled({ timestamp })))
    )
    // A body that returned failed futures ends in the state their resolution gave.
    const returned = attempts.type === "FAILED" ? Cause.failureOption(attempts.cause) : Option.none()
    const final = withFirstFailure(
      Option.isSome(returned) && returned.value instanceof ReturnedFailure ? returned.value.state : attempts,
      unsuccessful.runs
    )
    const failure = Option.isSome(returned) && returned.value instanceof ReturnedFailure
      ? returned.value.cause
      : attempts.type === "FAILED"
      ? attempts.cause
      : undefined
    yield* record(store, cell, () => final, { persistResult: def.persistResult })
    cell.complete(final)
    if (final.type === "COMPLETED") return final.value
    if (failure !== undefined) return yield* Effect.failCause(failure)
    if (final.type === "CRASHED") return yield* Effect.fail(state_.stateError(final))
    return yield* Effect.interrupt
  })

/** The flow run's span, when a tracer is installed (flows are few: a fiber step is cheap enough). */
const startFlowSpan = (
  def: FlowDefinition,
  cell: RunCell<any, any>,
  args: ReadonlyArray<unknown>,
  spanParent: RunSpanParent
) =>
  Effect.withFiberRuntime<void>((fiber) => {
    if (tracingOn(fiber)) {
      cell.span = startRunSpan(fiber, def, cell.id, cell.state, args, fiber.getFiberRef(currentFlowRunId), spanParent)
    }
    return Effect.void
  })

/** Schedules a flow run in the RunStore for a task worker, and follows it. */
const delay = (def: FlowDefinition, args: ReadonlyArray<unknown>) =>
  Effect.flatMap(RunStore, (store) =>
    Effect.flatMap(
      // The span that delays the flow run: the worker's flow-run span continues its trace.
      Effect.withFiberRuntime<TraceContext | undefined>((fiber) =>
        Effect.succeed(captureTraceContext(fiber, def.tracing.join, false))
      ),
      (traceContext) => {
        const id = makeRunId()
        return createDeferred(store, [{
          id,
          kind: "flow",
          name: def.name,
          parameters: args,
          tags: def.tags,
          retries: def.retries,
          state: state_.scheduled(),
          traceContext
        }]).pipe(Effect.zipRight(flowRunFuture<any, any>(id)))
      }
    ))

/** @internal */
export const make = (
  nameOrOptions: string | Flow.FlowOptions,
  fn: (...args: Array<any>) => Effect.Effect<any, any, any>
): Flow.Flow<any, any, any, any> => {
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const def: FlowDefinition = { ...makeDefinition("flow", options, fn), taskRunner: options.taskRunner }
  register(def, "flow")
  const flow = function(...args: ReadonlyArray<unknown>) {
    return callFlow(def, args)
  }
  Object.defineProperty(flow, "name", { value: def.name })
  Object.defineProperty(flow, FlowTypeId, { value: def })
  Object.defineProperty(flow, "delay", { value: (...args: ReadonlyArray<unknown>) => delay(def, args) })
  return flow as unknown as Flow.Flow<any, any, any, any>
}

/** @internal */
export const flowDefinition = (flow: Flow.Flow<any, any, any, any>): FlowDefinition =>
  (flow as unknown as { readonly [FlowTypeId]: FlowDefinition })[FlowTypeId]

/** @internal */
export const isFlow = (u: unknown): u is Flow.Flow<any, any, any, any> => typeof u === "function" && FlowTypeId in u
