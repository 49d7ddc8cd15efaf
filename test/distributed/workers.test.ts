/**
 * Real task workers in other processes, over one SQLite file and over PostgreSQL: two workers and a
 * client, 10,000 runs each executed exactly once (counted in the database), `kill -9` of a worker
 * mid-run, and SIGTERM. No mocks: the workers are Node processes started with tsx.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Futures, RunStore } from "effect-taskflow"
import { dropProxy } from "../support/dropProxy.js"
import { freshPostgresUrl, postgresAvailable } from "../support/stores.js"
import type { WorkerProcess } from "./harness.js"
import { startWorker, stopAll, storeOf, targets, untilOutput } from "./harness.js"
import type { Target } from "./tasks.js"
import { countRun, openExecutions, slowNoRetry, slowOnFirst } from "./tasks.js"

let workers: Array<WorkerProcess> = []
afterEach(async () => {
  await stopAll(workers)
  workers = []
})
const start = (target: Target, options: Parameters<typeof startWorker>[1]) => {
  const worker = startWorker(target, options)
  workers.push(worker)
  return worker
}

/** Polls until the task's body started on a worker: its execution is counted in the database. */
const untilExecuted = (executions: { readonly forKey: (key: string) => Promise<number> }, key: string) =>
  Effect.gen(function*() {
    while ((yield* Effect.promise(() => executions.forKey(key))) === 0) yield* Effect.sleep(20)
  })

