/**
 * `taskflow store info` and `store migrate`, and the store chosen by a `postgres://` URL with a
 * schema, against a real SQLite file and PostgreSQL (skipped, with a message, where it does not run).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { RunStore } from "effect-taskflow"
import * as fs from "node:fs"
import * as path from "node:path"
import { newSchemaName } from "../support/names.js"
import { freshSqliteFile, PG_URL, postgresAvailable } from "../support/stores.js"
import { seed, taskflow } from "./helpers.js"

const folders: Array<string> = []
afterAll(() => folders.forEach((folder) => fs.rmSync(folder, { recursive: true, force: true })))

const newFile = () => {
  const file = freshSqliteFile()
  folders.push(path.dirname(file))
  return file
}

interface InfoJson {
  readonly store: {
    readonly kind: string
    readonly location: string
    readonly chosenBy: string
    readonly schema: string | null
  }
  readonly schemaVersion: number
  readonly migrations: ReadonlyArray<{ readonly id: number; readonly name: string }>
  readonly runs: {
    readonly total: number
    readonly byState: ReadonlyArray<{ readonly type: string; readonly name: string; readonly count: number }>
  }
}

describe("taskflow store (SQLite)", () => {
  it("migrate creates a new store's tables once; info shows its version and runs by state", async () => {
    const file = newFile()
    const first = await taskflow(["store", "migrate", "--store", file])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(
      new RegExp(`Migrated the store ${file} \\(from --store\\) from schema version 0 to \\d+\\.`)
    )
    const again = await taskflow(["store", "migrate"], { env: { TASKFLOW_STORE: file } })
    expect(again.stdout).toMatch(/is up to date \(schema version \d+\)/)
    expect(again.stdout).toContain("(from TASKFLOW_STORE)")
    await seed(RunStore.sqlite({ filename: file }))
    const [text, json] = await Promise.all([
      taskflow(["store", "info", "--store", file]),
      taskflow(["store", "info", "--store", file, "-o", "json"])
    ])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`Store:          sqlite ${file}`)
    expect(text.stdout).toContain("Chosen by:      from --store")
    expect(text.stdout).toMatch(/STATE\s+RUNS\nCOMPLETED\s+5\nFAILED\s+1\nSCHEDULED\s+1/)
    const info = JSON.parse(json.stdout) as InfoJson
    expect(info.store).toEqual({ kind: "sqlite", location: file, chosenBy: "from --store", schema: null })
    expect(info.schemaVersion).toBeGreaterThanOrEqual(3)
    expect(info.migrations.map((migration) => migration.name)).toContain("runs")
    expect(info.runs.total).toBe(7)
    expect(info.runs.byState).toContainEqual({ type: "COMPLETED", name: "Completed", count: 5 })
  }, 120_000)

  it("info on a file that does not exist exits 1 and says how the store was chosen", async () => {
    const file = path.join(path.dirname(newFile()), "nothing.db")
    const result = await taskflow(["store", "info", "--store", file])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`There is no store at ${file} (from --store)`)
    expect(fs.existsSync(file)).toBe(false)
  }, 60_000)
})

describe.skipIf(!postgresAvailable)("taskflow store (PostgreSQL)", () => {
  it("a postgres:// URL and --schema: migrate creates the schema, and every command reads it", async () => {
    const schema = newSchemaName()
    const on = (...args: ReadonlyArray<string>) => taskflow([...args, "--store", PG_URL, "--schema", schema])
    const migrated = await on("store", "migrate")
    expect(migrated.code).toBe(0)
    expect(migrated.stdout).toContain(`(schema ${schema}) (from --store) from schema version 0 to`)
    const url = new URL(PG_URL)
    url.searchParams.set("options", `-c search_path=${schema}`)
    const seeded = await seed(RunStore.postgres({ url: url.toString() }))
    const [info, runs, inspect] = await Promise.all([
      on("store", "info", "-o", "json"),
      on("runs", "ls", "--kind", "flow", "-o", "json"),
      taskflow(["runs", "inspect", seeded.flowRunId.slice(0, 20)], {
        env: { TASKFLOW_STORE: PG_URL, TASKFLOW_SCHEMA: schema }
      })
    ])
    const parsed = JSON.parse(info.stdout) as InfoJson
    expect(parsed.store).toMatchObject({ kind: "postgres", chosenBy: "from --store", schema })
    expect(parsed.runs.total).toBe(7)
    expect((JSON.parse(runs.stdout) as ReadonlyArray<{ id: string }>).map((run) => run.id)).toEqual([seeded.flowRunId])
    expect(inspect.code).toBe(0)
    expect(inspect.stdout).toContain("Task runs (3)")
  }, 120_000)

  it("an unreachable server exits 1 naming the store, how it was chosen, and why", async () => {
    const result = await taskflow(["runs", "ls"], { env: { TASKFLOW_STORE: "postgres://postgres@127.0.0.1:1/test" } })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      "Could not open the store postgres://postgres@127.0.0.1:1/test (from TASKFLOW_STORE)"
    )
    expect(result.stderr).toContain("ECONNREFUSED")
  }, 60_000)
})
