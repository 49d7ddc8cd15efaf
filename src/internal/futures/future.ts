import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Errors from "../../Errors.js"
import type * as Futures from "../../Futures.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as State from "../../State.js"
import { secondsText, withTimeout } from "../core/duration.js"
import { makeRunId } from "../core/runId.js"
import * as state_ from "../core/state.js"
import { RunCell } from "../run/runCell.js"
import { releasingSlot } from "../run/slot.js"
import { RunStore, unclaimedAfterOf } from "../store/runStore.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("effect-taskflow/PrefectFuture")

/**
 * What every future implements underneath its public methods. `wait`, `asCompleted`,
 * `PrefectFutureList` and `resolve*` use only this, so they work for every kind of future and a
 * user's done callback can never stall them (Prefect #21615).
 * @internal
 */
export interface FutureInternals<A, E> {
  readonly [TypeId]: typeof TypeId
  readonly taskRunId: string
  /** The state that ended the run's execution (final, or NotReady/Paused), if it ended. */
  unsafeDone(): State.State<A, E> | undefined
  /** Calls `onDone` once when execution ends (at once if it has). Returns the unsubscribe. */
  unsafeObserve(onDone: (state: State.State<A, E>) => void): () => void
  /** How the run is named in timeout messages ("Task run <id>"). */
  readonly label: string
  /** The run's task or flow name, where this process knows it. */
  readonly runName: string | undefined
  /** Notes that the run's outcome was read. */
  markOutcomeRead(): void
  /** What runs beside a `wait` or `result` until the run is done (a store future's unclaimed check). */
  whileWaiting?(): Effect.Effect<void> | undefined
}

/** A future with its internals in view. @internal */
export type InternalFuture<A, E> = Futures.PrefectFuture<A, E> & FutureInternals<A, E>

/** @internal */
export type AnyFuture = InternalFuture<any, any>

/** @internal */
export const isPrefectFuture = (u: unknown): u is Futures.PrefectFuture<unknown, unknown> =>
  Predicate.hasProperty(u, TypeId)

/** @internal */
export const internals = <A, E>(future: Futures.PrefectFuture<A, E>): InternalFuture<A, E> =>
  future as InternalFuture<A, E>

const noop = () => {}

// ---------------------------------------------------------------------------------------------
// Futures
// ---------------------------------------------------------------------------------------------

/** Suspends until the future is done. @internal */
export const awaitDone = <A, E>(future: FutureInternals<A, E>): Effect.Effect<State.State<A, E>> =>
  Effect.suspend(() => {
    const done = future.unsafeDone()
    if (done !== undefined) return Effect.succeed(done)
    const ended = Effect.async<State.State<A, E>>((resume) => {
      const unsubscribe = future.unsafeObserve((state) => resume(Effect.succeed(state)))
      return Effect.sync(unsubscribe)
    })
    const beside = future.whileWaiting?.()
    // The side check never ends the wait: it is interrupted when the run is done.
    return releasingSlot(beside === undefined ? ended : Effect.race(ended, Effect.zipRight(beside, Effect.never)))
  })

const runCallback = <F>(future: F, taskRunId: string, fn: (future: F) => Effect.Effect<void, unknown> | void) =>
  Effect.suspend(() => {
    const returned = fn(future)
    return Effect.isEffect(returned) ? returned : Effect.void
  }).pipe(
    Effect.catchAllCause((cause) => Effect.logError(`A done callback of run ${taskRunId} failed`, cause)),
    Effect.asVoid
  )

/**
 * The methods every future shares, written once on a prototype.
 * @internal
 */
export abstract class FutureBase<A, E> implements FutureInternals<A, E>, Futures.PrefectFuture<A, E> {
  readonly [TypeId]: typeof TypeId = TypeId
  abstract readonly taskRunId: string
  abstract readonly label: string
  get runName(): string | undefined {
    return undefined
  }
  abstract unsafeDone(): State.State<A, E> | undefined
  abstract unsafeObserve(onDone: (state: State.State<A, E>) => void): () => void
  abstract readonly state: Effect.Effect<State.State<A, E>>
  markOutcomeRead(): void {}

  wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void> {
    return withTimeout(options?.timeout, (timeout) => {
      if (this.unsafeDone() !== undefined) return Effect.void
      const wait = awaitDone(this)
      return timeout === undefined ? Effect.asVoid(wait) : Effect.asVoid(Effect.timeoutOption(wait, timeout))
    })
  }