for (const target of targets) {
  describe.skipIf(!target.available)(`task workers in other processes: ${target.name}`, () => {
    it.live("10,000 runs over two workers: every run completes, each executed exactly once", () => {
      const where = target.make()
      return Effect.gen(function*() {
        const executions = yield* Effect.promise(() => openExecutions(where))
        const keys = Array.from({ length: 10_000 }, (_, i) => `run-${i}`)
        const futures = yield* countRun.mapDelay(keys)
        const [a, b] = [start(where, { id: "a" }), start(where, { id: "b" })]
        yield* Effect.promise(() => Promise.all([a.ready, b.ready]))
        const results = yield* futures.result({ timeout: "100 seconds" })
        expect(results).toEqual(keys)
        const counted = yield* Effect.promise(() => executions.count())
        expect(counted).toEqual({ total: 10_000, distinct: 10_000 })
        // Both workers took part.
        const store = yield* RunStore.RunStore
        const runs = yield* store.listRuns({ name: "dist-count" })
        expect(runs.every((run) => run.state.type === "COMPLETED" && run.runCount === 1)).toBe(true)
        yield* Effect.promise(() => executions.close())
      }).pipe(Effect.provide(storeOf(where)))
    }, 180_000)

    it.live("kill -9 of a worker mid-run: its runs are retried on another worker, or Crashed without retries", () => {
      const where = target.make()
      return Effect.gen(function*() {
        const executions = yield* Effect.promise(() => openExecutions(where))
        const doomed = start(where, { id: "doomed", lease: 1_000 })
        yield* Effect.promise(() => doomed.ready)
        const retried = yield* slowOnFirst.delay("retried")
        const crashed = yield* slowNoRetry.delay("crashed")
        yield* untilExecuted(executions, "retried")
        yield* untilExecuted(executions, "crashed")
        doomed.process.kill("SIGKILL")
        expect(yield* Effect.promise(() => doomed.exited)).toBe("SIGKILL")
        const survivor = start(where, { id: "survivor", lease: 1_000 })
        yield* Effect.promise(() => survivor.ready)
        expect(yield* retried.result({ timeout: "30 seconds" })).toBe("retried on survivor")
        const error = yield* Effect.flip(crashed.result({ timeout: "30 seconds" }))
        expect(error._tag).toBe("CrashedRun")
        const store = yield* RunStore.RunStore
        const history = yield* store.getHistory(retried.taskRunId)
        expect(history.map((state) => state.name)).toEqual([
          "Scheduled",
          "Pending",
          "Running",
          "AwaitingRetry",
          "Pending",
          "Retrying",
          "Completed"
        ])
        expect(history[3].message).toContain("doomed stopped responding")
        // Executed twice in all (the killed attempt and the retry), never at once: the retry was
        // claimed only after the dead worker's lease expired.
        expect(yield* Effect.promise(() => executions.forKey("retried"))).toBe(2)
        expect(yield* Effect.promise(() => executions.forKey("crashed"))).toBe(1)
        expect((yield* store.getRun(retried.taskRunId)).runCount).toBe(2)
        yield* Effect.promise(() => executions.close())
      }).pipe(Effect.provide(storeOf(where)))
    }, 60_000)

    // Pushed on PostgreSQL (NOTIFY), and on SQLite by a look after each change of the file: the
    // worker's heartbeat is an hour away on both.
    it.live(
      "a cancel from another process stops the run at once, long before the worker's next heartbeat",
      () => {
        const where = target.make()
        const hour = 3_600_000
        return Effect.gen(function*() {
          const executions = yield* Effect.promise(() => openExecutions(where))
          const worker = start(where, {
            id: "cancelled",
            lease: 2 * hour,
            heartbeatInterval: hour
          })
          yield* Effect.promise(() => worker.ready)
          const future = yield* slowNoRetry.delay("cancelled")
          yield* untilExecuted(executions, "cancelled")
          yield* Futures.cancel(future)
          yield* future.wait({ timeout: "20 seconds" })
          expect((yield* future.state).type).toBe("CANCELLED")
          yield* Effect.promise(() => executions.close())
        }).pipe(Effect.provide(storeOf(where)))
      },
      60_000
    )

    it.live("SIGTERM: the worker gives back what it holds and exits; another worker finishes it", () => {
      const where = target.make()
      return Effect.gen(function*() {
        const executions = yield* Effect.promise(() => openExecutions(where))
        const stopping = start(where, { id: "stopping" })
        yield* Effect.promise(() => stopping.ready)
        const future = yield* slowOnFirst.delay("released")
        yield* untilExecuted(executions, "released")
        stopping.process.kill("SIGTERM")
        yield* Effect.promise(() => stopping.exited)
        const store = yield* RunStore.RunStore
        const released = yield* store.getRun(future.taskRunId)
        expect([released.state.type, released.state.name, released.state.message]).toEqual([
          "SCHEDULED",
          "Scheduled",
          "Given back by task worker stopping on shutdown (its grace period of 100 ms ended)."
        ])
        const next = start(where, { id: "next" })
        yield* Effect.promise(() => next.ready)
        expect(yield* future.result({ timeout: "30 seconds" })).toBe("released on next")
        yield* Effect.promise(() => executions.close())
      }).pipe(Effect.provide(storeOf(where)))
    }, 60_000)

    // The bug this catches: NodeRuntime.runMain stops listening after the first signal, so a second
    // one ended the worker at once and left its runs Running until their leases ended (then retried
    // or Crashed). A grace period and a lease of a minute: only the give-back can make them Scheduled.
    it.live("a second SIGTERM while the worker waits for its runs: it gives them back, not counted, and exits", () => {
      const where = target.make()
      return Effect.gen(function*() {
        const executions = yield* Effect.promise(() => openExecutions(where))
        const holding = start(where, { id: "holding", lease: 60_000, shutdownGracePeriod: 60_000 })
        yield* Effect.promise(() => holding.ready)
        const once = yield* slowNoRetry.delay("given-back-once") // retries: 0
        const twice = yield* slowNoRetry.delay("given-back-twice")
        const retrying = yield* slowOnFirst.delay("given-back-retry") // retries: 1
        const futures = [once, twice, retrying]
        for (const key of ["given-back-once", "given-back-twice", "given-back-retry"]) {
          yield* untilExecuted(executions, key)
        }
        holding.process.kill("SIGTERM")
        yield* Effect.promise(() => untilOutput(holding, "stopping"))
        holding.process.kill("SIGTERM")
        // Exits on its own, long before its grace period or its leases end.
        expect(yield* Effect.promise(() => holding.exited)).not.toBe("SIGTERM")
        const store = yield* RunStore.RunStore
        for (const future of futures) {
          const run = yield* store.getRun(future.taskRunId)
          expect([run.state.type, run.state.name, run.state.message, run.workerId, run.runCount]).toEqual([
            "SCHEDULED",
            "Scheduled",
            "Given back by task worker holding on shutdown (SIGTERM while it waited for its runs).",
            undefined,
            0 // as before the claim: the attempt is not counted
          ])
        }
        expect((yield* store.getRun(once.taskRunId)).retries).toBe(0)
        expect((yield* store.getRun(retrying.taskRunId)).retries).toBe(1)
        // Another worker runs them in full, once each: a first attempt, not a retry.
        const next = start(where, { id: "next" })
        yield* Effect.promise(() => next.ready)
        expect(yield* once.result({ timeout: "30 seconds" })).toBe("given-back-once")
        expect(yield* twice.result({ timeout: "30 seconds" })).toBe("given-back-twice")
        expect(yield* retrying.result({ timeout: "30 seconds" })).toBe("given-back-retry on next")
        for (const future of futures) {
          const history = yield* store.getHistory(future.taskRunId)
          expect(history.map((state) => state.name)).toEqual([
            "Scheduled",
            "Pending",
            "Running",
            "Scheduled",
            "Pending",
            "Running",
            "Completed"
          ])
          expect((yield* store.getRun(future.taskRunId)).runCount).toBe(1)
        }
        // Executed twice each: the attempt given back, and the one that completed.
        for (const key of ["given-back-once", "given-back-twice", "given-back-retry"]) {
          expect(yield* Effect.promise(() => executions.forKey(key))).toBe(2)
        }
        yield* Effect.promise(() => executions.close())
      }).pipe(Effect.provide(storeOf(where)))
    }, 60_000)
  })
}

