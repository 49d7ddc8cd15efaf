import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import * as Errors from "../../Errors.js"
import type * as Futures from "../../Futures.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as State from "../../State.js"
import type * as Task from "../../Task.js"
import type * as Telemetry from "../../Telemetry.js"
import { allowFailure, isAllowFailure, isUnmapped } from "../core/annotations.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { decodeDuration } from "../core/duration.js"
import { validateName, validateTags } from "../core/names.js"
import { register } from "../core/registry.js"
import { makeRunId } from "../core/runId.js"
import * as state_ from "../core/state.js"
import { creating, endUnfinished, executeTaskRun, plainArguments, resolveInputs } from "../engine/engine.js"
import { awaitDone, distributedFuture, internals, isPrefectFuture, StoreFuture } from "../futures/future.js"
import { makeList } from "../futures/list.js"
import { RunCell } from "../run/runCell.js"
import { runnerInternal, TaskRunner } from "../runner/taskRunner.js"
import { inProcessLeases, RunStore } from "../store/runStore.js"
import { startRunSpan } from "../telemetry/runSpan.js"
import { current, tracingOn } from "../telemetry/spanParent.js"
import { captureTraceContext } from "../telemetry/traceContext.js"

/** @internal */
export const TaskTypeId: unique symbol = Symbol.for("effect-taskflow/Task")

const validateRetries = (retries: number | undefined): number => {
  if (retries === undefined) return 0
  if (!Number.isInteger(retries) || retries < 0) {
    throw new Cause.IllegalArgumentException(`'retries' must be a non-negative integer, got ${String(retries)}`)
  }
  return retries
}

/** @internal */
export const makeDefinition = (
  kind: "task" | "flow",
  options: {
    readonly name: string
    readonly retries?: number
    readonly retryDelay?: Duration.DurationInput
    readonly timeout?: Duration.DurationInput
    readonly tags?: ReadonlyArray<string>
    readonly persistResult?: boolean
    readonly parameters?: Schema.Schema<any, any, never> | undefined
    readonly success?: Schema.Schema<any, any, never> | undefined
    readonly failure?: Schema.Schema<any, any, never> | undefined
    readonly tracing?: Telemetry.TracingOptions | undefined
  },
  fn: (...args: Array<any>) => Effect.Effect<any, any, any>
): TaskDefinition => {
  // A name or tag the store or a worker could not carry is refused here, where it is written.
  validateName(kind, options.name)
  validateTags(kind, options.name, options.tags)
  return {
    kind,
    name: options.name,
    fn,
    retries: validateRetries(options.retries),
    retryDelay: decodeDuration("retryDelay", options.retryDelay),
    timeout: decodeDuration("timeout", options.timeout),
    tags: options.tags ?? [],
    persistResult: options.persistResult ?? true,
    parameters: options.parameters,
    success: options.success,
    failure: options.failure,
    tracing: {
      join: options.tracing?.join ?? "auto",
      recordParameters: options.tracing?.recordParameters ?? false
    }
  }
}

interface TaskImpl extends Task.Task<any, any, any, any> {
  readonly [TaskTypeId]: TaskDefinition
  readonly waitFor: ReadonlyArray<unknown>
}

/** The store an inline call records in: the RunStore in context, else the TaskRunner's, else none. */
const inlineStore = Effect.flatMap(
  Effect.serviceOption(RunStore),
  (store) =>
    Option.isSome(store)
      ? Effect.succeed(store.value)
      : Effect.map(Effect.serviceOption(TaskRunner), (runner) => Option.isSome(runner) ? runner.value.store : undefined)
)

