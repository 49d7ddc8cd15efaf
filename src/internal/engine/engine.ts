import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import { currentFlowRunId, currentTaskRunId } from "../core/currentRun.js"
import type { TaskDefinition } from "../core/definition.js"
import { secondsText } from "../core/duration.js"
import * as state_ from "../core/state.js"
import type { AnyState } from "../core/state.js"
import type { AnyFuture } from "../futures/future.js"
import { awaitDone, internals } from "../futures/future.js"
import { collectFutures, replaceFutures } from "../futures/resolve.js"
import type { RunCell } from "../run/runCell.js"
import { withSlot } from "../run/slot.js"
import { endRunLogs, FLOW_RUN_ID_ANNOTATION, RUN_ID_ANNOTATION } from "../store/runLogs.js"
import type { InProcessLeases, SyncWrites } from "../store/runStore.js"
import { inProcessLeases, syncWrites } from "../store/runStore.js"
import { recordRetry } from "../telemetry/runMetrics.js"
import { endAttemptSpan, startAttemptSpan, startRunSpan } from "../telemetry/runSpan.js"
import type { RunSpanParent } from "../telemetry/spanParent.js"
import { tracingOn } from "../telemetry/spanParent.js"

/**
 * The defect a runner raises when the place a run executed on died under it (a worker thread
 * exited, ran out of heap): the run ends Crashed, not Failed, and is not retried.
 * @internal
 */
export class RunCrashed extends Error {
  constructor(message: string) {
    super(message)
    this.name = "RunCrashed"
  }
}

/** The crash in a cause, if the run's executor died. */
const findCrash = (cause: Cause.Cause<unknown>): RunCrashed | undefined =>
  Option.getOrUndefined(
    Cause.find(cause, (reason) =>
      reason._tag === "Die" && reason.defect instanceof RunCrashed ? Option.some(reason.defect) : Option.none())
  )

/**
 * Moves a run to `state`: in the cell (what in-process futures read) and in the store. A run
 * that reached a final state keeps it (the store refuses the move too).
 * @internal
 */
export const record = (
  store: RunStore_.Service | undefined,
  cell: RunCell<any, any>,
  make: (timestamp: Date) => AnyState,
  options?: RecordOptions
): Effect.Effect<AnyState> => Effect.clockWith((clock) => recordNow(clock, store, cell, make, options))

/** @internal */
export interface RecordOptions {
  readonly runCount?: number
  readonly persistResult?: boolean
}

/**
 * `record` with the clock in hand. On a store with synchronous writes (memory) the state is
 * written before this returns, and the Effect is only the already-known outcome.
 */
const recordNow = (
  clock: Clock.Clock,
  store: RunStore_.Service | undefined,
  cell: RunCell<any, any>,
  make: (timestamp: Date) => AnyState,
  options?: RecordOptions
): Effect.Effect<AnyState> => {
  if (cell.done !== undefined || state_.isFinal(cell.state)) return Effect.succeed(cell.state)
  const state = make(state_.timestampAt(clock.unsafeCurrentTimeMillis()))
  cell.state = state
  cell.recorded(state)
  const final = state_.isFinal(state)
  // The run's last log line (how many were dropped) is queued before its final state.
  if (final) endRunLogs(cell.id)
  if (store === undefined) return Effect.succeed(ended(cell, state, final))
  const stored = options?.persistResult === false && state.type === "COMPLETED"
    ? state_.completedWithoutResult({
      timestamp: state.timestamp,
      ...(state.message ? { message: state.message } : {})
    })
    : state
  const sync = syncWrites(store)
  if (sync !== undefined) {
    // A refused move (the run was finished elsewhere) keeps the store's state, as below.
    const refused = writeSync(sync, cell, stored, options?.runCount)
    // A missing run is a defect, but the run still ends here (its span, its count): nothing else will.
    return refused?._tag === "RunNotFound"
      ? Effect.die((ended(cell, state, final), refused))
      : Effect.succeed(ended(cell, state, final))
  }
  // Asked before the write, which ends the hold.
  const heldHere = final && inProcessLeases(store)?.holds(cell.id) === true
  // One step: a refused move keeps the store's state; a missing run or a store gone away is a defect.
  const write = Effect.matchEffect(store.setState(cell.id, stored, options), {
    onFailure: (error) =>
      error._tag !== "InvalidTransition"
        ? Effect.die(error)
        : Effect.succeed(ended(cell, heldHere ? refusedEnd(cell, state, error) : state, final)),
    onSuccess: () => Effect.succeed(ended(cell, state, final))
  })
  // A final write that dies or is interrupted still ends the run's span and counts it: every later
  // end goes through here and stops at the final `cell.state` (`RunCell.end` runs once).
  return final ? Effect.onExit(write, () => Effect.sync(() => cell.end(state))) : write
}