describe.skipIf(!postgresAvailable)("a task worker whose store is out of reach", () => {
  // The bug this catches: a claim trying an unreachable store again was uninterruptible, retries
  // and all, and the worker listened for signals only once its claim loop had ended. SIGTERM left
  // it waiting for the claim to give up (here never: its store tries again for 10 minutes), and a
  // second SIGTERM then ended the process at once, its runs left Running until their leases ended.
  it.live("SIGTERM while its claim tries again: it stops at once; a second SIGTERM gives its runs back", () => {
    const url = freshPostgresUrl()
    const direct: Target = { kind: "postgres", location: url }
    return Effect.gen(function*() {
      const proxy = yield* dropProxy(url)
      const executions = yield* Effect.promise(() => openExecutions(direct))
      const cutOff = start({ kind: "postgres", location: proxy.urlThrough(url) }, {
        id: "cut-off",
        concurrency: 2, // a slot stays free: it keeps claiming
        lease: 60_000,
        shutdownGracePeriod: 60_000,
        reconnectFor: 600_000
      })
      yield* Effect.promise(() => cutOff.ready)
      const future = yield* slowNoRetry.delay("cut-off-held")
      yield* untilExecuted(executions, "cut-off-held")
      proxy.cutOffNow()
      // Its claims (and heartbeats) find the store out of reach, and try again.
      while (proxy.refused() < 3) yield* Effect.sleep(20)
      cutOff.process.kill("SIGTERM")
      yield* Effect.promise(() => untilOutput(cutOff, "stopping: waiting"))
      cutOff.process.kill("SIGTERM")
      yield* Effect.promise(() => untilOutput(cutOff, "giving back 1 run(s)"))
      // The give-back tries again until the store answers.
      proxy.reconnect()
      expect(yield* Effect.promise(() => cutOff.exited)).not.toBe("SIGTERM")
      const store = yield* RunStore.RunStore
      const run = yield* store.getRun(future.taskRunId)
      expect([run.state.type, run.state.message, run.workerId, run.runCount]).toEqual([
        "SCHEDULED",
        "Given back by task worker cut-off on shutdown (SIGTERM while it waited for its runs).",
        undefined,
        0
      ])
      yield* Effect.promise(() => executions.close())
    }).pipe(Effect.scoped, Effect.provide(storeOf(direct)))
  }, 60_000)
})
