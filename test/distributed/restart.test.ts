/**
 * The store going away: a PostgreSQL restart during a run (calls reconnect with backoff, nothing is
 * lost), and a server that stays away (a typed RunStoreError once `reconnectFor` has passed). On a
 * server of the test's own, so the restart touches no other test.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { Errors, RunStore, Task, TaskWorker } from "effect-taskflow"
import type { PrivatePostgres } from "./privatePostgres.js"
import { privatePostgresAvailable, startPrivatePostgres } from "./privatePostgres.js"

if (!privatePostgresAvailable) {
  if (process.env.CI === "true") {
    throw new Error("The restart tests need the PostgreSQL binaries (apt install postgresql).")
  }
  console.warn("Skipping the PostgreSQL restart tests: no PostgreSQL binaries under /usr/lib/postgresql.")
}

const gate = new Map<string, Deferred.Deferred<void>>()
const started = new Map<string, Deferred.Deferred<void>>()
/** Runs until the test opens its gate. */
const gated = Task.make("restart-gated", (key: string) =>
  Effect.gen(function*() {
    yield* Deferred.succeed(started.get(key)!, undefined)
    yield* Deferred.await(gate.get(key)!)
    return `${key} done`
  }))

describe.skipIf(!privatePostgresAvailable)("PostgreSQL going away", () => {
  let server: PrivatePostgres
  beforeAll(() => {
    server = startPrivatePostgres(55_432 + (process.pid % 1000))
  }, 60_000)
  afterAll(() => server?.destroy())

  it.live(
    "a restart during a run: the worker reconnects, the run completes, the future sees it",
    () =>
      Effect.gen(function*() {
        const key = "restart"
        const open = yield* Deferred.make<void>()
        const isStarted = yield* Deferred.make<void>()
        gate.set(key, open)
        started.set(key, isStarted)
        yield* Effect.forkScoped(TaskWorker.serve([gated], { heartbeatInterval: 100 }))
        const future = yield* gated.delay(key)
        yield* Deferred.await(isStarted)
        yield* Effect.sync(() => server.restart())
        yield* Deferred.succeed(open, undefined)
        expect(yield* future.result({ timeout: "30 seconds" })).toBe("restart done")
        const store = yield* RunStore.RunStore
        expect((yield* store.getHistory(future.taskRunId)).map((s) => s.type)).toEqual([
          "SCHEDULED",
          "PENDING",
          "RUNNING",
          "COMPLETED"
        ])
      }).pipe(Effect.scoped, Effect.provide(RunStore.postgres({ url: server.url, maxPollInterval: 200 }))),
    60_000
  )

  it.live(
    "a server that stays away: calls fail with RunStoreError after reconnectFor, and work again once it is back",
    () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const future = yield* gated.delay("never-run")
        yield* Effect.sync(() => server.stop())
        const exit = yield* Effect.exit(store.getRun(future.taskRunId))
        yield* Effect.sync(() => server.start())
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error).toBeInstanceOf(
          Errors.RunStoreError
        )
        // Nothing was lost: the run is there when the server is back.
        expect((yield* store.getRun(future.taskRunId)).state.type).toBe("SCHEDULED")
      }).pipe(
        Effect.provide(RunStore.postgres({ url: server.url, maxPollInterval: 200, reconnectFor: "1 second" }))
      ),
    60_000
  )
})