/** A final state recorded: the run's span ends and the run is counted (see `RunCell.end`). */
const ended = (cell: RunCell<any, any>, state: AnyState, final: boolean): AnyState => {
  if (final) cell.end(state)
  return state
}

/**
 * The end of a run held under its store's in-process lease whose final state the store refused: it
 * can only have been recovered (Crashed) there, its lease having lapsed (the process stalled, or the
 * store was away). It ends Crashed here too, saying so, rather than Completed here and Crashed in the
 * store. Other runs (the memory store's, a task worker's) keep their own state, as before.
 */
const refusedEnd = (cell: RunCell<any, any>, state: AnyState, refusal: Errors.InvalidTransition): AnyState => {
  const crashed = state_.crashed(Cause.die(refusal), {
    timestamp: state.timestamp,
    message: `The run store refused the run's ${state.type} state, as the run was recovered there while it ran ` +
      `in this process (its lease lapsed): ${refusal.message}`
  })
  cell.state = crashed
  return crashed
}

/**
 * Writes a state to a synchronous store: through the run's handle where the runner created it
 * there, else by id.
 * @internal
 */
export const writeSync = (
  sync: SyncWrites,
  cell: RunCell<any, any>,
  state: AnyState,
  runCount: number | undefined
): Errors.RunNotFound | Errors.InvalidTransition | undefined => {
  if (state_.isFinal(state)) endRunLogs(cell.id)
  return cell.storeHandle !== undefined
    ? sync.unsafeSetStateOf(cell.storeHandle, state, runCount)
    : sync.unsafeSetState(cell.id, state, runCount)
}

/**
 * Waits for the futures in a run's arguments and `waitFor`, then replaces them by their values. A
 * future that did not complete makes the run NotReady, unless it sits inside `allowFailure`, in
 * which case its error is passed instead (Prefect's `resolve_inputs`).
 * @internal
 */
export const resolveInputs = (
  args: ReadonlyArray<unknown>,
  waitFor: ReadonlyArray<unknown>
): Effect.Effect<{ readonly args: ReadonlyArray<unknown> } | { readonly notReady: Errors.UpstreamTaskError }> => {
  if (plainArguments(args, waitFor)) return Effect.succeed({ args })
  const allowed = new Set<AnyFuture>()
  const futures = collectFutures(args, new Set(), allowed)
  collectFutures(waitFor, futures, allowed)
  if (futures.size === 0) return Effect.succeed({ args })
  for (const future of futures) future.markOutcomeRead()
  return Effect.map(Effect.forEach(futures, (future) => awaitDone(internals(future)), { discard: true }), () => {
    for (const future of futures) {
      const state = future.unsafeDone()!
      if (state.type !== "COMPLETED" && !allowed.has(future)) {
        return { notReady: new Errors.UpstreamTaskError({ message: upstreamMessage(future, state) }) }
      }
    }
    const resolved = replaceFutures(args, (future) => valueOrError(future.unsafeDone()!, future), {
      unwrapAllowFailure: true
    }) as ReadonlyArray<unknown>
    return { args: resolved }
  })
}

