import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Futures from "../../Futures.js"
import type { NewRun } from "../../RunStore.js"
import type * as TaskRunner_ from "../../TaskRunner.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { makeRunId } from "../core/runId.js"
import * as state_ from "../core/state.js"
import type { AnyState } from "../core/state.js"
import type { TaskBody } from "../engine/engine.js"
import { creating, executeTaskRun, writeSync } from "../engine/engine.js"
import { ConcurrentFuture } from "../futures/future.js"
import { RunCell } from "../run/runCell.js"
import { makeMemory, RUNNER_KEEPS_FINISHED } from "../store/memory/memoryStore.js"
import { endRunLogs, installRunLogs } from "../store/runLogs.js"
import { inProcessLeases, RunStore, syncWrites } from "../store/runStore.js"
import { startRunSpan } from "../telemetry/runSpan.js"
import { current, tracingOn } from "../telemetry/spanParent.js"

/** @internal */
export class TaskRunner extends Context.Tag("effect-taskflow/TaskRunner")<TaskRunner, TaskRunner_.Service>() {}

/**
 * What the engine needs of a runner beyond the public `Service`.
 * @internal
 */
export interface RunnerInternal extends TaskRunner_.Service {
  /**
   * Submits a run from inside `parent`'s own step (the caller is in `Effect.withFiberRuntime`): no
   * fiber step of its own on the hottest path.
   */
  readonly unsafeSubmit: (
    parent: Fiber.RuntimeFiber<unknown, unknown>,
    def: TaskDefinition,
    args: ReadonlyArray<unknown>,
    waitFor: ReadonlyArray<unknown>
  ) => Effect.Effect<Futures.PrefectConcurrentFuture<any, any>>
  /**
   * From now on, keeps the runs of this runner that end in a state other than Completed, in the
   * array returned: a flow reads those of its own runner when it ends. Other runners keep none
   * (one that lives as long as its process would keep every failed run).
   */
  readonly keepUnsuccessful: () => ReadonlyArray<RunCell<any, any>>
}

/** @internal */
export const runnerInternal = (service: TaskRunner_.Service): RunnerInternal => service as RunnerInternal

const validateConcurrency = (maxConcurrency: number | undefined) => {
  if (maxConcurrency === undefined) return
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new Cause.IllegalArgumentException(
      `'maxConcurrency' must be a positive integer, got ${String(maxConcurrency)}`
    )
  }
}

/**
 * The concurrent runner: every run is a fiber. Runs still going when the layer is released are
 * interrupted (Cancelled), with one warning naming them.
 * @internal
 */
export const concurrent = (options?: { readonly maxConcurrency?: number }): Layer.Layer<TaskRunner> =>
  Layer.scoped(
    TaskRunner,
    Effect.suspend(() => {
      validateConcurrency(options?.maxConcurrency)
      return makeRunner({ kind: "concurrent", maxConcurrency: options?.maxConcurrency })
    })
  )

/**
 * A runner whose runs are fibers of this process. `execution` gives the body a run executes (by
 * default the task's own): the worker pool's sends the run to a thread and waits for its outcome,
 * so retries, timeouts, cancellation and state recording are the same for every runner.
 * @internal
 */