  result(options?: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure?: boolean
  }): Effect.Effect<any, any> {
    // Without options (the common call) there is no timeout to decode: one closure less per call.
    if (options === undefined) return Effect.suspend(() => this.resultNow(undefined, undefined))
    return withTimeout(options.timeout, (timeout) => this.resultNow(timeout, options))
  }

  private resultNow(
    timeout: Duration.Duration | undefined,
    options: { readonly raiseOnFailure?: boolean } | undefined
  ): Effect.Effect<any, any> {
    this.markOutcomeRead()
    const done = this.unsafeDone()
    if (done !== undefined) return state_.result(done, options)
    const wait = awaitDone(this)
    const timed = timeout === undefined ? wait : Effect.timeoutFail(wait, {
      duration: timeout,
      onTimeout: () =>
        new Errors.WaitTimeoutError({ message: `${this.label} did not complete within ${secondsText(timeout)}` })
    })
    return Effect.flatMap(timed, (state) => state_.result(state, options))
  }

  addDoneCallback(
    fn: (future: Futures.PrefectFuture<A, E>) => Effect.Effect<void, unknown> | void
  ): Effect.Effect<void> {
    return Effect.flatMap(Effect.runtime<never>(), (runtime) =>
      Effect.suspend(() => {
        const callback = runCallback(this as Futures.PrefectFuture<A, E>, this.taskRunId, fn)
        if (this.unsafeDone() !== undefined) return callback
        // Every callback is its own fiber: none overwrites, blocks or stalls another.
        this.unsafeObserve(() => {
          Runtime.runFork(runtime)(callback)
        })
        return Effect.void
      }))
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params -- Pipeable takes the arguments object, as in Effect
    return pipeArguments(this, arguments)
  }

  toJSON() {
    return { _id: "PrefectFuture", taskRunId: this.taskRunId, state: this.unsafeDone()?.type ?? "NOT_DONE" }
  }
}

/** A future that reads a run's cell in this process. */
abstract class CellFuture<A, E> extends FutureBase<A, E> {
  constructor(readonly cell: RunCell<A, E>) {
    super()
  }
  get taskRunId() {
    return this.cell.id
  }
  get label() {
    return `Task run ${this.cell.id}`
  }
  override get runName(): string | undefined {
    return this.cell.name
  }
  get state(): Effect.Effect<State.State<A, E>> {
    return Effect.sync(() => this.cell.state)
  }
  unsafeDone() {
    return this.cell.done
  }
  override markOutcomeRead() {
    this.cell.outcomeRead = true
  }
  unsafeObserve(onDone: (state: State.State<A, E>) => void) {
    return this.cell.observe(onDone)
  }
}

/**
 * A run executing in this process, on a fiber of the concurrent runner (or a worker thread's proxy
 * fiber). `wrappedFuture` is that fiber; it yields the state the run ended in.
 * @internal
 */
export class ConcurrentFuture<A, E> extends CellFuture<A, E> implements Futures.PrefectConcurrentFuture<A, E> {
  get wrappedFuture(): Fiber.Fiber<State.State<A, E>> {
    return this.cell.fiber!
  }
}

/** The state an Effect exit gives a run. @internal */
export const stateFromExit = <A, E>(exit: Exit.Exit<A, E>, timestamp?: Date): State.State<A, E> => {
  const options = timestamp === undefined ? undefined : { timestamp }
  if (Exit.isSuccess(exit)) return state_.completed(exit.value, options)
  return Cause.isInterruptedOnly(exit.cause) ? state_.cancelled(options) : state_.failed(exit.cause, options)
}

/** @internal */
export const fromFiber = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<Futures.PrefectFuture<A, E>> =>
  Effect.sync(() => {
    const cell = new RunCell<A, E>(makeRunId(), "fiber", state_.running())
    return new FiberFuture(cell, fiber)
  }).pipe(Effect.tap((future) => future.watch()))

/** A future over any Effect fiber: success → Completed, failure → Failed, interruption → Cancelled. */
class FiberFuture<A, E> extends CellFuture<A, E> {
  constructor(cell: RunCell<A, E>, readonly source: Fiber.Fiber<A, E>) {
    super(cell)
  }
  override get runName(): string | undefined {
    return undefined
  }
  watch(): Effect.Effect<void> {
    const source = this.source
    if ("addObserver" in source && typeof source.addObserver === "function") {
      ;(source as Fiber.RuntimeFiber<A, E>).addObserver((exit) => this.cell.complete(stateFromExit(exit)))
      return Effect.void
    }
    return Effect.asVoid(Effect.forkDaemon(Effect.map(source.await, (exit) => this.cell.complete(stateFromExit(exit)))))
  }
}

// ---------------------------------------------------------------------------------------------
// Futures that follow a run in the RunStore by id
// ---------------------------------------------------------------------------------------------

/**
 * Follows a run in the store: the state is read from the store, and completion is pushed by the
 * store's subscription.
 * @internal
 */