/** What a task receives for an upstream under `allowFailure`: its value, or its error. */
const valueOrError = (state: AnyState, future: AnyFuture): unknown => {
  switch (state.type) {
    case "COMPLETED":
      return state.value
    case "FAILED": {
      const failure = Cause.failureOption(state.cause)
      return Option.isSome(failure) ? failure.value : Cause.squash(state.cause)
    }
    case "CRASHED":
    case "CANCELLED":
      return state_.stateError(state)
    default:
      return new Errors.UpstreamTaskError({ message: upstreamMessage(future, state) })
  }
}

/**
 * Why a run is NotReady: the upstream that did not complete, named with its task, id, state and
 * reason. An upstream that is NotReady itself passes on its own message, so every run downstream
 * of a failure names the first run that failed and why (not the run just above it).
 */
const upstreamMessage = (future: AnyFuture, state: AnyState): string => {
  if (state.type === "PENDING" && state.name === "NotReady" && state.message !== undefined) return state.message
  const name = future.runName === undefined ? "" : `'${future.runName}' `
  const id = future.runName === undefined ? `'${future.taskRunId}'` : `(${future.taskRunId})`
  return `Upstream task run ${name}${id} did not reach a 'COMPLETED' state: it is ${state_.describeEnd(state)}`
}

/**
 * The timeouts each run raised, by error: a run ends TimedOut only on its own timeout, not on a
 * `TaskTimeoutError` its body failed with (an inline call of another task that timed out).
 */
const ownTimeouts = new WeakMap<Errors.TaskTimeoutError, string>()

/** The run's own timeout in a failure, if that is what ended the attempt. */
const findOwnTimeout = (cause: Cause.Cause<unknown>, runId: string): Errors.TaskTimeoutError | undefined =>
  Option.getOrUndefined(
    Cause.find(cause, (reason) =>
      reason._tag === "Fail" && reason.error instanceof Errors.TaskTimeoutError &&
        ownTimeouts.get(reason.error) === runId
        ? Option.some(reason.error)
        : Option.none())
  )

/** What `executeAttempts` needs for every attempt of one run: one object, not a closure per step. */
interface AttemptsRun {
  readonly def: TaskDefinition
  readonly cell: RunCell<any, any>
  readonly store: RunStore_.Service | undefined
  /** The body with the task's timeout applied. */
  readonly timed: Effect.Effect<any, any, any>
  readonly recordFinal: boolean
  readonly claimed: number | undefined
  /** Set the run's id as the current task run on its fiber (a fiber of its own, the concurrent runner). */
  readonly setTaskRunId: boolean
  /** The stop of a run held under its store's in-process lease, run in its caller's fiber. */
  readonly stop: Stop | undefined
}

/**
 * Runs the body of a task or flow with its timeout and retries, recording Running, Retrying,
 * AwaitingRetry and, when `recordFinal` is set, the final state. Never fails: the outcome is the
 * state. Kept to a few fiber steps and allocations per attempt: this is the hot path of every run.
 * @internal
 */
export const executeAttempts = <R>(
  def: TaskDefinition,
  cell: RunCell<any, any>,
  store: RunStore_.Service | undefined,
  body: Effect.Effect<any, any, R>,
  options: {
    readonly recordFinal?: boolean
    /**
     * The run count of an attempt a task worker's claim started and recorded as Running already: the
     * attempts start there (continuing the run's count) and that Running is not written again.
     */
    readonly claimed?: number | undefined
    readonly setTaskRunId?: boolean
    /** The run's stop, registered by its caller (an inline call, from its creation); "none": not held. */
    readonly stop?: Stop | "none"
  } = {}
): Effect.Effect<AnyState, never, R> => {
  const first = options.claimed ?? 1
  cell.def = def
  if (options.stop !== undefined) {
    const stop = options.stop === "none" ? undefined : options.stop
    return attempt(attemptsRun(def, cell, store, body, options, stop), first) as Effect.Effect<AnyState, never, R>
  }
  // A run with a fiber of its own is stopped by its runner, which interrupts that fiber.
  const leases = store === undefined || options.setTaskRunId === true ? undefined : inProcessLeases(store)
  if (leases === undefined) {
    return attempt(attemptsRun(def, cell, store, body, options, undefined), first) as Effect.Effect<AnyState, never, R>
  }
  // A flow run: its stop is asked for when its attempts start (a runner builds them before it creates the run).
  return withStop(
    leases,
    cell.id,
    (stop) => attempt(attemptsRun(def, cell, store, body, options, stop), first)
  ) as Effect.Effect<AnyState, never, R>
}

