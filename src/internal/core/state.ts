import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Errors from "../../Errors.js"
import type * as State from "../../State.js"

/** A state of any run, its value and error unknown. @internal */
export type AnyState = State.State<unknown, unknown>

/** The name each state type has unless given another. @internal */
const defaultNames: Record<State.StateType, string> = {
  SCHEDULED: "Scheduled",
  PENDING: "Pending",
  RUNNING: "Running",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  CRASHED: "Crashed",
  PAUSED: "Paused",
  CANCELLING: "Cancelling"
}

let lastMillis = Number.NaN
let lastTimestamp = new Date(0)

/**
 * The timestamp for `millis`. States made in the same millisecond share one Date: a Date costs
 * about 100 bytes and a run keeps every state of its history, while many runs change state in the
 * same millisecond. States are immutable data, so their timestamps must never be mutated.
 * @internal
 */
export const timestampAt = (millis: number): Date => {
  if (millis !== lastMillis) {
    lastMillis = millis
    lastTimestamp = new Date(millis)
  }
  return lastTimestamp
}

/** @internal */
export const make = <T extends State.StateType>(type: T, options?: State.ConstructorOptions): State.Base<T> => ({
  type,
  name: options?.name ?? defaultNames[type],
  message: options?.message,
  timestamp: options?.timestamp ?? timestampAt(Date.now())
})

/** @internal */
export const isFinal = <A, E>(self: State.State<A, E>): self is
  | State.Completed<A>
  | State.Failed<E>
  | State.Crashed
  | State.Cancelled =>
  self.type === "COMPLETED" || self.type === "FAILED" || self.type === "CRASHED" || self.type === "CANCELLED"
/** @internal */
export const isCompleted = <A, E>(self: State.State<A, E>): self is State.Completed<A> => self.type === "COMPLETED"
/** @internal */
export const isFailed = <A, E>(self: State.State<A, E>): self is State.Failed<E> => self.type === "FAILED"
/** @internal */
export const isCrashed = <A, E>(self: State.State<A, E>): self is State.Crashed => self.type === "CRASHED"
/** @internal */
export const isCancelled = <A, E>(self: State.State<A, E>): self is State.Cancelled => self.type === "CANCELLED"
/** @internal */
export const isPending = <A, E>(self: State.State<A, E>): self is State.Pending => self.type === "PENDING"
/** @internal */
export const isRunning = <A, E>(self: State.State<A, E>): self is State.Running => self.type === "RUNNING"
/** @internal */
export const isScheduled = <A, E>(self: State.State<A, E>): self is State.Scheduled => self.type === "SCHEDULED"
/** @internal */
export const isPaused = <A, E>(self: State.State<A, E>): self is State.Paused => self.type === "PAUSED"

/** @internal */
export const scheduled = (options?: State.ConstructorOptions): State.Scheduled => make("SCHEDULED", options)
/** @internal */
export const pending = (options?: State.ConstructorOptions): State.Pending => make("PENDING", options)
/** @internal */
export const running = (options?: State.ConstructorOptions): State.Running => make("RUNNING", options)
/** @internal */
export const cancelled = (options?: State.ConstructorOptions): State.Cancelled => make("CANCELLED", options)
/** @internal */
export const paused = (options?: State.ConstructorOptions): State.Paused => make("PAUSED", options)
/** @internal */
export const cancelling = (options?: State.ConstructorOptions): State.Cancelling => make("CANCELLING", options)
/** @internal */
export const completed = <A>(value: A, options?: State.ConstructorOptions): State.Completed<A> => ({
  type: "COMPLETED",
  name: options?.name ?? "Completed",
  message: options?.message,
  timestamp: options?.timestamp ?? timestampAt(Date.now()),
  value
})
/** @internal */
export const failed = <E>(cause: Cause.Cause<E>, options?: State.ConstructorOptions): State.Failed<E> => ({
  type: "FAILED",
  name: options?.name ?? "Failed",
  message: options?.message,
  timestamp: options?.timestamp ?? timestampAt(Date.now()),
  cause
})
/** @internal */
export const crashed = (cause: Cause.Cause<unknown>, options?: State.ConstructorOptions): State.Crashed => ({
  type: "CRASHED",
  name: options?.name ?? "Crashed",
  message: options?.message,
  timestamp: options?.timestamp ?? timestampAt(Date.now()),
  cause
})

/** Marks a Completed state whose value was not kept. @internal */
export const MissingResultMarker: unique symbol = Symbol.for("effect-taskflow/MissingResult")

/** @internal */
export const completedWithoutResult = (options?: State.ConstructorOptions): State.Completed<never> =>
  completed(MissingResultMarker as never, options)

/** @internal */
export const hasResult = <A>(self: State.Completed<A>): boolean => self.value !== (MissingResultMarker as unknown)

const unfinishedMessage = (self: AnyState): string =>
  `Run is in ${self.type} state${self.name === defaultNames[self.type] ? "" : ` (${self.name})`}, its result is not ` +
  `available.${self.message === undefined ? "" : ` ${self.message}`}`

/** The longest error message a state's `message` repeats; longer ones are cut, with a marker. */
const maxReasonLength = 500

