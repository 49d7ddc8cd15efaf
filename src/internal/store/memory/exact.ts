/**
 * What a memory store chosen as the run store (`RunStore.memory`) keeps: what a SQL store would,
 * through the same codec. Arguments a worker will decode, results and failures are copied through their
 * stored form (never the caller's own objects); what a SQL store refuses, this store refuses too.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import { decodeParameters, decodeState, encodeParameters, encodeState } from "../../codec/storeCodec.js"
import { isPlainPrimitive } from "../../codec/values.js"
import { lookup } from "../../core/registry.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"

/** A new run as a SQL store would hand it back: a Scheduled run's arguments copied, or refused. */
export const exactRun = (run: RunStore_.NewRun): Either.Either<RunStore_.NewRun, Errors.SerializationError> => {
  const parameters = run.parameters
  if (run.state.type !== "SCHEDULED" || parameters === undefined) return Either.right(run)
  if (lookup(run.name)?.parameters === undefined && parameters.every(isPlainPrimitive)) return Either.right(run)
  return encodeParameters(run.name, run.id, parameters).pipe(
    Either.flatMap((text) => decodeParameters(run.name, run.id, text)),
    Either.map((copied) => ({ ...run, parameters: copied }))
  )
}

/**
 * A state as a SQL store would hand it back: a result and a failure copied through their stored
 * form (a failure without a `failure` Schema comes back a plain Error with its name, `_tag` and
 * fields, never the class instance); a result or a failure it cannot store fails the run with the
 * SerializationError, as a SQL store's write does.
 */
export const exactState = (name: string, runId: string, state: AnyState): AnyState => {
  if (state.type === "COMPLETED") {
    if (!state_.hasResult(state)) return state
    if (isPlainPrimitive(state.value) && lookup(name)?.success === undefined) return state
  } else if (state.type !== "FAILED" && state.type !== "CRASHED") {
    return state
  }
  const encoded = encodeState(name, runId, state)
  if (Either.isLeft(encoded)) return state_.failed(Cause.die(encoded.left), { timestamp: state.timestamp })
  const row = {
    type: state.type,
    name: state.name,
    message: state.message ?? null,
    timestamp: 0,
    cause: encoded.right.cause
  }
  return Either.match(decodeState(name, runId, row, encoded.right.result), {
    onLeft: (error) => state_.failed(Cause.die(error), { timestamp: state.timestamp }),
    onRight: (decoded) => ({ ...decoded, timestamp: state.timestamp }) as AnyState
  })
}