/** The `AttemptsRun` of `executeAttempts`' arguments. */
const attemptsRun = (
  def: TaskDefinition,
  cell: RunCell<any, any>,
  store: RunStore_.Service | undefined,
  body: Effect.Effect<any, any, any>,
  options: { readonly recordFinal?: boolean; readonly claimed?: number | undefined; readonly setTaskRunId?: boolean },
  stop: Stop | undefined
): AttemptsRun => {
  const timed = withFlowAnnotations(
    def,
    cell,
    def.timeout === undefined ? body : withRunTimeout(def, cell, body, def.timeout)
  )
  return {
    def,
    cell,
    store,
    // Racing the body forks it: only for runs held here in their caller's fiber.
    timed: stop === undefined ? timed : Effect.raceFirst(timed, Deferred.await(stop.signal)),
    recordFinal: options.recordFinal === true,
    claimed: options.claimed,
    setTaskRunId: options.setTaskRunId === true,
    stop
  }
}

/**
 * How a run of this process held under the store's lease and run in its caller's fiber (an inline
 * call, a flow run) is stopped: a cancel asked anywhere (heard by the store, or seen by its lease
 * renewal), or the run's loss to recovery, sets it. The body of the attempt going on is interrupted,
 * a retry delay cut short, and no further attempt starts: the run ends Cancelled, as a task worker's
 * runs do.
 * @internal
 */
export class Stop {
  /** Set once the stop was asked for: checked before an attempt starts. */
  requested = false
  /** Fails (interrupted) once the stop was asked for: raced with what the run waits on. */
  readonly signal = Deferred.unsafeMake<never>(FiberId.none)
  /** Stops listening for the run's cancel. */
  readonly release: () => void
  constructor(leases: InProcessLeases, runId: string) {
    this.release = leases.onCancel(runId, () => {
      this.requested = true
      Deferred.unsafeDone(this.signal, Exit.interrupt(FiberId.none))
    })
  }
}

/**
 * Runs `f` with the stop of a run the store holds, registered now and released at its end (or with
 * none, if the store does not hold it).
 * @internal
 */
export const withStop = <A, E, R>(
  leases: InProcessLeases,
  runId: string,
  f: (stop: Stop | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    if (!leases.holds(runId)) return f(undefined)
    const stop = new Stop(leases, runId)
    return Effect.ensuring(f(stop), Effect.sync(stop.release))
  })

/** A flow's own body logs with its run id (flows are few: a scoped annotation is cheap enough). */
const withFlowAnnotations = <A, E, R>(def: TaskDefinition, cell: RunCell<any, any>, body: Effect.Effect<A, E, R>) =>
  def.kind === "flow"
    ? Effect.annotateLogs(body, { [RUN_ID_ANNOTATION]: cell.id, [FLOW_RUN_ID_ANNOTATION]: cell.id })
    : body

/**
 * The log annotations of a task run's fiber: its run id, and its flow run's (a user's own Logger
 * prints them; the run logs record them).
 */
const runAnnotations = (fiber: Fiber.RuntimeFiber<unknown, unknown>, runId: string) => {
  const annotations = HashMap.set(fiber.getFiberRef(FiberRef.currentLogAnnotations), RUN_ID_ANNOTATION, runId)
  const flowRunId = fiber.getFiberRef(currentFlowRunId)
  return flowRunId === undefined ? annotations : HashMap.set(annotations, FLOW_RUN_ID_ANNOTATION, flowRunId)
}

