/**
 * Which store a command opens, and how it was chosen: `--store` (a SQLite file or a `postgres://`
 * URL, with `--schema` for PostgreSQL), else `TASKFLOW_STORE`, else `.taskflow/runs.db`. Every error
 * names the store and how it was chosen.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import type { CliFailure } from "./failure.js"
import { badUsage } from "./failure.js"
import type { StoreFlags } from "./flags.js"
import { DEFAULT_STORE } from "./flags.js"

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

// Lower case only: the search_path folds an unquoted name to lower case, while CREATE SCHEMA quotes it.
const IDENTIFIER = /^[a-z_][a-z0-9_$]{0,62}$/

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
      // Not echoed whole: it may hold a password.
      return Effect.fail(
        badUsage(
          `The store URL given (${chosenBy}) is not a valid URL: check its form, postgres://user:password@host:port/database.`
        )
      )
    }
    const shown = new URL(url)
    if (shown.password !== "") shown.password = "***"
    if (schema !== undefined) {
      if (!IDENTIFIER.test(schema)) {
        return Effect.fail(
          badUsage(
            `The schema name ${JSON.stringify(schema)} is not a plain SQL identifier (lower-case letters, digits, _).`
          )
        )
      }
      url.searchParams.set("options", `-c search_path=${schema}`)
    }
    const display = schema === undefined ? shown.toString() : `${shown.toString()} (schema ${schema})`
    return Effect.succeed({ kind: "postgres", target: url.toString(), display, chosenBy, schema })
  })

/** "the store X (how it was chosen)": how every message names the store. */
export const describeStore = (location: StoreLocation): string => `the store ${location.display} (${location.chosenBy})`
