import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Errors from "../../Errors.js"
import type * as Futures from "../../Futures.js"
import { secondsText, withTimeout } from "../core/duration.js"
import * as state_ from "../core/state.js"
import type { FutureInternals, InternalFuture } from "./future.js"
import { internals } from "./future.js"
import { awaitMany, traceWait, unique, wait } from "./wait.js"

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
  withTimeout(options?.timeout, (timeout) => {
    const all = unique(futures)
    return traceWait(all, listResultOf(futures, all, timeout, options?.raiseOnFailure !== false))
  })

/** `listResult` of the futures, `all` the unique ones. */
const listResultOf = <A, E>(
  futures: ReadonlyArray<Futures.PrefectFuture<A, E>>,
  all: ReadonlyArray<InternalFuture<A, E>>,
  timeout: Duration.Duration | undefined,
  raiseOnFailure: boolean
): Effect.Effect<Array<unknown>, unknown> =>
  Effect.gen(function*() {
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
  })

const timeoutError = (timeout: Duration.Duration) =>
  new Errors.WaitTimeoutError({
    message: `Timed out waiting for all futures to complete within ${secondsText(timeout)}`
  })
