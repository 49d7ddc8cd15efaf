import { Cause, Chunk, Clock, Duration, Effect, Exit, Fiber, Option, Predicate, Runtime, Stream } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import * as Errors from "../../Errors.js"
import type * as Futures from "../../Futures.js"
import type * as RunStore_ from "../../RunStore.js"
import type * as State from "../../State.js"
import { seconds, withTimeout } from "../core/duration.js"
import { makeRunId } from "../core/runId.js"
import * as state_ from "../core/state.js"
import { RunCell } from "../run/runCell.js"
import { releasingSlot } from "../run/slot.js"
import { RunStore } from "../store/runStore.js"

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
  /** Notes that the run's outcome was read. */
  markOutcomeRead(): void
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
    return releasingSlot(Effect.async<State.State<A, E>>((resume) => {
      const unsubscribe = future.unsafeObserve((state) => resume(Effect.succeed(state)))
      return Effect.sync(unsubscribe)
    }))
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
        new Errors.WaitTimeoutError({ message: `${this.label} did not complete within ${seconds(timeout)} seconds` })
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
  constructor(readonly taskRunId: string, readonly store: RunStore_.Service, readonly label: string) {
    super()
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
        // A store that stays away, or a state that does not decode, is a defect here: `state` has no error channel.
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
export const cancel = <A, E>(future: Futures.PrefectFuture<A, E>): Effect.Effect<void> => {
  if (future instanceof StoreFuture) {
    return Effect.asVoid(
      Effect.orDie(Effect.catchTag(future.store.cancelRun(future.taskRunId), "RunNotFound", () => Effect.void))
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

// ---------------------------------------------------------------------------------------------
// PrefectFutureList
// ---------------------------------------------------------------------------------------------

/** Unique futures, in first-seen order (futures are compared by identity). */
const unique = <A, E>(futures: Iterable<Futures.PrefectFuture<A, E>>): Array<InternalFuture<A, E>> =>
  Array.from(new Set(futures), internals)

/**
 * Suspends until every future is done, observing one at a time: the first one not done, then the
 * next from there when it ends. A wait that times out on thousands of unfinished futures then
 * leaves one observer to remove, not thousands, and allocates next to nothing while it waits.
 */
const awaitEvery = <A, E>(pending: ReadonlyArray<FutureInternals<A, E>>): Effect.Effect<void> =>
  pending.length === 0 ? Effect.void : releasingSlot(Effect.async<void>((resume) => {
    let index = 0
    let unsubscribe: (() => void) | undefined
    const next = () => {
      while (index < pending.length && pending[index].unsafeDone() !== undefined) index++
      if (index === pending.length) {
        unsubscribe = undefined
        return resume(Effect.void)
      }
      unsubscribe = pending[index].unsafeObserve(next)
    }
    next()
    return Effect.sync(() => unsubscribe?.())
  }))

/**
 * Suspends until `isEnough` says the futures done so far suffice, or every future is done.
 * `onDone` sees futures in completion order.
 */
const awaitMany = <A, E>(
  pending: ReadonlyArray<FutureInternals<A, E>>,
  onDone: (future: FutureInternals<A, E>, state: State.State<A, E>) => boolean
): Effect.Effect<void> =>
  pending.length === 0 ? Effect.void : releasingSlot(Effect.async<void>((resume) => {
    let remaining = pending.length
    let resumed = false
    const unsubscribes: Array<() => void> = new Array(pending.length)
    for (let i = 0; i < pending.length; i++) {
      const future = pending[i]
      unsubscribes[i] = future.unsafeObserve((state) => {
        remaining--
        if (resumed) return
        if (onDone(future, state) || remaining === 0) {
          resumed = true
          resume(Effect.void)
        }
      })
      if (resumed) break
    }
    return Effect.sync(() => {
      for (let i = 0; i < unsubscribes.length; i++) unsubscribes[i]?.()
    })
  }))

class FutureList<A, E> implements Futures.PrefectFutureList<A, E> {
  constructor(readonly futures: ReadonlyArray<Futures.PrefectFuture<A, E>>) {}
  get length() {
    return this.futures.length
  }
  at(index: number) {
    return this.futures.at(index)
  }
  [Symbol.iterator]() {
    return this.futures[Symbol.iterator]()
  }
  wait(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<void> {
    return Effect.asVoid(wait(this.futures, options))
  }
  result(options?: {
    readonly timeout?: Duration.DurationInput
    readonly raiseOnFailure?: boolean
  }): Effect.Effect<any, any> {
    return listResult(this.futures, options)
  }
  pipe() {
    // eslint-disable-next-line prefer-rest-params -- Pipeable takes the arguments object, as in Effect
    return pipeArguments(this, arguments)
  }
}

/** @internal */
export const makeList = <A, E>(futures: Iterable<Futures.PrefectFuture<A, E>>): Futures.PrefectFutureList<A, E> =>
  new FutureList(Array.from(futures))

/** @internal */
export const isFutureList = (u: unknown): u is Futures.PrefectFutureList<unknown, unknown> => u instanceof FutureList

/**
 * Results in input order; the first failure in completion order fails the whole (PR #20592); the
 * timeout counts result retrieval too (#22633).
 */
const listResult = <A, E>(
  futures: ReadonlyArray<Futures.PrefectFuture<A, E>>,
  options?: { readonly timeout?: Duration.DurationInput; readonly raiseOnFailure?: boolean }
): Effect.Effect<Array<unknown>, unknown> =>
  withTimeout(options?.timeout, (timeout) =>
    Effect.gen(function*() {
      const raiseOnFailure = options?.raiseOnFailure !== false
      const all = unique(futures)
      for (const future of all) future.markOutcomeRead()
      // Runs that did not complete, in completion order: with raiseOnFailure, the first one raises.
      const failures: Array<FutureInternals<A, E>> = []
      const pending: Array<FutureInternals<A, E>> = []
      for (const future of all) {
        const done = future.unsafeDone()
        if (done === undefined) pending.push(future)
        else if (!state_.isCompleted(done)) failures.push(future)
      }
      const start = timeout === undefined ? 0 : yield* Clock.currentTimeMillis
      if (!(raiseOnFailure && failures.length > 0)) {
        const waitAll = awaitMany(pending, (future, state) => {
          if (state_.isCompleted(state)) return false
          failures.push(future)
          return raiseOnFailure
        })
        if (timeout === undefined) yield* waitAll
        // A failure would have woken the wait before the deadline, so a timeout means unfinished runs.
        else if (Option.isNone(yield* Effect.timeoutOption(waitAll, timeout))) {
          return yield* Effect.fail(timeoutError(timeout))
        }
      }
      const resultOptions = { raiseOnFailure }
      if (raiseOnFailure && failures.length > 0) {
        return yield* (state_.result(failures[0].unsafeDone()!, resultOptions) as Effect.Effect<never, unknown>)
      }
      if (timeout !== undefined && (yield* Clock.currentTimeMillis) - start > Duration.toMillis(timeout)) {
        return yield* Effect.fail(timeoutError(timeout))
      }
      const out = new Array(futures.length)
      for (let i = 0; i < futures.length; i++) {
        const result = state_.result(internals(futures[i]).unsafeDone()!, resultOptions)
        // Most results are Exits already: take a success's value without a fiber step.
        out[i] = Exit.isExit(result) && Exit.isSuccess(result) ? result.value : yield* result
      }
      return out
    }))

const timeoutError = (timeout: Duration.Duration) =>
  new Errors.WaitTimeoutError({
    message: `Timed out waiting for all futures to complete within ${seconds(timeout)} seconds`
  })

// ---------------------------------------------------------------------------------------------
// wait, asCompleted
// ---------------------------------------------------------------------------------------------

const makeDoneAndNotDone = <A, E>(
  done: ReadonlySet<Futures.PrefectFuture<A, E>>,
  notDone: ReadonlySet<Futures.PrefectFuture<A, E>>
): Futures.DoneAndNotDoneFutures<A, E> =>
  Object.assign([done, notDone] as const, { done, notDone }) as unknown as Futures.DoneAndNotDoneFutures<A, E>

const isIterableArg = (args: IArguments | ReadonlyArray<unknown>) =>
  Predicate.isIterable(args[0]) && !(typeof args[0] === "string")

/** @internal */
export const wait: {
  (options?: {
    readonly timeout?: Duration.DurationInput
    readonly returnWhen?: Futures.ReturnWhen
  }): <A, E>(futures: Iterable<Futures.PrefectFuture<A, E>>) => Effect.Effect<Futures.DoneAndNotDoneFutures<A, E>>
  <A, E>(
    futures: Iterable<Futures.PrefectFuture<A, E>>,
    options?: { readonly timeout?: Duration.DurationInput; readonly returnWhen?: Futures.ReturnWhen }
  ): Effect.Effect<Futures.DoneAndNotDoneFutures<A, E>>
} = dual(isIterableArg, <A, E>(
  futures: Iterable<Futures.PrefectFuture<A, E>>,
  options?: { readonly timeout?: Duration.DurationInput; readonly returnWhen?: Futures.ReturnWhen }
): Effect.Effect<Futures.DoneAndNotDoneFutures<A, E>> =>
  withTimeout(options?.timeout, (timeout) => {
    const all = unique(futures)
    const returnWhen = options?.returnWhen ?? "ALL_COMPLETED"
    const split = () => {
      const done = new Set<Futures.PrefectFuture<A, E>>()
      const notDone = new Set<Futures.PrefectFuture<A, E>>()
      for (const future of all) {
        ;(future.unsafeDone() === undefined ? notDone : done).add(future)
      }
      return makeDoneAndNotDone(done, notDone)
    }
    const pending: Array<FutureInternals<A, E>> = []
    let satisfied = false
    for (const future of all) {
      const done = future.unsafeDone()
      if (done === undefined) pending.push(future)
      else if (returnWhen === "FIRST_COMPLETED") satisfied = true
      else if (returnWhen === "FIRST_EXCEPTION" && !state_.isCompleted(done)) satisfied = true
    }
    if (satisfied || pending.length === 0) return Effect.sync(split)
    const waitAll = returnWhen === "ALL_COMPLETED" ?
      awaitEvery(pending) :
      awaitMany(
        pending,
        (_, state) =>
          returnWhen === "FIRST_COMPLETED" || (returnWhen === "FIRST_EXCEPTION" && !state_.isCompleted(state))
      )
    const timed = timeout === undefined ? waitAll : Effect.asVoid(Effect.timeoutOption(waitAll, timeout))
    return Effect.map(timed, split)
  }))

/** @internal */
export const asCompleted: {
  (options?: {
    readonly timeout?: Duration.DurationInput
  }): <A, E>(
    futures: Iterable<Futures.PrefectFuture<A, E>>
  ) => Stream.Stream<Futures.PrefectFuture<A, E>, Errors.WaitTimeoutError>
  <A, E>(
    futures: Iterable<Futures.PrefectFuture<A, E>>,
    options?: { readonly timeout?: Duration.DurationInput }
  ): Stream.Stream<Futures.PrefectFuture<A, E>, Errors.WaitTimeoutError>
} = dual(isIterableArg, <A, E>(
  futures: Iterable<Futures.PrefectFuture<A, E>>,
  options?: { readonly timeout?: Duration.DurationInput }
): Stream.Stream<Futures.PrefectFuture<A, E>, Errors.WaitTimeoutError> =>
  Stream.unwrapScoped(withTimeout(options?.timeout, (timeout) =>
    Effect.gen(function*() {
      const all = unique(futures)
      const doneNow: Array<Futures.PrefectFuture<A, E>> = []
      const pending: Array<InternalFuture<A, E>> = []
      for (const future of all) {
        if (future.unsafeDone() === undefined) pending.push(future)
        else doneNow.push(future)
      }
      if (pending.length === 0) return Stream.fromIterable(doneNow)
      const deadline = timeout === undefined ? undefined : (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)

      // Completions land in `buffer`; a waiting pull is woken through `wake`.
      let buffer: Array<Futures.PrefectFuture<A, E>> = []
      let wake: (() => void) | undefined
      let unfinished = pending.length
      const unsubscribes = pending.map((future) =>
        future.unsafeObserve(() => {
          unfinished--
          buffer.push(future)
          const w = wake
          wake = undefined
          w?.()
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => unsubscribes.forEach((unsubscribe) => unsubscribe())))

      let emitted = 0
      const takeBuffer = () => {
        const chunk = Chunk.unsafeFromArray(buffer)
        emitted += buffer.length
        buffer = []
        return chunk
      }
      const unfinishedError = () =>
        new Errors.WaitTimeoutError({ message: `${unfinished} (of ${all.length}) futures unfinished` })
      const waitForMore = releasingSlot(Effect.async<void>((resume) => {
        wake = () => resume(Effect.void)
        return Effect.sync(() => {
          wake = undefined
        })
      }))
      const pull: Effect.Effect<Chunk.Chunk<Futures.PrefectFuture<A, E>>, Option.Option<Errors.WaitTimeoutError>> =
        Effect.suspend(() => {
          if (buffer.length > 0) return Effect.succeed(takeBuffer())
          if (emitted === pending.length) return Effect.fail(Option.none())
          if (deadline === undefined) return Effect.map(waitForMore, takeBuffer)
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const remaining = deadline - now
            if (remaining <= 0) return Effect.fail(Option.some(unfinishedError()))
            return Effect.timeoutFail(Effect.map(waitForMore, takeBuffer), {
              duration: remaining,
              onTimeout: () => Option.some(unfinishedError())
            })
          })
        })
      return Stream.concat(Stream.fromIterable(doneNow), Stream.repeatEffectChunkOption(pull))
    }))))
