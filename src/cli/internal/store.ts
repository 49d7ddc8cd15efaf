/**
 * Which store a command opens, and how it was chosen: `--store` (a SQLite file or a `postgres://`
 * URL, with `--schema` for PostgreSQL), else `TASKFLOW_STORE`, else `.taskflow/runs.db`. Every error
 * names the store and how it was chosen. The SQL stores' code loads only when a command opens one.
 * @internal
 */
import * as Options from "@effect/cli/Options"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as RunStore from "../../RunStore.js"
import type { CliFailure } from "./failure.js"
import { badUsage, failed } from "./failure.js"

/** The default store, relative to the working directory. */
export const DEFAULT_STORE = ".taskflow/runs.db"

/** The options every command that opens a store takes. */
export const storeOptions = {
  store: Options.text("store").pipe(
    Options.withDescription(
      `The store: a SQLite file or a postgres:// URL (default: $TASKFLOW_STORE, else ${DEFAULT_STORE}).`
    ),
    Options.optional
  ),
  schema: Options.text("schema").pipe(
    Options.withDescription(
      "The PostgreSQL schema holding the store's tables (default: $TASKFLOW_SCHEMA, else the URL's search_path)."
    ),
    Options.optional
  )
}

/** What `storeOptions` parse to. */
export interface StoreFlags {
  readonly store: Option.Option<string>
  readonly schema: Option.Option<string>
}

/** A store the command may open. */
export interface StoreLocation {
  readonly kind: "sqlite" | "postgres"
  /** The SQLite file (absolute) or the PostgreSQL URL (with the schema as its search_path). */
  readonly target: string
  /** What to show the user: the file, or the URL without its password. */
  readonly display: string
  /** How it was chosen ("--store", "TASKFLOW_STORE", "the default"). */
  readonly chosenBy: string
  /** The PostgreSQL schema given, if any. */
  readonly schema: string | undefined
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/** Resolves the store from the flags and the environment; a malformed URL or schema name is bad usage. */
export const resolveStore = (
  flags: StoreFlags,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<StoreLocation, CliFailure> =>
  Effect.suspend((): Effect.Effect<StoreLocation, CliFailure> => {
    const fromEnv = env.TASKFLOW_STORE !== undefined && env.TASKFLOW_STORE !== "" ? env.TASKFLOW_STORE : undefined
    const [given, chosenBy] = Option.isSome(flags.store)
      ? [flags.store.value, "from --store"]
      : fromEnv !== undefined
      ? [fromEnv, "from TASKFLOW_STORE"]
      : [DEFAULT_STORE, "the default; pass --store or set TASKFLOW_STORE for another"]
    const schema = Option.getOrUndefined(flags.schema) ??
      (env.TASKFLOW_SCHEMA !== undefined && env.TASKFLOW_SCHEMA !== "" ? env.TASKFLOW_SCHEMA : undefined)
    if (!/^postgres(ql)?:\/\//i.test(given)) {
      if (schema !== undefined && Option.isSome(flags.schema)) {
        return Effect.fail(badUsage(`--schema names a PostgreSQL schema, but the store ${given} is a SQLite file.`))
      }
      const target = path.resolve(given)
      return Effect.succeed({ kind: "sqlite", target, display: target, chosenBy, schema: undefined })
    }
    let url: URL
    try {
      url = new URL(given)
    } catch {
      return Effect.fail(badUsage(`The store URL ${given} (${chosenBy}) is not a valid URL.`))
    }
    const shown = new URL(url)
    if (shown.password !== "") shown.password = "***"
    if (schema !== undefined) {
      if (!IDENTIFIER.test(schema)) {
        return Effect.fail(
          badUsage(`The schema name ${JSON.stringify(schema)} is not a plain SQL identifier (letters, digits, _).`)
        )
      }
      url.searchParams.set("options", `-c search_path=${schema}`)
    }
    const display = schema === undefined ? shown.toString() : `${shown.toString()} (schema ${schema})`
    return Effect.succeed({ kind: "postgres", target: url.toString(), display, chosenBy, schema })
  })

/** "the store X (how it was chosen)": how every message names the store. */
export const describeStore = (location: StoreLocation): string => `the store ${location.display} (${location.chosenBy})`

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