/** Runs the task in the calling fiber as a recorded task run, and fails with its own error. */
const callInline = (def: TaskDefinition, args: ReadonlyArray<unknown>): Effect.Effect<any, any, any> =>
  Effect.flatMap(inlineStore, (store) => {
    return Effect.withFiberRuntime<any, any, any>((fiber) => {
      const id = makeRunId()
      const pending = state_.pending()
      const cell = new RunCell<any, any>(id, def.name, pending)
      const flowRunId = fiber.getFiberRef(currentFlowRunId)
      if (tracingOn(fiber)) cell.span = startRunSpan(fiber, def, id, pending, args, flowRunId, current)
      const leases = store === undefined ? undefined : inProcessLeases(store)
      const execution = executeTaskRun({ def, cell, store, args, waitFor: [], ownFiber: false, leases })
      const create = store === undefined ? Effect.void : creating(
        cell,
        Effect.orDie(store.createRun({
          id,
          kind: "task",
          name: def.name,
          flowRunId,
          parentTaskRunId: fiber.getFiberRef(currentTaskRunId),
          parameters: args,
          tags: def.tags,
          retries: def.retries,
          state: pending
        }))
      )
      // A run created held here is run, or ended Cancelled, whenever the caller is interrupted: never
      // left held with nothing to run or end it.
      const created = leases === undefined
        ? Effect.zipRight(create, execution)
        : Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(create, Effect.onExit(restore(execution), endUnfinished(store, cell)))
        )
      return Effect.flatMap(created, (state) => {
        cell.complete(state)
        switch (state.type) {
          case "COMPLETED":
            return Effect.succeed(state.value)
          case "FAILED":
            return Effect.failCause(state.cause)
          case "CANCELLED":
            return Effect.interrupt
          default:
            return Effect.die(state_.stateError(state_.crashed(Cause.empty)))
        }
      })
    })
  })

const noRunner = () => undefined

/**
 * What `submit`/`map` die with when no TaskRunner is in context: Effect's own "Service not found"
 * would not say what to provide. The defect is a programming error, so R keeps TaskRunner.
 */
const missingRunner = (task: TaskImpl, method: "submit" | "map") =>
  Effect.die(
    new Error(
      `${task.name}.${method}() needs a TaskRunner and none is provided. Run it inside a flow (Flow.make), ` +
        `which provides its own, or provide one: Effect.provide(TaskRunner.concurrent()).`
    )
  )

const submit = (task: TaskImpl, args: ReadonlyArray<unknown>) =>
  // The runner is read from the fiber directly: one fiber step less on the hottest path.
  Effect.withFiberRuntime<any, any, TaskRunner>((fiber) => {
    const runner = Context.getOrElse(fiber.currentContext, TaskRunner, noRunner)
    return runner !== undefined
      ? runnerInternal(runner).unsafeSubmit(fiber, task[TaskTypeId], args, task.waitFor)
      : missingRunner(task, "submit")
  })

const isMappable = (u: unknown): u is Iterable<unknown> => Predicate.isIterable(u) && typeof u !== "string"

/** Prefect's map: zip the iterable arguments, repeat the static ones, one run per position. */
const map = (task: TaskImpl, args: ReadonlyArray<unknown>) =>
  Effect.flatMap(
    mapCalls(task, args),
    (calls) =>
      Effect.flatMap(Effect.serviceOption(TaskRunner), (found) => {
        if (Option.isNone(found)) return missingRunner(task, "map")
        const runner = found.value
        return Effect.withFiberRuntime<Futures.PrefectFutureList<any, any>, never, TaskRunner>((fiber) =>
          Effect.map(
            Effect.forEach(
              calls,
              (call) => runnerInternal(runner).unsafeSubmit(fiber, task[TaskTypeId], call, task.waitFor)
            ),
            (futures): Futures.PrefectFutureList<any, any> => makeList(futures)
          )
        )
      })
  )

/** The arguments of each run of a map. */
const mapCalls = (task: TaskImpl, args: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const columns: Array<{ readonly values: ReadonlyArray<unknown> } | { readonly value: unknown }> = []
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]
      const allowed = isAllowFailure(arg)
      const inner = allowed ? arg.value : arg
      const wrap = (value: unknown) => allowed ? allowFailure(value) : value
      if (isUnmapped(inner)) {
        columns.push({ value: wrap(inner.value) })
        continue
      }
      let iterable: unknown = inner
      if (isPrefectFuture(inner)) {
        // The length must be known now, so a future of an iterable is waited for here.
        const state = yield* awaitDone(internals(inner))
        if (state.type !== "COMPLETED") {
          return yield* Effect.fail(
            new Errors.MappingMissingIterable({
              message: `Argument ${i + 1} of '${task.name}' is a future of an iterable, but its run ` +
                `${inner.taskRunId} ended ${state.type} (${state.name}), so there is nothing to map over.`
            })
          )
        }
        iterable = state.value
      }
      if (isMappable(iterable)) {
        const values = Chunk.isChunk(iterable) ? Chunk.toReadonlyArray(iterable) : Array.from(iterable)
        columns.push({ values: allowed ? values.map(wrap) : values })
      } else {
        columns.push({ value: arg })
      }
    }
    const lengths = columns.flatMap((column, i) => "values" in column ? [[i + 1, column.values.length]] : [])
    if (lengths.length === 0) {
      return yield* Effect.fail(
        new Errors.MappingMissingIterable({
          message: `No iterable arguments were received. Arguments for map of '${task.name}' must include at ` +
            `least one iterable (strings do not count; wrap static values in Task.unmapped).`
        })
      )
    }
    if (new Set(lengths.map(([, length]) => length)).size > 1) {
      return yield* Effect.fail(
        new Errors.MappingLengthMismatch({
          message: `Received iterable arguments with different lengths. Arguments for map of '${task.name}' ` +
            `must all be the same length. Got lengths: ${
              lengths.map(([position, length]) => `argument ${position}: ${length}`).join(", ")
            }`
        })
      )
    }
    const count = lengths[0][1]
    const calls: Array<ReadonlyArray<unknown>> = new Array(count)
    for (let j = 0; j < count; j++) {
      calls[j] = columns.map((column) => "values" in column ? column.values[j] : column.value)
    }
    return calls
  })

