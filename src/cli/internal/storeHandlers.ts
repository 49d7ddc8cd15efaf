/**
 * What `taskflow store info` and `store migrate` do (loaded only when one runs): a plain SQL
 * connection reads the schema version and counts by state, without migrating anything.
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import type { CliFailure } from "./failure.js"
import { failed } from "./failure.js"
import type { OutputFormat, StoreFlags } from "./flags.js"
import type { StoreLocation } from "./location.js"
import { describeStore, resolveStore } from "./location.js"
import { printJson } from "./output.js"
import { stateLabel, table } from "./render.js"
import { sqlLayer, storeLayer } from "./store.js"

/** `store info -o json`. */
export const StoreInfoJson = Schema.Struct({
  store: Schema.Struct({
    kind: Schema.String,
    location: Schema.String,
    chosenBy: Schema.String,
    schema: Schema.NullOr(Schema.String)
  }),
  schemaVersion: Schema.Number,
  migrations: Schema.Array(Schema.Struct({ id: Schema.Number, name: Schema.String })),
  runs: Schema.Struct({
    total: Schema.Number,
    byState: Schema.Array(Schema.Struct({ type: Schema.String, name: Schema.String, count: Schema.Number }))
  })
})

/** What `store info` reads, through a plain connection (no migration runs). */
const readInfo = (location: StoreLocation) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fail = (error: { readonly message: string }) =>
      failed(`Could not read ${describeStore(location)}: ${error.message}`)
    const tables = yield* (location.kind === "sqlite"
      ? sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
      : sql<{ readonly name: string }>`SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema()`).pipe(Effect.mapError(fail))
    const names = new Set(tables.map((row) => row.name))
    const migrations = names.has("taskflow_migrations")
      ? yield* sql<{ readonly migration_id: number; readonly name: string }>`
          SELECT migration_id, name FROM taskflow_migrations ORDER BY migration_id`.pipe(Effect.mapError(fail))
      : []
    const counts = names.has("taskflow_runs")
      ? yield* sql<{ readonly state_type: string; readonly state_name: string; readonly n: number | string }>`
          SELECT state_type, state_name, COUNT(*) AS n FROM taskflow_runs
          GROUP BY state_type, state_name ORDER BY state_type, state_name`.pipe(Effect.mapError(fail))
      : []
    const byState = counts.map((row) => ({ type: row.state_type, name: row.state_name, count: Number(row.n) }))
    return {
      store: {
        kind: location.kind,
        location: location.display,
        chosenBy: location.chosenBy,
        schema: location.schema ?? null
      },
      schemaVersion: Math.max(0, ...migrations.map((row) => Number(row.migration_id))),
      migrations: migrations.map((row) => ({ id: Number(row.migration_id), name: row.name })),
      runs: { total: byState.reduce((sum, row) => sum + row.count, 0), byState }
    } satisfies typeof StoreInfoJson.Type
  }).pipe(Effect.provide(sqlLayer(location)))

const mustExist = (location: StoreLocation): Effect.Effect<void, CliFailure> =>
  location.kind === "postgres" || fs.existsSync(location.target)
    ? Effect.void
    : Effect.fail(failed(
      `There is no store at ${location.target} (${location.chosenBy}). Pass --store with the SQLite file or ` +
        `postgres:// URL your tasks use, or set TASKFLOW_STORE.`
    ))

/** `store info`. */
export const info = (flags: StoreFlags & { readonly output: OutputFormat }) =>
  Effect.gen(function*() {
    const location = yield* resolveStore(flags)
    yield* mustExist(location)
    const read = yield* readInfo(location)
    if (flags.output !== "table") return yield* printJson(StoreInfoJson, read, flags.output)
    const version = read.migrations.length === 0
      ? "none (an empty store: `taskflow store migrate` creates its tables)"
      : `${read.schemaVersion} (${read.migrations.at(-1)!.name})`
    yield* Console.log(
      [
        `Store:          ${location.kind} ${location.display}`,
        `Chosen by:      ${location.chosenBy}`,
        ...(location.schema === undefined ? [] : [`Schema:         ${location.schema}`]),
        `Schema version: ${version}`,
        `Runs:           ${read.runs.total}`,
        ...(read.runs.byState.length === 0
          ? []
          : [
            "",
            table(
              ["STATE", "RUNS"],
              read.runs.byState.map((row) => [stateLabel(row.type, row.name), String(row.count)])
            )
          ])
      ].join("\n")
    )
  })

/** PostgreSQL: the named schema, created if missing (a new schema is how one database holds several stores). */
export const ensureSchema = (location: StoreLocation): Effect.Effect<void, CliFailure> =>
  location.kind !== "postgres" || location.schema === undefined
    ? Effect.void
    : Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${location.schema}"`)).pipe(
      Effect.mapError((error) => failed(`Could not create the schema in ${describeStore(location)}: ${error.message}`)),
      Effect.provide(sqlLayer(location)),
      Effect.asVoid
    )

/** `store migrate`. */
export const migrate = (flags: StoreFlags) =>
  Effect.gen(function*() {
    const location = yield* resolveStore(flags)
    yield* ensureSchema(location)
    const before = location.kind === "sqlite" && !fs.existsSync(location.target)
      ? 0
      : (yield* readInfo(location)).schemaVersion
    yield* Layer.build(storeLayer(location, { create: true })).pipe(Effect.scoped)
    const after = (yield* readInfo(location)).schemaVersion
    yield* Console.log(
      before === after
        ? `${capitalize(describeStore(location))} is up to date (schema version ${after}).`
        : `Migrated ${describeStore(location)} from schema version ${before} to ${after}.`
    )
  })

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
