/**
 * Fresh PostgreSQL schemas and SQLite files for the benchmarks, and their removal: the machine's
 * database and disk are shared with later runs, so what a run created is dropped when it ends.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"

export const PG_URL = process.env.TASKFLOW_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const createdSchemas: Array<string> = []
const createdDirs: Array<string> = []
let made = 0

/** A new, empty schema named after `prefix`, this process, the time and a count (unique within the run). */
export const freshSchema = async (prefix: string): Promise<string> => {
  const schema = `${prefix}_${process.pid}_${Date.now().toString(36)}_${made++}`
  const client = new pg.Client(PG_URL)
  await client.connect()
  await client.query(`CREATE SCHEMA ${schema}`)
  await client.end()
  createdSchemas.push(schema)
  return schema
}

/** The path of a SQLite file in a new temporary directory. */
export const freshSqliteFile = (prefix = "tf-bench-"): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  createdDirs.push(dir)
  return path.join(dir, "runs.db")
}

/** `PG_URL` with `schema` as the search path. */
export const urlWithSchema = (schema: string): string => {
  const url = new URL(PG_URL)
  url.searchParams.set("options", `-c search_path=${schema}`)
  return url.toString()
}

/** Drops every schema and removes every directory this run created. */
export const cleanUp = async (): Promise<void> => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true })
  if (createdSchemas.length === 0) return
  const client = new pg.Client(PG_URL)
  await client.connect()
  for (const schema of createdSchemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
}