export class StoreFuture<A, E> extends FutureBase<A, E> {
  private final: State.State<A, E> | undefined = undefined
  /** The newest state the store's subscription delivered. */
  private latest: State.State<A, E> | undefined = undefined
  /** Whether this future warned that no live worker claims its run (it warns once). */
  private warnedUnclaimed = false
  constructor(readonly taskRunId: string, readonly store: RunStore_.Service, readonly label: string) {
    super()
  }
  /**
   * While a `wait` or `result` waits: every `unclaimedAfter` (30 s by default) that the run still
   * reads Scheduled by what the subscription delivered, one `getRun` asks the store whether it waits
   * with no live worker serving its name (`RunRecord.unclaimedFor`); if so, one warning names the task
   * and the run. No reads before then, and none once the subscription saw the run claimed.
   */
  whileWaiting(): Effect.Effect<void> | undefined {
    if (this.warnedUnclaimed) return undefined
    const check = Effect.suspend(() => {
      const latest = this.latest
      if (this.warnedUnclaimed || (latest !== undefined && latest.type !== "SCHEDULED")) return Effect.void
      return this.store.getRun(this.taskRunId).pipe(
        Effect.flatMap((run) => this.warnUnclaimed(run)),
        Effect.catchAllCause(() => Effect.void)
      )
    })
    const after = Duration.millis(unclaimedAfterOf(this.store))
    return Effect.forever(Effect.zipRight(Effect.sleep(after), check))
  }
  private warnUnclaimed(run: RunStore_.RunRecord): Effect.Effect<void> {
    if (run.unclaimedFor === undefined || this.warnedUnclaimed) return Effect.void
    this.warnedUnclaimed = true
    const kind = run.kind === "flow" ? "flow" : "task"
    return Effect.logWarning(
      `No live task worker has claimed runs of ${kind} '${run.name}' for ${
        Math.floor(Duration.toSeconds(run.unclaimedFor))
      } seconds: ` +
        `${kind} run ${run.id} stays Scheduled until a task worker serving '${run.name}' runs ` +
        `(TaskWorker.serve with this ${kind}, on this run store).`
    ).pipe(Effect.annotateLogs({ "taskflow.run.id": run.id, "taskflow.run.name": run.name }))
  }
  get flowRunId() {
    return this.taskRunId
  }
  get state(): Effect.Effect<State.State<A, E>> {
    return Effect.suspend(() => {
      if (this.final !== undefined) return Effect.succeed(this.final)
      return this.store.getRun(this.taskRunId).pipe(
        Effect.map((run) => this.settle(run.state as State.State<A, E>)),
        // An unknown run reads as Pending, as in Prefect; it may not have been created yet.
        Effect.catchTag("RunNotFound", () => Effect.succeed(state_.pending() as State.State<A, E>)),
        // A row that does not read (a result that does not decode, a corrupt row) is a Crashed state
        // carrying the SerializationError, as `result()` reports it; not final, so a repaired row reads.
        Effect.catchTag("SerializationError", (error) =>
          Effect.succeed(
            state_.crashed(Cause.die(error), { message: error.message }) as unknown as State.State<A, E>
          )),
        // A store that stays away is a defect here: `state` has no error channel.
        Effect.orDie
      )
    })
  }
  private settle(state: State.State<A, E>): State.State<A, E> {
    if (this.final === undefined && state_.isFinal(state)) this.final = state
    return state
  }
  unsafeDone() {
    return this.final
  }
  unsafeObserve(onDone: (state: State.State<A, E>) => void) {
    if (this.final !== undefined) {
      onDone(this.final)
      return noop
    }
    let fired = false
    const fire = (state: State.State<A, E>) => {
      this.latest = state
      this.settle(state)
      if (fired || this.final === undefined) return
      fired = true
      unsubscribe()
      onDone(this.final)
    }
    // The store delivers the current state too, so nothing between a read and this is missed.
    const unsubscribe = this.store.unsafeSubscribe(this.taskRunId, (state) => fire(state as State.State<A, E>))
    return () => {
      fired = true
      unsubscribe()
    }
  }
}

/** @internal */
export const cancel = <A, E>(future: Futures.PrefectFuture<A, E>): Effect.Effect<void, Errors.RunNotFound> => {
  if (future instanceof StoreFuture) {
    // A run id the store does not know is a mistake to report, not a cancel that silently did nothing.
    return Effect.asVoid(
      Effect.catchIf(future.store.cancelRun(future.taskRunId), (error) => error._tag !== "RunNotFound", Effect.die)
    )
  }
  if (future instanceof FiberFuture) return Effect.asVoid(Effect.fork(Fiber.interrupt(future.source)))
  if (future instanceof ConcurrentFuture) {
    const fiber = future.cell.fiber
    return fiber === undefined ? Effect.void : Effect.asVoid(Effect.fork(Fiber.interrupt(fiber)))
  }
  return Effect.void
}

/** @internal */
export const distributedFuture = <A, E>(taskRunId: string) =>
  Effect.map(RunStore, (store) => new StoreFuture<A, E>(taskRunId, store, `Task run ${taskRunId}`))

/** @internal */
export const flowRunFuture = <A, E>(flowRunId: string) =>
  Effect.map(RunStore, (store) => new StoreFuture<A, E>(flowRunId, store, `Flow run ${flowRunId}`))
