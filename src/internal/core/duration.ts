import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** A duration Effect reads as written: "5 seconds", "1.5 minutes", "Infinity" (no minus sign, no NaN). */
const readable = (input: unknown): boolean => {
  switch (typeof input) {
    case "number":
      return !Number.isNaN(input) && input >= 0
    case "bigint":
      return input >= BigInt(0)
    case "string":
      // Effect reads "-1 seconds" as zero, which would make every run time out at once.
      return !input.trim().startsWith("-")
    default:
      return Array.isArray(input)
        ? input.length === 2 && input.every((part) => typeof part === "number" && !Number.isNaN(part) && part >= 0)
        : Duration.isDuration(input)
  }
}

/**
 * Validates a user-given duration option (`option` names it in the message). Negative, NaN or
 * unreadable input is a programming error, so it throws `Cause.IllegalArgumentException`, as
 * Prefect raises `ValueError`; Effect itself would read `-1` and `NaN` as zero.
 */
export const decodeDuration = (
  option: string,
  input: Duration.DurationInput | undefined
): Duration.Duration | undefined => {
  if (input === undefined) return undefined
  const decoded = readable(input) ? Duration.decodeUnknown(input) : undefined
  if (decoded === undefined || decoded._tag === "None" || Number.isNaN(Duration.toMillis(decoded.value))) {
    const expected = typeof input === "number" || typeof input === "bigint"
      ? "a non-negative number"
      : "a non-negative duration (milliseconds, \"5 seconds\" or a Duration)"
    throw new Cause.IllegalArgumentException(`'${option}' must be ${expected}, got ${formatInput(input)}`)
  }
  return decoded.value
}

/** Validates a user-given timeout: see {@link decodeDuration}. */
export const decodeTimeout = (input: Duration.DurationInput | undefined): Duration.Duration | undefined =>
  decodeDuration("timeout", input)

const formatInput = (input: unknown): string =>
  Duration.isDuration(input)
    ? Duration.format(input)
    : typeof input === "string"
    ? JSON.stringify(input)
    : Array.isArray(input)
    ? `[${input.map(String).join(", ")}]`
    : String(input)

/** Runs `f` with the decoded timeout; invalid input dies with IllegalArgumentException. */
export const withTimeout = <A, E, R>(
  input: Duration.DurationInput | undefined,
  f: (timeout: Duration.Duration | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let timeout: Duration.Duration | undefined
    try {
      timeout = decodeTimeout(input)
    } catch (error) {
      return Effect.die(error)
    }
    return f(timeout)
  })

/** A duration in seconds as Prefect prints it ("5", "0.1"). */
export const seconds = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  return Number.isFinite(millis) ? String(millis / 1000) : "Infinity"
}

/** A duration in seconds with its unit, singular only for exactly one: "1 second", "0.5 seconds". */
export const secondsText = (duration: Duration.Duration): string => {
  const text = seconds(duration)
  return `${text} ${text === "1" ? "second" : "seconds"}`
}

/** Milliseconds of a monotonic clock, which times leases in a task worker: only differences of it are used. */
export const monotonicMillis = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1_000_000n))