export const makeRunner = (options: {
  readonly kind: string
  readonly maxConcurrency?: number | undefined
  readonly execution?: TaskBody
}): Effect.Effect<RunnerInternal, never, Scope.Scope> =>
  Effect.gen(function*() {
    const store = Option.getOrElse(
      yield* Effect.serviceOption(RunStore),
      () => makeMemory({ keepFinished: RUNNER_KEEPS_FINISHED }, false)
    )
    // What runs log reaches the runner's store (its own, when no RunStore is provided).
    yield* installRunLogs(store)
    const semaphore = options?.maxConcurrency === undefined
      ? undefined
      : yield* Effect.makeSemaphore(options.maxConcurrency)
    const active = new Set<RunCell<any, any>>()
    let unsuccessful: Array<RunCell<any, any>> | undefined

    const sync = syncWrites(store)
    const leases = inProcessLeases(store)
    // A write made from a fiber's observer runs on the runtime the runner was built in: its logs reach the user's Logger.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const onFiberEnd = (cell: RunCell<any, any>, exit: Exit.Exit<AnyState>) => {
      active.delete(cell)
      let state: AnyState
      if (Exit.isSuccess(exit)) {
        state = exit.value
      } else if (cell.state.type === "CANCELLED") {
        state = cell.state
      } else {
        // Interrupted (the run's fiber leaves that to us), or the engine itself failed.
        const clock = Context.get(cell.fiber!.currentDefaultServices, Clock.Clock)
        const timestamp = state_.timestampAt(clock.unsafeCurrentTimeMillis())
        state = Exit.isInterrupted(exit) ? state_.cancelled({ timestamp }) : state_.crashed(exit.cause, {
          timestamp,
          message: "The run's fiber failed outside the task."
        })
        cell.state = state
        if (sync !== undefined) writeSync(sync, cell, state, undefined)
        else {
          endRunLogs(cell.id) // its last log line, before its final state (writeSync does it too)
          runFork(Effect.ignore(store.setState(cell.id, state)))
        }
      }
      if (state.type !== "COMPLETED") unsuccessful?.push(cell)
      cell.complete(state)
    }

    const start = (
      def: TaskDefinition,
      cell: RunCell<any, any>,
      args: ReadonlyArray<unknown>,
      waitFor: ReadonlyArray<unknown>,
      interruptible?: <A>(effect: Effect.Effect<A>) => Effect.Effect<A>
    ) => {
      const execution = executeTaskRun<never>({
        def,
        cell,
        store,
        args,
        waitFor,
        slots: semaphore,
        ownFiber: true,
        body: options.execution
      })
      return Effect.map(
        Effect.forkDaemon(interruptible === undefined ? execution : interruptible(execution)),
        (fiber) => {
          cell.fiber = fiber
          active.add(cell)
          // Held under a SQL store's lease: a cancel asked anywhere interrupts the run's fiber (it
          // ends Cancelled), whether it waits for its inputs, for a slot, or runs its body.
          const stopListening = leases?.onCancel(cell.id, () => fiber.unsafeInterruptAsFork(FiberId.none))
          fiber.addObserver((exit) => {
            stopListening?.()
            onFiberEnd(cell, exit)
          })
          return new ConcurrentFuture(cell)
        }
      )
    }

    const unsafeSubmit: RunnerInternal["unsafeSubmit"] = (parent, def, args, waitFor) => {
      const id = makeRunId()
      const pending = state_.pending()
      const cell = new RunCell<any, any>(id, def.name, pending)
      const flowRunId = parent.getFiberRef(currentFlowRunId)
      // The span starts here, in the submitter's step: its parent is the span current where the user submitted.
      if (tracingOn(parent)) cell.span = startRunSpan(parent, def, id, pending, args, flowRunId, current)
      const run: NewRun = {
        id,
        kind: "task",
        name: def.name,
        flowRunId,
        parentTaskRunId: parent.getFiberRef(currentTaskRunId),
        parameters: args,
        tags: def.tags,
        retries: def.retries,
        state: pending
      }
      if (sync !== undefined) {
        cell.storeHandle = sync.unsafeCreateRun(run)
        return start(def, cell, args, waitFor)
      }
      // Created and started in one step: a run created (held, on a SQL store) is always started, so
      // the runner cancels it with the others if the caller is interrupted. Its fiber inherits the step's
      // uninterruptibility: `restore` gives it back.
      return Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(creating(cell, Effect.orDie(store.createRun(run))), start(def, cell, args, waitFor, restore))
      )
    }

    yield* Effect.addFinalizer((exit) =>
      Effect.suspend(() => {
        if (active.size === 0) return Effect.void
        const left = Array.from(active)
        const names = left.map((cell) => `'${cell.name}' (${cell.id})`)
        const shown = names.length > 10 ? [...names.slice(0, 10), `and ${names.length - 10} more`] : names
        const warn = Exit.isInterrupted(exit) ? Effect.void : Effect.logWarning(
          `${left.length} task run(s) were still running when the flow returned and were cancelled: ` +
            `${shown.join(", ")}. Please wait for all submitted tasks to complete before exiting your flow ` +
            `(return their futures, or call result() or wait() on them).`
        )
        return Effect.zipRight(warn, Fiber.interruptAll(left.map((cell) => cell.fiber!)))
      })
    )

    const runner: RunnerInternal = {
      kind: options.kind,
      maxConcurrency: options.maxConcurrency,
      store,
      unsafeSubmit,
      keepUnsuccessful: () => (unsuccessful ??= [])
    }
    return runner
  })
