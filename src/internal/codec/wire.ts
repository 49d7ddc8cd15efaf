import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Errors from "../../Errors.js"
import type { TaskDefinition } from "../core/definition.js"
import type { Marks } from "./values.js"
import { argumentRefusal, cloneRefusal, fromCloneable, placeOf, toCloneable } from "./values.js"

/**
 * A value with no Schema of its own, in its cloneable form (`values.ts`): structured-clone data with
 * Errors, at any depth, as the record a store keeps, so they arrive with their name, `_tag` and fields.
 */
const CrossThread: Schema.Schema<unknown> = Schema.transform(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: (value) => fromCloneable(value),
  encode: (value) => toCloneable(value)
})

/**
 * A failure Schema that also carries `TaskTimeoutError`: every run with a timeout may fail with it
 * (a typed failure), whatever its own `failure` Schema, and it must come back as that class.
 * @internal
 */
export const orTimeout = (failure: Schema.Schema<any, any, never>): Schema.Schema<unknown, unknown, never> =>
  Schema.Union(Errors.TaskTimeoutError, failure) as unknown as Schema.Schema<unknown, unknown, never>

const exitSchemas = new WeakMap<TaskDefinition, Schema.Schema<Exit.Exit<unknown, unknown>, unknown>>()

/** The Schema of a run's outcome: the task's `success`/`failure` Schemas, defects kept whole. */
const exitSchema = (def: TaskDefinition | undefined): Schema.Schema<Exit.Exit<unknown, unknown>, unknown> => {
  if (def === undefined) return genericExit
  let schema = exitSchemas.get(def)
  if (schema === undefined) {
    schema = Schema.Exit({
      success: def.success ?? CrossThread,
      failure: orTimeout(def.failure ?? CrossThread),
      defect: CrossThread
    }) as unknown as Schema.Schema<Exit.Exit<unknown, unknown>, unknown>
    exitSchemas.set(def, schema)
  }
  return schema
}

const genericExit = Schema.Exit({
  success: CrossThread,
  failure: orTimeout(CrossThread),
  defect: CrossThread
}) as unknown as Schema.Schema<
  Exit.Exit<unknown, unknown>,
  unknown
>

/** Arguments sent in their cloneable form (they hold an Error); arguments without are sent as the array. */
interface Cloneable {
  readonly cloneable: unknown
}

const serializationError = (runId: string, message: string) => new Errors.SerializationError({ runId, message })

/** Where an outcome holds what structured clone would not carry exactly, as a message's place. */
const refusedOutcome = (exit: Exit.Exit<unknown, unknown>, marks: Marks): string | undefined => {
  if (Exit.isSuccess(exit)) {
    const refusal = typeof exit.value === "object" ? cloneRefusal(exit.value, "", new Set(), marks) : undefined
    return refusal === undefined ? undefined : `${placeOf("the result", refusal)} is ${refusal.what}`
  }
  for (const error of Cause.failures(exit.cause)) {
    const refusal = cloneRefusal(error)
    if (refusal !== undefined) return `${placeOf("the error", refusal)} is ${refusal.what}`
  }
  return undefined
}

/**
 * Encodes a run's arguments for another thread, or says why they cannot cross. Without a Schema
 * they cross by structured clone, which would turn a class instance into a plain object: such an
 * argument (and a function, a symbol, an accessor) is refused, naming it.
 * @internal
 */
export const encodeArguments = (
  def: TaskDefinition,
  runId: string,
  args: ReadonlyArray<unknown>
): Either.Either<unknown, Errors.SerializationError> => {
  if (def.parameters === undefined) {
    const marks: Marks = { found: false }
    const place = args.some((arg) => typeof arg === "object" || typeof arg === "function" || typeof arg === "symbol")
      ? argumentRefusal(args, (arg) => cloneRefusal(arg, "", new Set(), marks))
      : undefined
    // Arguments with an Error (or a marked key) inside cross in their cloneable form; the rest as they are.
    if (place === undefined) {
      return Either.right(marks.found ? ({ cloneable: toCloneable(args, true) } satisfies Cloneable) : args)
    }
    return Either.left(serializationError(
      runId,
      `The arguments of task run '${def.name}' (${runId}) cannot be sent to a worker thread exactly: ${place}. ` +
        "Give the task a `parameters` Schema, or pass structured-clone data (plain objects, arrays, Date, Map, Set, " +
        "typed arrays, Errors)."
    ))
  }
  return Either.mapLeft(
    Schema.encodeUnknownEither(def.parameters)(args),
    (error) =>
      serializationError(
        runId,
        `The arguments of task run '${def.name}' (${runId}) do not match its parameters Schema: ` +
          ParseResult.TreeFormatter.formatErrorSync(error)
      )
  )
}

