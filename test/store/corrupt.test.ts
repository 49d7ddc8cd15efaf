/**
 * Every corrupt row is a typed error, never a hang or a raw exception (issue 22): rows broken behind
 * the store's back (direct SQL UPDATEs through a separate connection) read as a SerializationError
 * naming the run and the column; a listing shows the other runs and marks the bad one; a future on
 * it finishes. Arguments nested past the codec's depth bound fail `delay` typed; a server going away
 * while a connection receives its planner settings is not reported as a refused setting.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { Errors, Futures, RunStore, State, TaskWorker } from "effect-taskflow"
import pg from "pg"
import { MAX_DEPTH } from "../../src/internal/codec/values.js"
import { makePrepared } from "../../src/internal/store/sql/prepared.js"
import { CLAIM_RUNS } from "../../src/internal/store/sql/statements.js"
import { newRun, storePlain, uuid } from "../support/storeRuns.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable, storeCases } from "../support/stores.js"

/** A SQL store, and a way to run SQL on its database through a connection of its own. */
interface SqlCase {
  readonly name: string
  readonly available: boolean
  readonly open: () => {
    readonly layer: Layer.Layer<RunStore.RunStore, unknown>
    readonly exec: (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<void>
  }
}

const sqlCases: ReadonlyArray<SqlCase> = [
  {
    name: "sqlite",
    available: true,
    open: () => {
      const filename = freshSqliteFile()
      return {
        layer: RunStore.sqlite({ filename, maxPollInterval: 100 }),
        exec: (text, values) =>
          Effect.sync(() => {
            const db = new Database(filename)
            try {
              db.prepare(text.replace(/\$\d+/g, "?")).run(...values)
            } finally {
              db.close()
            }
          })
      }
    }
  },
  {
    name: "postgres",
    available: postgresAvailable,
    open: () => {
      const url = freshPostgresUrl()
      return {
        layer: RunStore.postgres({ url, maxPollInterval: 100 }),
        exec: (text, values) =>
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: url })
            await client.connect()
            try {
              await client.query(text, values as Array<unknown>)
            } finally {
              await client.end()
            }
          })
      }
    }
  }
]

const serializationErrorOf = (error: unknown): Errors.SerializationError => {
  expect(error).toBeInstanceOf(Errors.SerializationError)
  return error as Errors.SerializationError
}