/**
 * The message of the error behind a failure, as a state's `message` repeats it: `<tag>: <message>`
 * for an Error, bounded to `maxReasonLength` characters.
 * @internal
 */
export const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  let text: string
  if (error instanceof Error) {
    const tag = (error as { readonly _tag?: unknown })._tag
    text = `${typeof tag === "string" ? tag : error.name}: ${error.message}`
  } else if (typeof error === "string") {
    text = error
  } else {
    try {
      text = JSON.stringify(error) ?? String(error)
    } catch {
      text = String(error)
    }
  }
  return text.length <= maxReasonLength
    ? text
    : `${text.slice(0, maxReasonLength)}… (cut at ${maxReasonLength} characters)`
}

/**
 * How a run ended, with its reason: `FAILED (TimedOut): <message>`, `FAILED: Error: boom`,
 * `CANCELLED.` The state's own message when it has one, else its failure's.
 * @internal
 */
export const describeEnd = (self: AnyState): string => {
  const type = self.name === defaultNames[self.type] ? self.type : `${self.type} (${self.name})`
  const reason = self.message ??
    (self.type === "FAILED" || self.type === "CRASHED" ? causeMessage(self.cause) : undefined)
  return reason === undefined ? `${type}.` : `${type}: ${reason}`
}

/** The error a finished-but-not-completed state raises (Crashed, Cancelled). @internal */
export const stateError = (self: State.Crashed | State.Cancelled): Errors.CrashedRun | Errors.CancelledRun =>
  self.type === "CRASHED"
    ? new Errors.CrashedRun({ message: self.message ?? "Run crashed." })
    : new Errors.CancelledRun({ message: self.message ?? "Run cancelled." })

/**
 * The outcome of a final state as an Exit: Completed → success, Failed → its cause,
 * Crashed/Cancelled → CrashedRun/CancelledRun. `undefined` when the state is not final.
 * @internal
 */
export const toExit = <A, E>(
  self: State.State<A, E>
): Exit.Exit<A, E | Errors.CancelledRun | Errors.CrashedRun> | undefined => {
  switch (self.type) {
    case "COMPLETED":
      return Exit.succeed(self.value)
    case "FAILED":
      return Exit.failCause(self.cause)
    case "CRASHED":
    case "CANCELLED":
      return Exit.fail(stateError(self))
    default:
      return undefined
  }
}

/** @internal */
export const result = <A, E>(
  self: State.State<A, E>,
  options?: { readonly raiseOnFailure?: boolean }
): Effect.Effect<unknown, unknown> => {
  if (!isFinal(self)) {
    return Effect.fail(new Errors.UnfinishedRun({ message: unfinishedMessage(self) }))
  }
  if (self.type === "COMPLETED" && !hasResult(self)) {
    return Effect.fail(
      new Errors.MissingResult({
        message: "State data is missing. Typically, this occurs when result persistence is disabled " +
          "(persistResult: false) and the result is read from another process."
      })
    )
  }
  const exit = toExit(self)!
  return options?.raiseOnFailure === false ? Effect.succeed(exit) : exit
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

const MissingResultSchema = Schema.transform(
  Schema.Struct({ _tag: Schema.Literal("effect-taskflow/MissingResult") }),
  Schema.declare((u): u is typeof MissingResultMarker => u === MissingResultMarker),
  {
    strict: true,
    decode: (): typeof MissingResultMarker => MissingResultMarker,
    encode: () => ({ _tag: "effect-taskflow/MissingResult" as const })
  }
)

const baseFields = {
  name: Schema.String,
  message: Schema.UndefinedOr(Schema.String),
  timestamp: Schema.Date
}

const simple = <T extends State.StateType>(type: T) => Schema.Struct({ type: Schema.Literal(type), ...baseFields })

/** @internal */
export const schema = <A, I, E, EI>(
  success: Schema.Schema<A, I, never>,
  failure: Schema.Schema<E, EI, never>
): Schema.Schema<State.State<A, E>, unknown, never> =>
  Schema.Union(
    simple("SCHEDULED"),
    simple("PENDING"),
    simple("RUNNING"),
    simple("CANCELLED"),
    simple("PAUSED"),
    simple("CANCELLING"),
    Schema.Struct({
      type: Schema.Literal("COMPLETED"),
      ...baseFields,
      value: Schema.Union(MissingResultSchema, success)
    }),
    Schema.Struct({
      type: Schema.Literal("FAILED"),
      ...baseFields,
      cause: Schema.Cause({ error: failure, defect: Schema.Defect })
    }),
    Schema.Struct({
      type: Schema.Literal("CRASHED"),
      ...baseFields,
      cause: Schema.Cause({ error: Schema.Unknown, defect: Schema.Defect })
    })
  ) as unknown as Schema.Schema<State.State<A, E>, unknown, never>

/** A short text for a state, for logs and summaries. @internal */
export const describe = (self: AnyState): string => {
  if (self.type === "FAILED" || self.type === "CRASHED") {
    const squashed = Cause.squash(self.cause)
    const reason = squashed instanceof Error ? squashed.message : String(squashed)
    return `${self.name}: ${reason.replace(/\.$/, "")}`
  }
  return self.message === undefined ? self.name : `${self.name}: ${self.message}`
}
