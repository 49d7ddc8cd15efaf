/**
 * The SQL stores' errors: which ones mean the store is out of reach for now (and the call may be
 * tried again), the reconnecting call, and the typed errors a caller gets.
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Errors from "../../../Errors.js"
import { decodeDuration } from "../../core/duration.js"

/** A SQL error raised by @effect/sql or one of its drivers (or by the store's own prepared statements). */
const isSqlError = (u: unknown): u is SqlError => u instanceof SqlError

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  // Not the store going away, but safe to try again: the statement was rolled back.
  "40P01", // deadlock_detected
  "40001", // serialization_failure
  "55P03" // lock_not_available
])

/** Whether a SQL error means the store is (for now) out of reach, so the call may be tried again. */
const isTransient = (error: SqlError): boolean => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  const message = typeof cause?.message === "string" ? cause.message : ""
  return CONNECTION_CODES.has(code) || code.startsWith("08") ||
    /Connection terminated|connection (?:is )?closed|Client has encountered a connection error|timeout exceeded when trying to connect/i
      .test(message)
}

const isTransientSqlError = (error: unknown): boolean => isSqlError(error) && isTransient(error)

const storeError = (error: SqlError, what: string) =>
  new Errors.RunStoreError({
    ...(isTransient(error) ? { unreachable: true } : {}),
    message: `The run store could not ${what}: ${
      (error.cause as { message?: string } | undefined)?.message ?? error.message
    }`,
    cause: error
  })

/**
 * Runs a query, trying again while the store is out of reach; a typed error if it stays away.
 * `what` says what failed, in a RunStoreError: a function for the hot calls, built only on failure.
 */
export type Call = <A, E>(
  what: string | (() => string),
  effect: Effect.Effect<A, E | SqlError>
) => Effect.Effect<A, Exclude<E, SqlError> | Errors.RunStoreError>

/** The store's `call`: it reconnects with backoff for up to `reconnectFor` (default 30 seconds). */
export const makeCall = (reconnectFor: Duration.DurationInput = "30 seconds"): Call => {
  decodeDuration("reconnectFor", reconnectFor)
  const reconnect = Schedule.exponential("50 millis", 2).pipe(
    Schedule.either(Schedule.spaced("2 seconds")),
    Schedule.upTo(reconnectFor)
  )
  return <A, E>(what: string | (() => string), effect: Effect.Effect<A, E | SqlError>) => {
    // Never interrupt a statement in flight: sql-pg 0.53 cancels it with pg_cancel_backend(pid),
    // which can land on the next statement that pooled connection runs (someone else's). An
    // interrupted caller waits the few milliseconds the statement takes; retries stay interruptible.
    // No spans: @effect/sql makes one per statement when a tracer is installed, and a run's trace
    // would drown in the store's statements (a busy worker's would be nothing else).
    const once = Effect.withTracerEnabled(Effect.uninterruptible(effect), false)
    const fail = (error: E | SqlError): Effect.Effect<never, E | Errors.RunStoreError> =>
      Effect.fail(isSqlError(error) ? storeError(error, typeof what === "string" ? what : what()) : error)
    // One frame on the way: the retry schedule is only set up once a call fails (it costs more
    // than the call's own steps).
    return Effect.catchAll(
      once,
      (error) =>
        isTransientSqlError(error)
          ? Effect.catchAll(Effect.retry(once, { schedule: reconnect, while: isTransientSqlError }), fail)
          : fail(error)
    ) as Effect.Effect<A, Exclude<E, SqlError> | Errors.RunStoreError>
  }
}

/** A store's layer that failed to open, as the typed error its user gets. */
export const openFailed = (what: string) => (cause: Cause.Cause<unknown>) =>
  Layer.fail(
    new Errors.RunStoreError({
      message: `The ${what} run store could not be opened: ${Cause.pretty(cause).split("\n")[0]}`,
      cause: Cause.squash(cause)
    })
  )
