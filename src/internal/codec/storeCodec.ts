/**
 * How a SQL store turns parameters, results and failures into JSON text and back: with the task's
 * own `parameters`/`success`/`failure` Schemas when it has them (found by name in this process's
 * task registry), else as JSON with Errors kept whole (their `_tag` and fields survive).
 */
import { Cause, Either, ParseResult, Schema } from "effect"
import * as Errors from "../../Errors.js"
import type * as State from "../../State.js"
import type { TaskDefinition } from "../core/definition.js"
import { lookup } from "../core/registry.js"
import * as state_ from "../core/state.js"
import type { AnyState } from "../core/state.js"
import { CrossThread, fromWire, orTimeout, toWire } from "./wire.js"

interface Codecs {
  readonly parameters: Schema.Schema<ReadonlyArray<unknown>, string>
  readonly result: Schema.Schema<unknown, string>
  readonly cause: Schema.Schema<Cause.Cause<unknown>, string>
}

const GenericParameters = Schema.Array(CrossThread)

const makeCodecs = (def: TaskDefinition | undefined): Codecs => ({
  parameters: Schema.parseJson(def?.parameters ?? GenericParameters) as unknown as Codecs["parameters"],
  result: Schema.parseJson(def?.success ?? CrossThread) as unknown as Codecs["result"],
  cause: Schema.parseJson(
    Schema.Cause({ error: orTimeout(def?.failure ?? CrossThread), defect: CrossThread })
  ) as unknown as Codecs[
    "cause"
  ]
})

const cache = new WeakMap<TaskDefinition, Codecs>()
const generic = makeCodecs(undefined)

const codecsFor = (name: string): Codecs => {
  const def = lookup(name)
  if (def === undefined) return generic
  let codecs = cache.get(def)
  if (codecs === undefined) {
    codecs = makeCodecs(def)
    cache.set(def, codecs)
  }
  return codecs
}

const schemaName = (name: string, which: "parameters" | "success" | "failure"): string => {
  const schema = lookup(name)?.[which]
  return schema === undefined ? `JSON (no ${which} Schema)` : `${which} Schema ${String(schema.ast)}`
}

const fail = (runId: string, message: string, error: unknown) =>
  new Errors.SerializationError({
    runId,
    message: `${message}: ${
      ParseResult.isParseError(error)
        ? ParseResult.TreeFormatter.formatErrorSync(error)
        : error instanceof Error
        ? error.message
        : String(error)
    }`
  })

const attempt = <A>(f: () => A, onError: (error: unknown) => Errors.SerializationError) => {
  try {
    return Either.right(f())
  } catch (error) {
    return Either.left(onError(error))
  }
}

/** No Schema: plain JSON with Errors kept whole, without the Schema machinery (the common, hot case). */
const plainEncode = (value: unknown): string => {
  // A task that returns nothing (Effect.void) keeps "nothing", not null.
  if (value === undefined) return UNDEFINED
  const text = JSON.stringify(toWire(value))
  if (text === undefined) throw new Error(`${typeof value} is not JSON`)
  return text
}
const plainDecode = (text: string): unknown => text === UNDEFINED ? undefined : fromWire(JSON.parse(text))
const UNDEFINED = "undefined"

/** @internal */
export const encodeParameters = (
  name: string,
  runId: string,
  parameters: ReadonlyArray<unknown>
): Either.Either<string, Errors.SerializationError> =>
  attempt(
    () =>
      lookup(name)?.parameters === undefined
        ? JSON.stringify(parameters.map(toWire))
        : Schema.encodeSync(codecsFor(name).parameters)(parameters),
    (error) =>
      fail(
        runId,
        `The parameters of run '${name}' (${runId}) cannot be encoded as ${schemaName(name, "parameters")}`,
        error
      )
  )

/** @internal */
export const decodeParameters = (
  name: string,
  runId: string,
  text: string
): Either.Either<ReadonlyArray<unknown>, Errors.SerializationError> =>
  attempt(
    () =>
      lookup(name)?.parameters === undefined
        ? (JSON.parse(text) as Array<unknown>).map(fromWire)
        : Schema.decodeSync(codecsFor(name).parameters)(text),
    (error) =>
      fail(
        runId,
        `The parameters of run '${name}' (${runId}) do not decode with ${schemaName(name, "parameters")}`,
        error
      )
  )

/** The parts of a state a SQL store keeps: the result apart from the state, so reading a state stays small. */
export interface EncodedState {
  readonly cause: string | null
  /** JSON of the value of a Completed state that keeps its result; null otherwise. */
  readonly result: string | null
}

/** @internal */
export const encodeState = (
  name: string,
  runId: string,
  state: AnyState
): Either.Either<EncodedState, Errors.SerializationError> => {
  const codecs = codecsFor(name)
  if (state.type === "COMPLETED") {
    if (!state_.hasResult(state)) return Either.right({ cause: null, result: null })
    return Either.map(
      attempt(
        () =>
          lookup(name)?.success === undefined
            ? plainEncode(state.value)
            : Schema.encodeSync(codecs.result)(state.value),
        (error) =>
          fail(
            runId,
            `The result of run '${name}' (${runId}) cannot be encoded as ${schemaName(name, "success")}`,
            error
          )
      ),
      (result) => ({ cause: null, result })
    )
  }
  if (state.type === "FAILED" || state.type === "CRASHED") {
    return Either.map(
      attempt(
        () => Schema.encodeSync(codecs.cause)(state.cause),
        (error) =>
          fail(
            runId,
            `The failure of run '${name}' (${runId}) cannot be encoded as ${schemaName(name, "failure")}`,
            error
          )
      ),
      (cause) => ({ cause, result: null })
    )
  }
  return Either.right({ cause: null, result: null })
}

/** A state's columns, as a SQL store reads them. @internal */
export interface StateRow {
  readonly type: string
  readonly name: string
  readonly message: string | null
  readonly timestamp: number
  readonly cause: string | null
}

/**
 * Rebuilds a state. A Completed state's value is `result` (undefined: the run kept none, so the
 * state reads as completed without a result).
 * @internal
 */
export const decodeState = (
  name: string,
  runId: string,
  row: StateRow,
  result: string | null | undefined
): Either.Either<AnyState, Errors.SerializationError> => {
  const options: State.ConstructorOptions = {
    timestamp: new Date(Number(row.timestamp)),
    name: row.name,
    ...(row.message === null ? {} : { message: row.message })
  }
  const codecs = codecsFor(name)
  switch (row.type) {
    case "COMPLETED":
      if (result === null || result === undefined) return Either.right(state_.completedWithoutResult(options))
      return Either.map(
        attempt(
          () => lookup(name)?.success === undefined ? plainDecode(result) : Schema.decodeSync(codecs.result)(result),
          (error) =>
            fail(
              runId,
              `The result of run '${name}' (${runId}) does not decode with ${schemaName(name, "success")}`,
              error
            )
        ),
        (value) => state_.completed(value, options)
      )
    case "FAILED":
    case "CRASHED": {
      const cause = row.cause === null
        ? Either.right(Cause.empty)
        : attempt(
          () => Schema.decodeSync(codecs.cause)(row.cause!),
          (error) =>
            fail(
              runId,
              `The failure of run '${name}' (${runId}) does not decode with ${schemaName(name, "failure")}`,
              error
            )
        )
      return Either.map(
        cause,
        (cause) => row.type === "FAILED" ? state_.failed(cause, options) : state_.crashed(cause, options)
      )
    }
    default:
      return Either.right(state_.make(row.type as State.StateType, options) as AnyState)
  }
}