/** An inline run (in its caller's fiber): its run id and annotations for the run's length. */
const asInlineRun = <A, E, R>(effect: Effect.Effect<A, E, R>, runId: string): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    effect.pipe(
      Effect.locally(currentTaskRunId, runId),
      Effect.locally(FiberRef.currentLogAnnotations, runAnnotations(fiber, runId))
    )
  )

const withRunTimeout = <A, E, R>(
  def: TaskDefinition,
  cell: RunCell<any, any>,
  body: Effect.Effect<A, E, R>,
  timeout: Duration.Duration
) =>
  Effect.timeoutFailCause(body, {
    duration: timeout,
    onTimeout: () => {
      // A typed failure (not a defect), so `result()` reports it and `catchAll`/`either` see it.
      const error = new Errors.TaskTimeoutError({
        message: `${def.kind === "task" ? "Task run" : "Flow run"} '${def.name}' (${cell.id}) exceeded its ` +
          `timeout of ${secondsText(timeout)}.`
      })
      ownTimeouts.set(error, cell.id)
      return Cause.fail(error)
    }
  })

/**
 * `FiberRuntime.setFiberRef`, public on the class, not on the `RuntimeFiber` interface, and its refs
 * as they are (`getFiberRefs()` first writes the runtime flags into them: a copy of its own).
 */
interface FiberRuntimeSetter {
  readonly _fiberRefs: FiberRefs.FiberRefs
  setFiberRef<A>(fiberRef: FiberRef.FiberRef<A>, value: A): void
}

/**
 * Sets a run's log annotations on its own fiber, in the refs `setFiberRef` just made for its run id
 * (a fresh copy no one else holds): a second `setFiberRef` would copy them again, and this is a step
 * of every run (the annotations are not among the refs a fiber caches).
 */
const annotateInPlace = (runtime: FiberRuntimeSetter, fiber: Fiber.RuntimeFiber<unknown, unknown>, runId: string) => {
  const locals = runtime._fiberRefs.locals
  const stack = locals.get(FiberRef.currentLogAnnotations)
  const id = fiber.id()
  const value = runAnnotations(fiber, runId)
  locals.set(
    FiberRef.currentLogAnnotations,
    stack === undefined ? [[id, value]] : [[id, value], ...(stack[0][0] === id ? stack.slice(1) : stack)]
  )
}

const attempt = (run: AttemptsRun, runCount: number): Effect.Effect<AnyState, never, any> =>
  Effect.withFiberRuntime((fiber) => {
    if (run.setTaskRunId && runCount === (run.claimed ?? 1)) {
      // The fiber is the run's own: set in place, one fiber step less than FiberRef.set.
      const runtime = fiber as unknown as FiberRuntimeSetter
      runtime.setFiberRef(currentTaskRunId, run.cell.id)
      annotateInPlace(runtime, fiber, run.cell.id)
    }
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    if (run.stop !== undefined && runCount !== run.claimed) return heldAttempt(run, run.stop, clock, runCount)
    // Counted where the attempt starts (a held run's, in `heldAttempt`, once it was not stopped).
    if (runCount > 1 && runCount !== run.claimed) recordRetry(run.def)
    const running = runCount === run.claimed ? Exit.succeed(run.cell.state) : recordNow(
      clock,
      run.store,
      run.cell,
      (timestamp) => state_.running({ timestamp, name: runCount === 1 ? "Running" : "Retrying" }),
      { runCount }
    )
    const settle = settleAttempt(run, clock, runCount)
    // On a synchronous store Running is already written: go straight to the body.
    return Exit.isExit(running) && Exit.isSuccess(running) ? settle : Effect.zipRight(running, settle)
  })

/** An attempt's body, and the state its outcome leads to. */
const settleAttempt = (run: AttemptsRun, clock: Clock.Clock, runCount: number): Effect.Effect<AnyState, never, any> =>
  Effect.matchCauseEffect(run.cell.span === undefined ? run.timed : traced(run, clock, runCount), {
    onFailure: (cause) => attemptFailed(run, clock, runCount, cause),
    onSuccess: (value) =>
      finalState(
        run,
        clock,
        state_.completed(value, { timestamp: state_.timestampAt(clock.unsafeCurrentTimeMillis()) })
      )
  })