for (const store of sqlCases) {
  describe.skipIf(!store.available)(`corrupt rows on ${store.name}`, () => {
    it.live("tags that are not JSON: getRun fails typed naming the run, the listing marks it and shows the others", () => {
      const { exec, layer } = store.open()
      return Effect.gen(function*() {
        const s = yield* RunStore.RunStore
        const bad = uuid()
        const good = uuid()
        yield* s.createRuns([
          newRun(bad, "store-plain", State.scheduled()),
          newRun(good, "store-plain", State.scheduled())
        ])
        yield* exec("UPDATE taskflow_runs SET tags = $1 WHERE id = $2", ["{not json", bad])

        const error = serializationErrorOf(yield* Effect.flip(s.getRun(bad)))
        expect(error.runId).toBe(bad)
        expect(error.message).toContain(bad)
        expect(error.message).toContain("tags")

        const listed = yield* s.listRuns()
        expect(listed.map((run) => run.id).sort()).toEqual([bad, good].sort())
        const corrupt = listed.find((run) => run.id === bad)!
        expect(corrupt.corrupt?.message).toContain("tags")
        expect(corrupt.state.type).toBe("CRASHED")
        expect(corrupt.state.name).toBe("Corrupt")
        expect(listed.find((run) => run.id === good)!.corrupt).toBeUndefined()

        // A future's state does not die: it reads Crashed, carrying the error.
        const state = yield* (yield* Futures.PrefectDistributedFuture.make(bad)).state
        expect(state.type).toBe("CRASHED")
        expect(state.message).toContain("tags")
      }).pipe(Effect.provide(layer))
    })

    it.live("a stored result that does not decode: future.state reads Crashed as result() reports CrashedRun", () => {
      const { exec, layer } = store.open()
      return Effect.gen(function*() {
        const future = yield* Effect.scoped(Effect.gen(function*() {
          yield* Effect.forkScoped(TaskWorker.serve([storePlain], { heartbeatInterval: 20 }))
          const future = yield* storePlain.delay(7)
          expect(yield* future.result({ timeout: "20 seconds" })).toBe(7)
          return future
        }))
        yield* exec("UPDATE taskflow_results SET value = $1 WHERE run_id = $2", ["{broken", future.taskRunId])
        const fresh = yield* Futures.PrefectDistributedFuture.make<number, never>(future.taskRunId)
        const state = yield* fresh.state
        expect(state.type).toBe("CRASHED")
        expect(state.message).toContain(future.taskRunId)
        const error = yield* Effect.flip(fresh.result({ timeout: "20 seconds" }))
        expect(error).toBeInstanceOf(Errors.CrashedRun)
        const listed = yield* (yield* RunStore.RunStore).listRuns()
        expect(listed.find((run) => run.id === future.taskRunId)!.corrupt?.message).toContain("does not decode")
      }).pipe(Effect.provide(layer))
    })

    it.live("an unknown state type: getRun fails typed naming the run and the column, a future on it finishes", () => {
      const { exec, layer } = store.open()
      const id = uuid()
      // Created by another store (another process), so this one reads the row rather than knowing it.
      const created = Effect.provide(
        Effect.flatMap(RunStore.RunStore, (s) => s.createRun(newRun(id, "store-plain", State.pending()))),
        layer
      )
      return Effect.gen(function*() {
        yield* created
        const s = yield* RunStore.RunStore
        const future = yield* Futures.PrefectDistributedFuture.make(id)
        yield* exec("UPDATE taskflow_runs SET state_type = $1 WHERE id = $2", ["EXPLODED", id])
        const error = serializationErrorOf(yield* Effect.flip(s.getRun(id)))
        expect(error.runId).toBe(id)
        expect(error.message).toContain("state_type")
        expect(error.message).toContain("EXPLODED")
        expect((yield* future.state).type).toBe("CRASHED")
        // The subscription's poll hears the row and ends the wait.
        const result = yield* Effect.flip(future.result({ timeout: "20 seconds" }))
        expect(result).toBeInstanceOf(Errors.CrashedRun)
        const listed = yield* s.listRuns()
        expect(listed[0]!.corrupt?.message).toContain("state_type")
        yield* exec("UPDATE taskflow_run_states SET type = $1 WHERE run_id = $2", ["EXPLODED", id])
        const historyError = serializationErrorOf(yield* Effect.flip(s.getHistory(id)))
        expect(historyError.message).toContain("EXPLODED")
      }).pipe(Effect.provide(layer))
    })
  })
}

for (const store of storeCases) {
  describe.skipIf(!store.available)(`deep arguments on ${store.name}`, () => {
    it.live("arguments nested past the depth bound fail delay with SerializationError naming the argument", () =>
      Effect.gen(function*() {
        let deep: unknown = 1
        for (let i = 0; i < 20_000; i++) deep = [deep]
        const error = yield* Effect.flip(storePlain.delay(deep as number))
        expect(error).toBeInstanceOf(Errors.SerializationError)
        expect(error.message).toContain("argument 1")
        expect(error.message).toContain(`${MAX_DEPTH} levels`)
        let object: unknown = "leaf"
        for (let i = 0; i < 20_000; i++) object = { inner: object }
        const objectError = yield* Effect.flip(storePlain.delay(object as number))
        expect(objectError.message).toContain(`${MAX_DEPTH} levels`)
        // Nothing was scheduled; a value just inside the bound is stored.
        expect(yield* (yield* RunStore.RunStore).listRuns({ name: "store-plain" })).toEqual([])
        let inside: unknown = 1
        for (let i = 0; i < MAX_DEPTH - 2; i++) inside = [inside]
        yield* storePlain.delay(inside as number)
      }).pipe(Effect.provide(store.fresh())))
  })
}

describe.skipIf(!postgresAvailable)("a PostgreSQL server going away", () => {
  // The bug this catches: a connection terminated by the server (57P01 admin_shutdown, as during a
  // shutdown) while it received its planner settings was logged as "refused a planner setting".
  it.live("is not reported as a refused planner setting: the statement fails as on a lost connection", () =>
    Effect.gen(function*() {
      const pool = new pg.Pool({ connectionString: freshPostgresUrl(), max: 1 })
      pool.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.promise(() => pool.end()))
      const refused: Array<Error> = []
      const prepared = makePrepared(pool, (error) => refused.push(error), [
        "SELECT pg_terminate_backend(pg_backend_pid())",
        "SET enable_seqscan = off"
      ])
      const exit = yield* Effect.exit(prepared("lost_claim", CLAIM_RUNS, [["x"], 1, Date.now(), "w1", 30_000]))
      expect(exit._tag).toBe("Failure")
      expect(refused).toEqual([])
    }).pipe(Effect.scoped))
})
