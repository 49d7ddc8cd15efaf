/**
 * Opening the store a command names: the run store (migrated as it opens), or a plain SQL
 * connection for what the `RunStore` interface does not say. The SQL code loads only here.
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as RunStore from "../../RunStore.js"
import type { CliFailure } from "./failure.js"
import { failed } from "./failure.js"
import type { StoreLocation } from "./location.js"
import { describeStore } from "./location.js"

/** How long a command waits for an unreachable store before it says so (a worker keeps the default). */
const COMMAND_RECONNECT: Duration.DurationInput = "3 seconds"

/**
 * The run store at `location`, as a layer. Without `create`, a SQLite file that does not exist is
 * an error (a typo in a path should not make an empty store). Migrations run as the store opens.
 */
export const storeLayer = (
  location: StoreLocation,
  options: { readonly create?: boolean; readonly reconnectFor?: Duration.DurationInput } = {}
): Layer.Layer<RunStore.RunStore, CliFailure> => {
  const reconnectFor = options.reconnectFor ?? COMMAND_RECONNECT
  const open = location.kind === "sqlite"
    ? RunStore.sqlite({ filename: location.target, reconnectFor })
    : RunStore.postgres({ url: location.target, reconnectFor, maxConnections: 4 })
  const opened = Layer.catchAllCause(open, (cause) => Layer.fail(unreachable(location, cause)))
  if (location.kind === "postgres" || options.create === true) return opened
  return Layer.unwrapEffect(Effect.sync(() =>
    fs.existsSync(location.target)
      ? opened
      : Layer.fail(
        failed(
          `There is no store at ${location.target} (${location.chosenBy}). Pass --store with the SQLite file or ` +
            `postgres:// URL your tasks use, or set TASKFLOW_STORE.`
        )
      )
  ))
}

const unreachable = (location: StoreLocation, cause: Cause.Cause<unknown>): CliFailure => {
  return failed(`Could not open ${describeStore(location)}: ${reasonOf(Cause.squash(cause))}`)
}

/** An error's message, and its causes' (a driver's "connection refused" under "Failed to connect"). */
const reasonOf = (error: unknown): string => {
  const messages: Array<string> = []
  for (let at = error, depth = 0; at !== undefined && depth < 4; depth++) {
    const message = at instanceof Error ? at.message : String(at)
    if (message !== "" && !messages.some((seen) => seen.includes(message))) messages.push(message)
    at = at instanceof Error ? at.cause : undefined
  }
  return messages.join(": ")
}

/**
 * A plain SQL connection to the store, for what the `RunStore` interface does not say (the schema
 * version, counts by state). It runs no migrations.
 */
export const sqlLayer = (location: StoreLocation): Layer.Layer<SqlClient.SqlClient, CliFailure> =>
  Layer.unwrapEffect(Effect.promise(async (): Promise<Layer.Layer<SqlClient.SqlClient, unknown>> => {
    if (location.kind === "sqlite") {
      const { layer } = await import("@effect/sql-sqlite-node/SqliteClient")
      return layer({ filename: location.target, readonly: true })
    }
    const { layer } = await import("@effect/sql-pg/PgClient")
    return layer({ url: Redacted.make(location.target), maxConnections: 1 })
  })).pipe(Layer.catchAllCause((cause) => Layer.fail(unreachable(location, cause))))
