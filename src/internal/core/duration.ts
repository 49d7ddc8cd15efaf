import { Cause, Duration, Effect } from "effect"

/**
 * Validates a user-given timeout. Negative or unreadable input is a programming error, so it is
 * a defect (`Cause.IllegalArgumentException`), as Prefect raises `ValueError`.
 */
export const decodeTimeout = (input: Duration.DurationInput | undefined): Duration.Duration | undefined => {
  if (input === undefined) return undefined
  const negative = (typeof input === "number" && input < 0) || (typeof input === "bigint" && input < BigInt(0))
  const decoded = negative ? undefined : Duration.decodeUnknown(input)
  if (decoded === undefined || decoded._tag === "None" || Number.isNaN(Duration.toMillis(decoded.value))) {
    throw new Cause.IllegalArgumentException(
      `'timeout' must be a non-negative number, got ${formatInput(input)}`
    )
  }
  return decoded.value
}

const formatInput = (input: unknown): string =>
  Duration.isDuration(input) ? Duration.format(input) : typeof input === "string" ? input : String(input)

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