/**
 * An attempt's body under the run's span, or, for a task with retries, under a span of the attempt
 * (`attempt N`) ended with its outcome.
 */
const traced = (run: AttemptsRun, clock: Clock.Clock, runCount: number): Effect.Effect<any, any, any> => {
  const runSpan = run.cell.span!
  if (run.def.retries === 0) return Effect.provideService(run.timed, Tracer.ParentSpan, runSpan.span)
  const span = startAttemptSpan(runSpan, runCount, clock)
  return Effect.onExit(
    Effect.provideService(run.timed, Tracer.ParentSpan, span),
    (exit) => Effect.sync(() => endAttemptSpan(span, clock, exit))
  )
}

/**
 * An attempt of a run held here in its caller's fiber: none starts once the run was stopped, nor
 * when the store refuses its Running (it was cancelled or recovered meanwhile). The run then ends
 * Cancelled, which the store takes, or, refused as well, gives the store's end (see `recordNow`).
 */
const heldAttempt = (
  run: AttemptsRun,
  stop: Stop,
  clock: Clock.Clock,
  runCount: number
): Effect.Effect<AnyState, never, any> => {
  const stopped = () =>
    finalState(run, clock, state_.cancelled({ timestamp: state_.timestampAt(clock.unsafeCurrentTimeMillis()) }))
  if (stop.requested) return stopped()
  const running = state_.running({
    timestamp: state_.timestampAt(clock.unsafeCurrentTimeMillis()),
    name: runCount === 1 ? "Running" : "Retrying"
  })
  run.cell.state = running
  run.cell.recorded(running)
  return Effect.matchEffect(run.store!.setState(run.cell.id, running, { runCount }), {
    onFailure: (error) => error._tag !== "InvalidTransition" ? Effect.die(error) : stopped(),
    onSuccess: () => {
      if (stop.requested) return stopped()
      if (runCount > 1) recordRetry(run.def)
      return settleAttempt(run, clock, runCount)
    }
  })
}

/** The state a failed attempt leads to: Cancelled, Crashed, a retry, or Failed. */
const attemptFailed = (
  run: AttemptsRun,
  clock: Clock.Clock,
  runCount: number,
  cause: Cause.Cause<unknown>
): Effect.Effect<AnyState, never, any> => {
  const timestamp = state_.timestampAt(clock.unsafeCurrentTimeMillis())
  if (Cause.isInterruptedOnly(cause)) return finalState(run, clock, state_.cancelled({ timestamp }))
  const crash = findCrash(cause)
  if (crash !== undefined) return finalState(run, clock, state_.crashed(cause, { timestamp, message: crash.message }))
  const timedOut = findOwnTimeout(cause, run.cell.id)
  const { def } = run
  if (runCount <= def.retries) {
    return recordNow(clock, run.store, run.cell, () =>
      state_.scheduled({
        timestamp,
        name: "AwaitingRetry",
        message: `Retry ${runCount} of ${def.retries} after ${timedOut === undefined ? "a failure" : "a timeout"}: ${
          state_.causeMessage(cause)
        }`
      })).pipe(
        Effect.zipRight(def.retryDelay === undefined ? Effect.void : retryDelay(run, def.retryDelay)),
        Effect.zipRight(Effect.suspend(() => attempt(run, runCount + 1)))
      )
  }
  return finalState(
    run,
    clock,
    state_.failed(
      cause,
      timedOut !== undefined ? { name: "TimedOut", message: timedOut.message, timestamp } : { timestamp }
    )
  )
}

/** The wait before a retry: cut short by the run's stop, after which no attempt starts (see `heldAttempt`). */
const retryDelay = (run: AttemptsRun, delay: Duration.Duration): Effect.Effect<unknown> =>
  run.stop === undefined
    ? Effect.sleep(delay)
    : Effect.raceFirst(Effect.sleep(delay), Effect.exit(Deferred.await(run.stop.signal)))

