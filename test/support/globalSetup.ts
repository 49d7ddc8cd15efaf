/**
 * Vitest's global setup: names this test run, so that what its test files create in shared places
 * (PostgreSQL schemas in the `test` database, SQLite files in the temporary folder) carries the
 * name, and drops all of it once every file has run. Without it, each run left some forty schemas
 * in a database that later runs and other projects' tests share.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { PG_URL, SQLITE_DIR_PREFIX, TEST_RUN_ENV, TEST_SCHEMA_PREFIX } from "./names.js"

export default function setup(): () => Promise<void> {
  const run = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  // Set before the test files' workers start: they inherit it (see names.ts).
  process.env[TEST_RUN_ENV] = run
  return async () => {
    for (const entry of fs.readdirSync(os.tmpdir())) {
      if (entry.startsWith(`${SQLITE_DIR_PREFIX}${run}-`)) {
        fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true })
      }
    }
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 })
    try {
      await client.connect()
    } catch {
      return // No server: the PostgreSQL tests were skipped, so they made no schema.
    }
    try {
      const { rows } = await client.query<{ nspname: string }>(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
        [`${TEST_SCHEMA_PREFIX}${run}_`]
      )
      for (const { nspname } of rows) await client.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`)
    } finally {
      await client.end()
    }
  }
}
