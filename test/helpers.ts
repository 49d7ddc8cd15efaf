import { Effect, Logger, LogLevel } from "effect"

/** Lets forked runs reach their first suspension before the clock moves. */
export const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Collects warnings logged while `effect` runs. */
export const captureWarnings = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const warnings: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) {
      warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
    }
  })
  return Effect.map(
    Effect.exit(Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))),
    (exit) => ({ exit, warnings })
  )
}
