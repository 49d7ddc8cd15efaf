/**
 * A store made by an earlier version of the library is migrated when a newer one opens it, and
 * keeps its runs. The earlier version is made by undoing the later migrations on a new store.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { RunStore, State } from "effect-taskflow"
import pg from "pg"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"

/** Runs SQL statements on the store's database outside the library; returns the last one's rows. */
type RawSql = (statements: ReadonlyArray<string>) => Promise<ReadonlyArray<Record<string, unknown>>>

const sqliteRaw = (filename: string): RawSql => async (statements) => {
  const db = new Database(filename)
  try {
    let rows: ReadonlyArray<Record<string, unknown>> = []
    for (const statement of statements) {
      const prepared = db.prepare(statement)
      rows = prepared.reader ? prepared.all() as Array<Record<string, unknown>> : (prepared.run(), [])
    }
    return rows
  } finally {
    db.close()
  }
}

const postgresRaw = (url: string): RawSql => async (statements) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    let rows: ReadonlyArray<Record<string, unknown>> = []
    for (const statement of statements) rows = (await client.query(statement)).rows
    return rows
  } finally {
    await client.end()
  }
}

const targets = [
  {
    kind: "sqlite",
    available: true,
    open: () => {
      const filename = freshSqliteFile()
      return { layer: RunStore.sqlite({ filename }), raw: sqliteRaw(filename) }
    },
    indexes: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'taskflow_runs'"
  },
  {
    kind: "postgres",
    available: postgresAvailable,
    open: () => {
      const url = freshPostgresUrl()
      return { layer: RunStore.postgres({ url }), raw: postgresRaw(url) }
    },
    indexes:
      "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'taskflow_runs' AND schemaname = current_schema()"
  }
]

for (const target of targets) {
  describe.skipIf(!target.available)(`a store made by an earlier version: ${target.kind}`, () => {
    it.live("is migrated when opened, and keeps its runs", () =>
      Effect.gen(function*() {
        const { layer, raw } = target.open()
        const flowRunId = crypto.randomUUID()
        const inFlow = crypto.randomUUID()
        const outside = crypto.randomUUID()
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
          yield* store.createRuns([
            { id: inFlow, kind: "task", name: "upgrade-task", flowRunId, state: State.scheduled() },
            { id: outside, kind: "task", name: "upgrade-task", state: State.scheduled() }
          ])
        }))
        // Back to the first version: the flow index over every row, and migration 1 alone recorded.
        yield* Effect.promise(() =>
          raw([
            "DROP INDEX taskflow_runs_flow_run",
            "CREATE INDEX taskflow_runs_flow ON taskflow_runs (flow_run_id)",
            "DROP TABLE taskflow_workers",
            // Migration 4's tags, indexes and column (as test/store/finding.test.ts undoes them), and 5's table.
            "DROP TRIGGER taskflow_runs_tags" + (target.kind === "postgres" ? " ON taskflow_runs" : ""),
            "DROP TABLE taskflow_run_tags",
            ...["created", "name_created", "state_created", "state_name_created", "flows_created", "ended"].map(
              (index) => `DROP INDEX taskflow_runs_${index}`
            ),
            ...(target.kind === "postgres" ? ["DROP INDEX taskflow_runs_id_pattern"] : []),
            "ALTER TABLE taskflow_runs DROP COLUMN rerun_of",
            "DROP TABLE taskflow_run_logs",
            // Migration 7's columns.
            "ALTER TABLE taskflow_runs DROP COLUMN trace_context",
            "ALTER TABLE taskflow_runs DROP COLUMN scheduled_at",
            "DELETE FROM taskflow_migrations WHERE migration_id > 1"
          ])
        )
        const runs = yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer))
          return yield* store.listRuns({ flowRunId })
        }))
        expect(runs.map((run) => run.id)).toEqual([inFlow])
        const indexes = (yield* Effect.promise(() => raw([target.indexes]))).map((row) => row.name)
        expect(indexes).toContain("taskflow_runs_flow_run")
        expect(indexes).not.toContain("taskflow_runs_flow")
        const migrations = yield* Effect.promise(() =>
          raw(["SELECT migration_id FROM taskflow_migrations ORDER BY migration_id"])
        )
        expect(migrations.map((row) => Number(row.migration_id))).toEqual([1, 2, 3, 4, 5, 6, 7])
      }))
  })
}
