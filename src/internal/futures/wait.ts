import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Errors from "../../Errors.js"
import type * as Futures from "../../Futures.js"
import type * as State from "../../State.js"
import { Attributes } from "../../Telemetry.js"
import { withTimeout } from "../core/duration.js"
import * as state_ from "../core/state.js"
import { releasingSlot } from "../run/slot.js"
import { tracingOn } from "../telemetry/spanParent.js"
import type { FutureInternals, InternalFuture } from "./future.js"
import { internals } from "./future.js"

/** Unique futures, in first-seen order (futures are compared by identity). @internal */
export const unique = <A, E>(futures: Iterable<Futures.PrefectFuture<A, E>>): Array<InternalFuture<A, E>> =>
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
 * @internal
 */
export const awaitMany = <A, E>(
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

/**
 * A wait on several futures as a `taskflow.wait` span, when a tracer is installed: how many it waited
 * on (`taskflow.wait.count`), and how many were done or not when it ended. A single future's wait
 * (`result()`, `wait()`) has none: a span per wait would drown a trace.
 * @internal
 */
export const traceWait = <A, E, R>(
  all: ReadonlyArray<FutureInternals<unknown, unknown>>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    if (all.length === 0 || !tracingOn(fiber)) return effect
    // No stack trace: capturing one costs more than the span itself.
    return Effect.withSpan(Effect.ensuring(effect, waitOutcome(all)), "taskflow.wait", {
      attributes: { [Attributes.waitCount]: all.length },
      captureStackTrace: false
    })
  })

/** How many of a wait's futures were done, and not, when it ended: on its span. */
const waitOutcome = (all: ReadonlyArray<FutureInternals<unknown, unknown>>) =>
  Effect.suspend(() => {
    let done = 0
    for (let i = 0; i < all.length; i++) if (all[i].unsafeDone() !== undefined) done++
    return Effect.annotateCurrentSpan({ [Attributes.waitDone]: done, [Attributes.waitNotDone]: all.length - done })
  })

const makeDoneAndNotDone = <A, E>(
  done: ReadonlySet<Futures.PrefectFuture<A, E>>,
  notDone: ReadonlySet<Futures.PrefectFuture<A, E>>
): Futures.DoneAndNotDoneFutures<A, E> => Object.assign([done, notDone] as const, { done, notDone })

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
    return traceWait(all, waitOn(all, timeout, options?.returnWhen))
  }))

/** `wait` on unique futures. */
const waitOn = <A, E>(
  all: ReadonlyArray<InternalFuture<A, E>>,
  timeout: Duration.Duration | undefined,
  returnWhenOption: Futures.ReturnWhen | undefined
): Effect.Effect<Futures.DoneAndNotDoneFutures<A, E>> => {
  const returnWhen = returnWhenOption ?? "ALL_COMPLETED"
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
      (_, state) => returnWhen === "FIRST_COMPLETED" || (returnWhen === "FIRST_EXCEPTION" && !state_.isCompleted(state))
    )
  const timed = timeout === undefined ? waitAll : Effect.asVoid(Effect.timeoutOption(waitAll, timeout))
  return Effect.map(timed, split)
}

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
      if (all.length > 0 && (yield* Effect.withFiberRuntime((fiber) => Effect.succeed(tracingOn(fiber))))) {
        // The span lasts as long as the stream is read: it ends with the stream's scope.
        const span = yield* Effect.makeSpanScoped("taskflow.wait", {
          attributes: { [Attributes.waitCount]: all.length },
          captureStackTrace: false
        })
        yield* Effect.addFinalizer(() => Effect.provideService(waitOutcome(all), Tracer.ParentSpan, span))
      }
      return yield* completions(all, timeout)
    }))))

/** The stream of `asCompleted` on unique futures; its scope ends the observers. */
const completions = <A, E>(all: ReadonlyArray<InternalFuture<A, E>>, timeout: Duration.Duration | undefined) =>
  Effect.gen(function*() {
    const doneNow: Array<Futures.PrefectFuture<A, E>> = []
    const pending: Array<InternalFuture<A, E>> = []
    for (const future of all) {
      if (future.unsafeDone() === undefined) pending.push(future)
      else doneNow.push(future)
    }
    if (pending.length === 0) return Stream.fromIterable(doneNow)
    const deadline = timeout === undefined ? undefined : (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)

    // Completions land in a queue; a pull takes all that are there, or waits for one without the run's slot.
    const completed = yield* Queue.unbounded<Futures.PrefectFuture<A, E>>()
    let unfinished = pending.length
    const unsubscribes = pending.map((future) =>
      future.unsafeObserve(() => {
        unfinished--
        Queue.unsafeOffer(completed, future)
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => unsubscribes.forEach((unsubscribe) => unsubscribe())))

    const unfinishedError = () =>
      Option.some(new Errors.WaitTimeoutError({ message: `${unfinished} (of ${all.length}) futures unfinished` }))
    const waitForMore = releasingSlot(Queue.takeBetween(completed, 1, Number.MAX_SAFE_INTEGER))
    const waitUntilDeadline = deadline === undefined ?
      waitForMore :
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const remaining = deadline - now
        if (remaining <= 0) return Effect.fail(unfinishedError())
        return Effect.timeoutFail(waitForMore, { duration: remaining, onTimeout: unfinishedError })
      })
    let emitted = 0
    const pull: Effect.Effect<Chunk.Chunk<Futures.PrefectFuture<A, E>>, Option.Option<Errors.WaitTimeoutError>> = Effect
      .suspend(() => {
        if (emitted === pending.length) return Effect.fail(Option.none())
        return Queue.takeAll(completed).pipe(
          Effect.flatMap((ready) => Chunk.isEmpty(ready) ? waitUntilDeadline : Effect.succeed(ready)),
          Effect.tap((chunk) => {
            emitted += chunk.length
          })
        )
      })
    return Stream.concat(Stream.fromIterable(doneNow), Stream.repeatEffectChunkOption(pull))
  })