const finalState = (run: AttemptsRun, clock: Clock.Clock, state: AnyState): Effect.Effect<AnyState> =>
  run.recordFinal
    ? recordNow(clock, run.store, run.cell, () => state, { persistResult: run.def.persistResult })
    : Effect.succeed(state)

/**
 * What a run executes in place of the task's own body (the worker pool's sends it to a thread and
 * waits for its outcome): a function of the task, the run and its arguments, so a run costs no
 * copy of the task's definition.
 * @internal
 */
export type TaskBody = (
  def: TaskDefinition,
  runId: string,
  args: ReadonlyArray<unknown>
) => Effect.Effect<unknown, unknown>

/**
 * One task run as `executeTaskRun` takes it.
 * @internal
 */
export interface TaskRun {
  readonly def: TaskDefinition
  readonly cell: RunCell<any, any>
  readonly store: RunStore_.Service | undefined
  readonly args: ReadonlyArray<unknown>
  /** Futures the run waits for before it starts, besides those in its arguments. */
  readonly waitFor: ReadonlyArray<unknown>
  /** A bounded runner's permits: the run holds one while it executes. */
  readonly slots?: Effect.Semaphore | undefined
  /**
   * The run has a fiber to itself (the concurrent runner): its task run id is then set once rather
   * than scoped, and the runner records a Cancelled run when the fiber is interrupted.
   */
  readonly ownFiber: boolean
  /** The run count of an attempt a task worker's claim started and recorded as Running already. */
  readonly claimed?: number | undefined
  /** What the run executes in place of the task's own body (see `TaskBody`). */
  readonly body?: TaskBody | undefined
  /**
   * The store's in-process leases, looked up by an inline call (`ownFiber` false): a run they hold
   * is stopped through them from its creation on, its input wait included.
   */
  readonly leases?: InProcessLeases | undefined
  /**
   * Where a task worker's run hangs its span: `executeTaskRun` starts the span there (when tracing
   * is on). Undefined: `executeTaskRun` starts no span; its caller (a runner, an inline call) has
   * set `cell.span` already, or the run has none. (`executeFlowRun`'s differs: undefined is `current`.)
   */
  readonly spanParent?: RunSpanParent | undefined
}

/**
 * One task run, start to end: inputs, slot, attempts, final state.
 * @internal
 */
export const executeTaskRun = <R>(run: TaskRun): Effect.Effect<AnyState, never, R> => {
  run.cell.def = run.def
  if (run.spanParent !== undefined) {
    // A task worker's run: its span hangs where the run's trace context says, not on the worker's.
    const spanParent = run.spanParent
    return Effect.withFiberRuntime((fiber) => {
      if (tracingOn(fiber)) {
        run.cell.span = startRunSpan(
          fiber,
          run.def,
          run.cell.id,
          run.cell.state,
          run.args,
          fiber.getFiberRef(currentFlowRunId),
          spanParent
        )
      }
      return executeTaskRun<R>({ ...run, spanParent: undefined })
    })
  }
  if (run.ownFiber) return executeInputs<R>(run, "none")
  const leases = run.leases
  const execution: Effect.Effect<AnyState, never, R> = leases === undefined
    ? executeInputs<R>(run, "none")
    : withStop(leases, run.cell.id, (stop) => executeInputs<R>(run, stop ?? "none"))
  return Effect.onInterrupt(execution, () => cancel(run.store, run.cell))
}

/**
 * A run's inputs, then its attempts. A run held here in its caller's fiber is stopped while it waits
 * for its inputs too: its stop was registered when it was created, so a cancel then is not taken for
 * one of a run nothing here runs (which the store would end Cancelled while the body still ran).
 */
