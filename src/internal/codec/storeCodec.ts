/**
 * How a store turns parameters, results and failures into JSON text and back: with the task's
 * own `parameters`/`success`/`failure` Schemas when it has them (found by name in this process's
 * task registry), else as tagged JSON (`values.ts`): carried exactly, or refused with a
 * SerializationError that names the place and the fix.
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Errors from "../../Errors.js"
import type * as State from "../../State.js"
import type { TaskDefinition } from "../core/definition.js"
import { lookup } from "../core/registry.js"
import * as state_ from "../core/state.js"
import type { AnyState } from "../core/state.js"
import { argumentPlace, decodeValue, encodeOrRefuse, encodeValue, placeOf, Refusal, storeRefusal } from "./values.js"
import { orTimeout } from "./wire.js"

interface Codecs {
  readonly parameters: Schema.Schema<ReadonlyArray<unknown>, string>
  readonly result: Schema.Schema<unknown, string>
  readonly cause: Schema.Schema<Cause.Cause<unknown>, string>
}

/** A value with no Schema of its own, as tagged JSON data; a refused one fails to encode. */
const Stored: Schema.Schema<unknown> = Schema.transformOrFail(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: (json) => ParseResult.succeed(decodeValue(json)),
  encode: (value, _, ast) => {
    const encoded = encodeOrRefuse(value)
    return encoded instanceof Refusal
      ? ParseResult.fail(new ParseResult.Type(ast, value, `${placeOf("the value", encoded)} is ${encoded.what}`))
      : ParseResult.succeed(encoded)
  }
})

/** A defect is kept whatever it is: what cannot be stored exactly is kept as its description. */
const StoredDefect: Schema.Schema<unknown> = Schema.transform(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: decodeValue,
  encode: (defect) => {
    const encoded = encodeOrRefuse(defect)
    if (!(encoded instanceof Refusal)) return encoded
    return encodeValue(
      new Error(
        `${describe(defect)} (a defect that cannot be stored exactly: ${placeOf("it", encoded)} is ${encoded.what})`
      )
    )
  }
})

const describe = (u: unknown): string => {
  try {
    return String(u)
  } catch {
    return typeof u
  }
}

const GenericParameters = Schema.Array(Stored)

const makeCodecs = (def: TaskDefinition | undefined): Codecs => ({
  parameters: Schema.parseJson(def?.parameters ?? GenericParameters) as unknown as Codecs["parameters"],
  result: Schema.parseJson(def?.success ?? Stored) as unknown as Codecs["result"],
  cause: Schema.parseJson(
    Schema.Cause({ error: orTimeout(def?.failure ?? Stored), defect: StoredDefect })
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

/** No Schema: tagged JSON, without the Schema machinery (the common, hot case). */
const plainDecode = (text: string): unknown => text === UNDEFINED ? undefined : decodeValue(JSON.parse(text))
const UNDEFINED = "undefined"

/** The fix a refusal names, by what was refused. */
const FIX = {
  parameters: "Give the task (or flow) a `parameters` Schema (`{ name, parameters: Schema.Tuple(...) }`), " +
    "or pass plain data (JSON, Date, Map, Set, bigint, typed arrays, undefined).",
  success:
    "Give the task (or flow) a `success` Schema, or set `persistResult: false` if no other process reads its result.",
  failure: "Give the task (or flow) a `failure` Schema, or fail with plain data or an Error."
} as const

const refused = (runId: string, what: string, place: string, fix: string) =>
  new Errors.SerializationError({ runId, message: `${what} cannot be stored exactly: ${place}. ${fix}` })

const runOf = (name: string, runId: string) => `run '${name}' (${runId})`

/** Arguments as tagged JSON text, or the first refused one (one walk each). */
const encodeGenericParameters = (
  name: string,
  runId: string,
  parameters: ReadonlyArray<unknown>
): Either.Either<string, Errors.SerializationError> => {
  const encoded: Array<unknown> = new Array(parameters.length)
  for (let i = 0; i < parameters.length; i++) {
    const one = encodeOrRefuse(parameters[i])
    if (one instanceof Refusal) {
      const place = argumentPlace(i, one)
      return Either.left(refused(runId, `The arguments of ${runOf(name, runId)}`, place, FIX.parameters))
    }
    encoded[i] = one
  }
  return Either.right(JSON.stringify(encoded))
}

/** Arguments only shown (a run no worker decodes): what cannot be stored is kept as its description. */
const describeParameters = (parameters: ReadonlyArray<unknown>): string =>
  JSON.stringify(parameters.map((parameter) => {
    const encoded = encodeOrRefuse(parameter)
    return encoded instanceof Refusal ? `<not stored: ${placeOf("it", encoded)} is ${encoded.what}>` : encoded
  }))

/** A refusal as a message's place: "the result (at `.x`) is a function". */
const resultPlace = (what: string, refusal: Refusal) => `${placeOf(what, refusal)} is ${refusal.what}`

/**
 * Encodes a run's arguments. `exact`: a worker will decode them (a Scheduled run), so what cannot
 * be carried exactly is refused; otherwise (a run of this process, recorded) what tagged JSON cannot
 * carry is only described. A `parameters` Schema that rejects them always refuses.
 * @internal
 */
export const encodeParameters = (
  name: string,
  runId: string,
  parameters: ReadonlyArray<unknown>,
  exact = true
): Either.Either<string, Errors.SerializationError> => {
  if (lookup(name)?.parameters === undefined) {
    return exact ? encodeGenericParameters(name, runId, parameters) : Either.right(describeParameters(parameters))
  }
  return attempt(
    () => Schema.encodeSync(codecsFor(name).parameters)(parameters),
    (error) =>
      fail(
        runId,
        `The parameters of run '${name}' (${runId}) cannot be encoded as ${schemaName(name, "parameters")}`,
        error
      )
  )
}

/** @internal */
export const decodeParameters = (
  name: string,
  runId: string,
  text: string
): Either.Either<ReadonlyArray<unknown>, Errors.SerializationError> =>
  attempt(
    () =>
      lookup(name)?.parameters === undefined
        ? (JSON.parse(text) as Array<unknown>).map(decodeValue)
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
    if (lookup(name)?.success === undefined) {
      // One walk: the value's tagged JSON, or where it cannot be stored. A task that returns
      // nothing (Effect.void) keeps "nothing", as the previous format wrote it.
      const encoded = state.value === undefined ? undefined : encodeOrRefuse(state.value)
      return encoded instanceof Refusal
        ? Either.left(
          refused(runId, `The result of ${runOf(name, runId)}`, resultPlace("the result", encoded), FIX.success)
        )
        : Either.right({ cause: null, result: encoded === undefined ? UNDEFINED : JSON.stringify(encoded) })
    }
    return Either.map(
      attempt(
        () => Schema.encodeSync(codecs.result)(state.value),
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
    const failure = lookup(name)?.failure === undefined ? refusedFailure(state.cause) : undefined
    if (failure !== undefined) {
      return Either.left(refused(runId, `The failure of ${runOf(name, runId)}`, failure, FIX.failure))
    }
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

/** The first typed failure of a cause that cannot be stored exactly, as a message's place. */
const refusedFailure = (cause: Cause.Cause<unknown>): string | undefined => {
  for (const error of Cause.failures(cause)) {
    const refusal = storeRefusal(error)
    if (refusal !== undefined) return resultPlace("the error", refusal)
  }
  return undefined
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
