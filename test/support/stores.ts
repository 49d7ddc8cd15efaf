import type { Layer } from "effect"
import { Effect } from "effect"
import { RunStore } from "effect-taskflow"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { newSchemaName, PG_URL, sqliteDirPrefix } from "./names.js"

export { PG_URL }

const HOW_TO_START = "Start PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`), e.g. " +
  "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set TASKFLOW_TEST_PG_URL."

/**
 * Whether PostgreSQL answers. In CI it must: a missing server fails the suite rather than skipping it.
 * Elsewhere the PostgreSQL tests skip with a message that says how to start it.
 */
export const postgresAvailable: boolean = (() => {
  try {
    execFileSync(process.execPath, [
      "-e",
      `const pg = require("pg"); const c = new pg.Client(${JSON.stringify(PG_URL)});
       c.connect().then(() => c.end()).then(() => process.exit(0), () => process.exit(1))`
    ], { stdio: "ignore", timeout: 10_000 })
    return true
  } catch {
    if (process.env.CI === "true") {
      throw new Error(`PostgreSQL is required in CI and did not answer at ${PG_URL}. ${HOW_TO_START}`)
    }
    console.warn(`Skipping the PostgreSQL tests: no server at ${PG_URL}. ${HOW_TO_START}`)
    return false
  }
})()

/** A fresh PostgreSQL schema, so test files running at once never see each other's runs. */
export const freshPostgresUrl = (): string => {
  const schema = newSchemaName()
  execFileSync(process.execPath, [
    "-e",
    `const pg = require("pg"); const c = new pg.Client(${JSON.stringify(PG_URL)});
     c.connect().then(() => c.query('CREATE SCHEMA ${schema}')).then(() => c.end()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })`
  ], { stdio: "inherit", timeout: 10_000 })
  const url = new URL(PG_URL)
  url.searchParams.set("options", `-c search_path=${schema}`)
  return url.toString()
}

/** A fresh SQLite file in a temporary folder. */
export const freshSqliteFile = (): string =>
  path.join(fs.mkdtempSync(path.join(os.tmpdir(), sqliteDirPrefix())), "runs.db")

export interface StoreCase {
  readonly name: string
  readonly available: boolean
  /** A layer over a fresh, empty store. */
  readonly fresh: () => Layer.Layer<RunStore.RunStore, unknown>
}

export const storeCases: ReadonlyArray<StoreCase> = [
  { name: "memory", available: true, fresh: () => RunStore.memory },
  {
    name: "sqlite",
    available: true,
    fresh: () => RunStore.sqlite({ filename: freshSqliteFile(), maxPollInterval: 100 })
  },
  {
    name: "postgres",
    available: postgresAvailable,
    fresh: () => RunStore.postgres({ url: freshPostgresUrl(), maxPollInterval: 100 })
  }
]

/** Runs `effect` against a fresh store, with the live clock (SQL stores poll on real time). */
export const withStore = <A, E>(
  store: StoreCase,
  effect: Effect.Effect<A, E, RunStore.RunStore>
): Effect.Effect<A, unknown> => Effect.provide(effect, store.fresh())
