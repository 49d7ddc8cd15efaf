/**
 * Start-up of a process that uses one SQL store (issue 22, "Churn"): it loads only that store's
 * driver, not the other dialect's.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

const loadedDrivers = (kind: "sqlite" | "postgres", location: string): { pg: boolean; betterSqlite3: boolean } =>
  JSON.parse(
    execFileSync(process.execPath, [
      "--conditions=taskflow-source",
      "--import",
      "tsx",
      path.join(root, "test/fixtures/loadedDrivers.ts"),
      kind,
      location
    ], { cwd: root, encoding: "utf8", timeout: 60_000 })
  )

describe("SQL stores load only their own driver", () => {
  it("a SQLite store does not load pg", () => {
    expect(loadedDrivers("sqlite", freshSqliteFile())).toEqual({ pg: false, betterSqlite3: true })
  }, 60_000)

  it.skipIf(!postgresAvailable)("a PostgreSQL store does not load better-sqlite3", () => {
    expect(loadedDrivers("postgres", freshPostgresUrl())).toEqual({ pg: true, betterSqlite3: false })
  }, 60_000)
})