/** @internal */
export const decodeArguments = (
  def: TaskDefinition,
  runId: string,
  encoded: unknown
): Either.Either<ReadonlyArray<unknown>, Errors.SerializationError> => {
  if (def.parameters === undefined) {
    // Arguments holding an Error came in their cloneable form (`encodeArguments`).
    const args = Array.isArray(encoded) ? encoded : fromCloneable((encoded as Cloneable).cloneable, true)
    return Either.right(args as ReadonlyArray<unknown>)
  }
  return Either.mapLeft(
    Schema.decodeUnknownEither(def.parameters)(encoded) as Either.Either<
      ReadonlyArray<unknown>,
      ParseResult.ParseError
    >,
    (error) =>
      serializationError(
        runId,
        `The arguments of task run '${def.name}' (${runId}) could not be decoded with its parameters Schema: ` +
          ParseResult.TreeFormatter.formatErrorSync(error)
      )
  )
}

/**
 * Encodes a run's outcome. An outcome its Schemas reject becomes a SerializationError defect,
 * itself encoded: the other side always receives an outcome.
 * @internal
 */
export const encodeExit = (
  def: TaskDefinition | undefined,
  runId: string,
  exit: Exit.Exit<unknown, unknown>
): unknown => {
  const marks: Marks = { found: false }
  const refused = (Exit.isSuccess(exit) ? def?.success : def?.failure) === undefined
    ? refusedOutcome(exit, marks)
    : undefined
  if (refused !== undefined) {
    const fix = Exit.isSuccess(exit) ? "a `success` Schema" : "a `failure` Schema"
    return Schema.encodeSync(genericExit)(Exit.die(serializationError(
      runId,
      `The outcome of task run '${def?.name}' (${runId}) cannot be sent back from its worker thread exactly: ` +
        `${refused}. Give the task ${fix}, or return structured-clone data.`
    )))
  }
  // The common case, a value with no Error inside and no Schema, crosses as it is.
  if (Exit.isSuccess(exit) && def?.success === undefined && !marks.found) {
    return { _tag: "Plain", value: exit.value } satisfies Plain
  }
  const encoded = Schema.encodeEither(exitSchema(def))(exit)
  if (Either.isRight(encoded)) return encoded.right
  const what = Exit.isSuccess(exit) ? "value" : "failure"
  return Schema.encodeSync(genericExit)(Exit.die(serializationError(
    runId,
    `The ${what} of task run '${def?.name}' (${runId}) does not match its ${
      Exit.isSuccess(exit) ? "success" : "failure"
    } Schema: ${ParseResult.TreeFormatter.formatErrorSync(encoded.left)}`
  )))
}

/** A SerializationError outcome, encoded (for a value structured clone refused). @internal */
export const encodeUncloneable = (def: TaskDefinition | undefined, runId: string, reason: unknown): unknown =>
  Schema.encodeSync(genericExit)(Exit.die(serializationError(
    runId,
    `The outcome of task run '${def?.name}' (${runId}) cannot be sent back from its worker thread: ${
      // DataCloneError's message ends in a period already ("… could not be cloned.").
      (reason instanceof Error ? reason.message : String(reason)).replace(
        /\.+\s*$/,
        ""
      )}. Return structured-clone data, or give the task a success/failure Schema.`
  )))

/** A success sent as it is (no Schema, no Error inside): no walk on either side. */
interface Plain {
  readonly _tag: "Plain"
  readonly value: unknown
}

const isPlain = (u: unknown): u is Plain =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Plain"

/** @internal */
export const decodeExit = (
  def: TaskDefinition,
  runId: string,
  encoded: unknown
): Exit.Exit<unknown, unknown> => {
  if (isPlain(encoded)) return Exit.succeed(encoded.value)
  const decoded = Schema.decodeUnknownEither(exitSchema(def))(encoded)
  if (Either.isRight(decoded)) return decoded.right
  return Exit.failCause(Cause.die(serializationError(
    runId,
    `The outcome of task run '${def.name}' (${runId}) could not be decoded with its Schemas: ` +
      ParseResult.TreeFormatter.formatErrorSync(decoded.left)
  )))
}
