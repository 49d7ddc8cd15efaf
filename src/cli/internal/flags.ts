/**
 * The flags the commands share, parsed and checked by @effect/cli: what is wrong with one is bad
 * usage (exit 2). Light on purpose: `taskflow --help` loads this, and no store.
 * @internal
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import { parseAge } from "./render.js"

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

/** How a command prints. */
export type OutputFormat = "table" | "json" | "jsonl"

/** `-o table|json|jsonl` (default table). */
export const outputOption = Options.choice("output", ["table", "json", "jsonl"] as const).pipe(
  Options.withAlias("o"),
  Options.withDescription("How to print: a table for people, or json / jsonl (one object a line) for programs."),
  Options.withDefault("table" as const)
)

/** Bad usage, as @effect/cli reports it. */
export const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/** A whole number of 1 or more. */
export const positive = (name: string) => (n: number) =>
  n > 0 ? Effect.succeed(n) : invalid(`--${name} ${n}: give a whole number of 1 or more.`)

/** An age flag ("2h", "30d"), in milliseconds. */
export const ageOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) => {
      const ms = parseAge(text)
      return ms === undefined
        ? invalid(`--${name} ${text} is not an age: write a number and a unit, as 90s, 15m, 2h, 30d or 2w.`)
        : Effect.succeed(ms)
    })
  )

/** The state types, as `--state` takes them. */
export const STATE_TYPES = [
  "SCHEDULED",
  "PENDING",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "CRASHED",
  "PAUSED",
  "CANCELLING"
] as const

/** A state type. */
export type StateType = typeof STATE_TYPES[number]

/** The state names that refine a type, as `--state` takes them. */
export const STATE_NAMES = ["NotReady", "AwaitingRetry", "Retrying", "TimedOut", "Cached", "Late", "Corrupt"] as const

/** What `--state` selects: state types, and state names (TimedOut, Retrying, …). */
export interface StateSelection {
  readonly types: ReadonlyArray<StateType>
  readonly names: ReadonlyArray<string>
}

/**
 * Splits `--state` values (any case, commas allowed) into types and names; anything else is bad
 * usage. Left: the value that is neither.
 */
export const parseStates = (values: ReadonlyArray<string>): StateSelection | string => {
  const types: Array<StateType> = []
  const names: Array<string> = []
  for (const value of values.flatMap((value) => value.split(",")).map((value) => value.trim())) {
    const type = STATE_TYPES.find((type) => type === value.toUpperCase())
    const name = STATE_NAMES.find((name) => name.toLowerCase() === value.toLowerCase())
    if (type !== undefined) types.push(type)
    else if (name !== undefined) names.push(name)
    else return value
  }
  return { types, names }
}

/** `--state`, repeatable: types or names, checked. */
export const stateOption = (description: string) =>
  Options.text("state").pipe(
    Options.withDescription(
      `${description}: a type (${STATE_TYPES.join(", ")}) or a name (${STATE_NAMES.join(", ")}).`
    ),
    Options.repeated,
    Options.mapEffect((values) => {
      const parsed = parseStates(values)
      return typeof parsed !== "string" ? Effect.succeed(parsed) : invalid(
        `--state ${parsed} is not a state: use a type (${STATE_TYPES.join(", ")}) or a name (${
          STATE_NAMES.join(", ")
        }).`
      )
    })
  )

/** Runs a handler whose code loads only when the command runs (`--help` never loads a store). */
export const lazy = <M, A, E, R>(
  load: () => Promise<M>,
  run: (module: M) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.flatMap(Effect.promise(load), run)