/**
 * The run a `delay` schedules. Futures among the arguments (or in `waitFor`) are waited for here
 * and replaced by their results, since a future cannot be stored; an upstream that did not complete
 * makes the run Pending named NotReady, and no worker takes it.
 */
const deferredRun = (
  task: TaskImpl,
  args: ReadonlyArray<unknown>,
  flowRunId: string | undefined,
  parentTaskRunId: string | undefined,
  traceContext: RunStore_.RunTraceContext | undefined
) =>
  Effect.map(resolveInputs(args, task.waitFor), (inputs): RunStore_.NewRun =>
    "notReady" in inputs
      ? newRun(
        task,
        flowRunId,
        parentTaskRunId,
        [],
        state_.pending({ name: "NotReady", message: inputs.notReady.message }),
        traceContext
      )
      : newRun(task, flowRunId, parentTaskRunId, inputs.args, state_.scheduled(), traceContext))

/**
 * The runs of a `mapDelay` whose arguments hold no futures (the common case): built in one loop,
 * all Scheduled at the same instant (one state for all of them), with no fiber step per run.
 */
const scheduledRuns = (
  task: TaskImpl,
  calls: ReadonlyArray<ReadonlyArray<unknown>>,
  flowRunId: string | undefined,
  parentTaskRunId: string | undefined,
  traceContext: RunStore_.RunTraceContext | undefined
): Array<RunStore_.NewRun> => {
  const state = state_.scheduled()
  return calls.map((parameters) => newRun(task, flowRunId, parentTaskRunId, parameters, state, traceContext))
}

/** A new task run of `task`, with a new id. */
const newRun = (
  task: TaskImpl,
  flowRunId: string | undefined,
  parentTaskRunId: string | undefined,
  parameters: ReadonlyArray<unknown>,
  state: State.State<unknown, unknown>,
  traceContext: RunStore_.RunTraceContext | undefined
): RunStore_.NewRun => {
  const def = task[TaskTypeId]
  return {
    id: makeRunId(),
    kind: "task",
    name: task.name,
    flowRunId,
    parentTaskRunId,
    tags: def.tags,
    retries: def.retries,
    parameters,
    state,
    traceContext
  }
}

/**
 * Writes runs a `delay` made, in one batch. Arguments that cannot be stored exactly fail the call
 * with the `SerializationError` that names them (no run is created), a store that fails with
 * `RunStoreError`: both in the error channel, where the caller sees them.
 * @internal
 */
export const createDeferred = (
  store: RunStore_.Service,
  runs: ReadonlyArray<RunStore_.NewRun>
): Effect.Effect<void, Errors.RunStoreError | Errors.SerializationError> => store.createRuns(runs)

/** Schedules a run in the RunStore for a TaskWorker to execute, and follows it. */
const delay = (task: TaskImpl, args: ReadonlyArray<unknown>) =>
  Effect.flatMap(
    RunStore,
    (store) =>
      Effect.withFiberRuntime<
        Futures.PrefectDistributedFuture<any, any>,
        Errors.RunStoreError | Errors.SerializationError,
        RunStore
      >((fiber) =>
        deferredRun(
          task,
          args,
          fiber.getFiberRef(currentFlowRunId),
          fiber.getFiberRef(currentTaskRunId),
          // The span that delays the run: the worker's run span continues its trace.
          captureTraceContext(fiber, task[TaskTypeId].tracing.join, false)
        ).pipe(
          Effect.tap((run) => createDeferred(store, [run])),
          Effect.flatMap((run) => distributedFuture<any, any>(run.id))
        )
      )
  )