const executeInputs = <R>(run: TaskRun, stop: Stop | "none"): Effect.Effect<AnyState, never, R> => {
  if (plainArguments(run.args, run.waitFor)) return executeResolved<R>(run, run.args, stop)
  if (stop === "none") {
    return Effect.flatMap(resolveInputs(run.args, run.waitFor), (inputs) => resolved<R>(run, inputs, stop))
  }
  return Effect.matchCauseEffect(Effect.raceFirst(resolveInputs(run.args, run.waitFor), Deferred.await(stop.signal)), {
    // Only the stop fails it.
    onFailure: () => cancel(run.store, run.cell),
    onSuccess: (inputs) => resolved<R>(run, inputs, stop)
  })
}

/** A run whose inputs were waited for: NotReady, or its attempts. */
const resolved = <R>(
  run: TaskRun,
  inputs: Effect.Effect.Success<ReturnType<typeof resolveInputs>>,
  stop: Stop | "none"
): Effect.Effect<AnyState, never, R> =>
  "notReady" in inputs
    ? record(
      run.store,
      run.cell,
      (timestamp) => state_.pending({ timestamp, name: "NotReady", message: inputs.notReady.message })
    )
    : executeResolved<R>(run, inputs.args, stop)

/** A task run whose inputs are known: its attempts, in its slot. */
const executeResolved = <R>(
  run: TaskRun,
  inputs: ReadonlyArray<unknown>,
  stop: Stop | "none"
): Effect.Effect<AnyState, never, R> => {
  const { body, cell, def } = run
  const effect = body === undefined ? def.fn(...inputs) : body(def, cell.id, inputs)
  const attempts = executeAttempts(def, cell, run.store, effect as Effect.Effect<any, any, R>, {
    recordFinal: true,
    claimed: run.claimed,
    setTaskRunId: run.ownFiber,
    stop
  })
  const withRun = run.ownFiber ? attempts : asInlineRun(attempts, cell.id)
  return run.slots === undefined ? withRun : withSlot(run.slots, withRun)
}

/**
 * The store's creation of a run whose span started already (at its submit): if the run cannot be
 * created, its span ends Crashed with the cause, and the run, which never existed, is not counted.
 * @internal
 */
export const creating = <A, R>(
  cell: RunCell<any, any>,
  create: Effect.Effect<A, never, R>
): Effect.Effect<A, never, R> =>
  cell.span === undefined ? create : Effect.onError(create, (cause) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        cell.def = undefined
        cell.end(state_.crashed(cause, {
          timestamp: state_.timestampAt(clock.unsafeCurrentTimeMillis()),
          message: "The run could not be created in the run store."
        }))
      })
    ))

/** Records a run as Cancelled (its fiber was interrupted). @internal */
export const cancel = (store: RunStore_.Service | undefined, cell: RunCell<any, any>): Effect.Effect<AnyState> =>
  record(store, cell, (timestamp) => state_.cancelled({ timestamp }))

/**
 * Ends a run created here and run in its caller's fiber (an inline call, a flow run) when its
 * execution did not: Cancelled when the caller was interrupted; Crashed when it died (a store out of
 * reach, say) while the store still holds it, so that no row stays held, renewed and unfinished with
 * nothing to run it. The Crashed write may fail too: it lets go of the hold however it ends.
 * @internal
 */
export const endUnfinished = (
  store: RunStore_.Service | undefined,
  cell: RunCell<any, any>
) =>
(exit: Exit.Exit<unknown, unknown>): Effect.Effect<unknown> => {
  if (Exit.isSuccess(exit)) return Effect.void
  if (Cause.isInterruptedOnly(exit.cause)) return cancel(store, cell)
  if (store === undefined || inProcessLeases(store)?.holds(cell.id) !== true) return Effect.void
  return Effect.catchAllCause(
    record(
      store,
      cell,
      (timestamp) => state_.crashed(exit.cause, { timestamp, message: "The run died in its process before it ended." })
    ),
    () => Effect.void
  )
}

/** No futures to wait for: the common case, which skips the walk over the arguments. @internal */
export const plainArguments = (args: ReadonlyArray<unknown>, waitFor: ReadonlyArray<unknown>) =>
  waitFor.length === 0 && args.every(isPlainValue)

const isPlainValue = (arg: unknown) => typeof arg !== "object" || arg === null