/** `map` for task workers: every run is scheduled in the RunStore, in one batch. */
const mapDelay = (task: TaskImpl, args: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const store = yield* RunStore
    const calls = yield* mapCalls(task, args)
    const flowRunId = yield* FiberRef.get(currentFlowRunId)
    const parentTaskRunId = yield* FiberRef.get(currentTaskRunId)
    // One context for all the runs (linked to this span under "auto"): one trace each.
    const traceContext = yield* Effect.withFiberRuntime<RunStore_.RunTraceContext | undefined>((fiber) =>
      Effect.succeed(captureTraceContext(fiber, task[TaskTypeId].tracing.join, true))
    )
    const runs = calls.every((call) => plainArguments(call, task.waitFor))
      ? scheduledRuns(task, calls, flowRunId, parentTaskRunId, traceContext)
      : yield* Effect.forEach(calls, (call) => deferredRun(task, call, flowRunId, parentTaskRunId, traceContext))
    yield* createDeferred(store, runs)
    return makeList(runs.map((run) => new StoreFuture<any, any>(run.id, store, `Task run ${run.id}`)))
  })

const TaskProto = Object.assign(Object.create(Function.prototype), {
  submit(this: TaskImpl, ...args: ReadonlyArray<unknown>) {
    return submit(this, args)
  },
  map(this: TaskImpl, ...args: ReadonlyArray<unknown>) {
    return map(this, args)
  },
  delay(this: TaskImpl, ...args: ReadonlyArray<unknown>) {
    return delay(this, args)
  },
  mapDelay(this: TaskImpl, ...args: ReadonlyArray<unknown>) {
    return mapDelay(this, args)
  },
  with(this: TaskImpl, options: Task.WithOptions) {
    const def = this[TaskTypeId]
    const { waitFor, ...overrides } = options
    const next = makeDefinition("task", {
      name: overrides.name ?? def.name,
      retries: overrides.retries ?? def.retries,
      tags: overrides.tags ?? def.tags,
      persistResult: def.persistResult,
      tracing: def.tracing,
      parameters: def.parameters,
      success: def.success,
      failure: def.failure,
      ...(overrides.retryDelay !== undefined
        ? { retryDelay: overrides.retryDelay }
        : def.retryDelay !== undefined
        ? { retryDelay: def.retryDelay }
        : {}),
      ...(overrides.timeout !== undefined
        ? { timeout: overrides.timeout }
        : def.timeout !== undefined
        ? { timeout: def.timeout }
        : {})
    }, def.fn)
    // A new name is registered, so workers and pools find this task (its own body) by it.
    if (next.name !== def.name) register(next, "task", true)
    return makeTask(next, waitFor ?? this.waitFor)
  },
  toString(this: TaskImpl) {
    return `Task(${this.name})`
  }
})

/** @internal */
export const makeTask = (def: TaskDefinition, waitFor: ReadonlyArray<unknown> = []): Task.Task<any, any, any, any> => {
  const task = function(...args: ReadonlyArray<unknown>) {
    return callInline(def, args)
  }
  Object.setPrototypeOf(task, TaskProto)
  Object.defineProperty(task, "name", { value: def.name })
  Object.defineProperty(task, TaskTypeId, { value: def })
  Object.defineProperty(task, "waitFor", { value: waitFor })
  return task as unknown as Task.Task<any, any, any, any>
}

/** @internal */
export const make = (
  nameOrOptions: string | Task.TaskOptions,
  fn: (...args: Array<any>) => Effect.Effect<any, any, any>
): Task.Task<any, any, any, any> => {
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const def = makeDefinition("task", options, fn)
  register(def, "task")
  return makeTask(def)
}

/** @internal */
export const taskDefinition = (task: Task.Task<any, any, any, any>): TaskDefinition => (task as TaskImpl)[TaskTypeId]

/** @internal */
export const isTask = (u: unknown): u is Task.Task<any, any, any, any> => typeof u === "function" && TaskTypeId in u
