/**
 * Chaos, bounded: short runs over three task worker processes while one of them is
 * killed (SIGKILL) every ~2 s and a new one started in its place, on SQLite and on PostgreSQL. Each
 * body writes its execution to the store's own database (chaosTasks.ts), and the test writes each run
 * it created and each kill, so what is asserted is asserted there, afterwards: none lost, each run in
 * the final state its plan and the kills allow, none twice at once; and every future resolved.
 *
 * The storm lasts STORM_MS from the moment the first three workers serve; runs are sent, a window of
 * batches at a time, until it ends (or MAX_RUNS are sent), then the test waits for all of them. How
 * many runs and kills that makes depends on the machine: the test prints the counts. Measured on the
 * 2-core machine shared with other test runs (load average 10–14): 500–1,850 runs, 3–7 kills and
 * 30–70 s per store, most of the spread in how long the first three workers take to start (5–31 s).
 * `TASKFLOW_CHAOS_SEED=<n>` replays a plan (the kills' timing is the machine's);
 * `TASKFLOW_CHAOS_KEEP=<dir>` writes the tables, and what each assertion found, to a JSON file there.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { Futures, RunStore, State } from "effect-taskflow"
import * as fs from "node:fs"
import type { ChaosDb, Plan } from "./chaosTasks.js"
import { chaosFail, chaosOnce, chaosRetry, openChaosDb } from "./chaosTasks.js"
import type { WorkerProcess } from "./harness.js"
import { startWorker, stopAll, storeOf, targets } from "./harness.js"
import type { Target } from "./tasks.js"

const MAX_RUNS = 5_000
const BATCH = 50
/**
 * Batches in flight at once: the next is sent once the oldest is over, so the workers stay busy while
 * the runs of a killed worker wait for its leases to end.
 */
const WINDOW = 4
const WORKERS = 3
const CONCURRENCY = 10
const LEASE = 2_000
const STORM_MS = 20_000
/** Between kills: 2 s ± 0.5 s. */
const killPause = (random: () => number) => 1_500 + Math.floor(random() * 1_000)

const seed = Number(process.env.TASKFLOW_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** mulberry32: a small seeded generator, so a plan can be replayed. */
const generator = (state: number) => () => {
  state = (state + 0x6D2B79F5) | 0
  let t = Math.imul(state ^ (state >>> 15), 1 | state)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
}

const tasks = {
  "chaos-once": { task: chaosOnce, retries: 0, fail: 0 },
  "chaos-retry": { task: chaosRetry, retries: 2, fail: 1 },
  "chaos-fail": { task: chaosFail, retries: 1, fail: 99 }
} as const
type TaskName = keyof typeof tasks

/** Which task, and what its body does: 0–20 ms; 70% without retries, 20% failing once, 10% failing. */
const makePlan = (random: () => number) =>
  Array.from({ length: MAX_RUNS }, (_, i) => {
    const r = random()
    const name: TaskName = r < 0.7 ? "chaos-once" : r < 0.9 ? "chaos-retry" : "chaos-fail"
    return { name, plan: { key: `c${i}`, ms: Math.floor(random() * 21), fail: tasks[name].fail } satisfies Plan }
  })

let workers: Array<WorkerProcess> = []
afterEach(async () => {
  await stopAll(workers)
  workers = []
})

const query = <Row = Record<string, unknown>>(db: ChaosDb, sql: string, params?: ReadonlyArray<unknown>) =>
  Effect.promise(() => db.query<Row>(sql, params))

/**
 * Three workers; once they serve, for STORM_MS, the one started longest ago of those
 * serving is killed every ~2 s and replaced, each kill recorded in `chaos_kills` once the process is
 * gone. A kill waits until another worker serves beside its victim, to recover its runs: a loaded
 * machine takes seconds to start a worker, and killing the last one serving would test only that.
 * A kill and its record are one step, so interrupting the storm never leaves a kill unrecorded.
 */
const storm = (target: Target, db: ChaosDb, random: () => number) =>
  Effect.gen(function*() {
    let started = 0
    let kills = 0
    /** The workers started and not killed, oldest first; those of them that serve. */
    const live: Array<WorkerProcess> = []
    const serving = new Set<WorkerProcess>()
    const servingChanged = { wake: () => {} }
    const spawn = () => {
      const worker = startWorker(target, {
        id: `chaos-w${String(++started).padStart(3, "0")}`,
        lease: LEASE,
        concurrency: CONCURRENCY,
        script: "chaosWorker.ts"
      })
      workers.push(worker)
      live.push(worker)
      // (A worker stopped before it serves rejects `ready`: the test's end may do that.)
      worker.ready.then(() => {
        serving.add(worker)
        servingChanged.wake()
      }, () => {})
    }
    /** Until the oldest serving worker has another serving beside it (which recovers its runs). */
    const twoServing = Effect.promise(() =>
      new Promise<void>((resolve) => {
        const look = () => live.filter((worker) => serving.has(worker)).length >= 2 ? resolve() : undefined
        servingChanged.wake = look
        look()
      })
    )
    const kill = Effect.gen(function*() {
      const victim = live.find((worker) => serving.has(worker))!
      live.splice(live.indexOf(victim), 1)
      serving.delete(victim)
      // Taken before the signal: the victim runs nothing after it, so its executions end by then.
      const killedAt = Date.now()
      victim.process.kill("SIGKILL")
      const signal = yield* Effect.promise(() => victim.exited)
      yield* query(db, "INSERT INTO chaos_kills (worker, killed_at, signal) VALUES (?, ?, ?)", [
        victim.id,
        killedAt,
        String(signal)
      ])
      kills++
      spawn()
    })
    const over = yield* Deferred.make<void>()
    for (let i = 0; i < WORKERS; i++) spawn()
    const times = { serving: 0, over: 0 }
    const fiber = yield* Effect.fork(
      Effect.gen(function*() {
        yield* Effect.promise(() => Promise.all(live.map((worker) => worker.ready)))
        times.serving = Date.now()
        const end = Date.now() + STORM_MS
        for (let next = Date.now() + killPause(random); next < end; next = Date.now() + killPause(random)) {
          yield* Effect.sleep(next - Date.now())
          yield* twoServing
          yield* Effect.uninterruptible(kill)
        }
      }).pipe(Effect.ensuring(Effect.zipRight(
        Effect.sync(() => times.over = Date.now()),
        Deferred.succeed(over, undefined)
      )))
    )
    return { fiber, over, live, times, kills: () => kills, started: () => started }
  })

interface Sent {
  readonly name: TaskName
  readonly key: string
  readonly future: Futures.PrefectFuture<string, unknown>
}

/** Sends the plan's runs a batch at a time, WINDOW batches in flight, until the storm is over. */
const send = (db: ChaosDb, plan: ReturnType<typeof makePlan>, over: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const sent: Array<Sent> = []
    const batches: Array<ReadonlyArray<Futures.PrefectFuture<string, unknown>>> = []
    for (let start = 0; start < plan.length && !(yield* Deferred.isDone(over)); start += BATCH) {
      if (batches.length >= WINDOW) yield* Futures.wait(batches[batches.length - WINDOW], { timeout: "60 seconds" })
      const slice = plan.slice(start, start + BATCH)
      const batch: Array<Futures.PrefectFuture<string, unknown>> = []
      for (const name of Object.keys(tasks) as Array<TaskName>) {
        const mine = slice.filter((p) => p.name === name)
        if (mine.length === 0) continue
        const list = yield* tasks[name].task.mapDelay(mine.map((p) => p.plan))
        const rows = list.futures.map((future, i) => {
          sent.push({ name, key: mine[i].plan.key, future })
          batch.push(future)
          return [future.taskRunId, mine[i].plan.key, name, tasks[name].retries, mine[i].plan.fail]
        })
        yield* query(
          db,
          `INSERT INTO chaos_plan (run_id, run_key, task, retries, fail) VALUES ${
            rows.map(() => "(?, ?, ?, ?, ?)").join(", ")
          }`,
          rows.flat()
        )
      }
      batches.push(batch)
    }
    return sent
  })

/** Every future the client holds resolved, to the final state the store holds, with its result. */
const futuresAgree = (sent: ReadonlyArray<Sent>) =>
  Effect.gen(function*() {
    const stored = new Map((yield* (yield* RunStore.RunStore).listRuns()).map((run) => [run.id, run.state.type]))
    const mismatched: Array<string> = []
    for (const { future, key, name } of sent) {
      const state = yield* future.state
      if (!State.isFinal(state) || state.type !== stored.get(future.taskRunId)) {
        mismatched.push(
          `${name} ${key} ${future.taskRunId}: future ${state.type}, store ${stored.get(future.taskRunId)}`
        )
      } else if (state.type === "COMPLETED") {
        const result = yield* future.result()
        if (result !== key) mismatched.push(`${name} ${key} ${future.taskRunId}: result ${result}`)
      }
    }
    return mismatched
  })

/** The assertions, each a query of what is wrong: each must come back empty. */
const violations = {
  // None lost: every run created is in the store, in a final state.
  lost: `SELECT p.run_id, p.run_key, r.state_type FROM chaos_plan p LEFT JOIN taskflow_runs r ON r.id = p.run_id
    WHERE r.id IS NULL OR r.state_type NOT IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED')`,
  // Each in the final state its plan and the kills allow. Completed: by an execution of its last
  // attempt that succeeded, past its planned failures. Failed: its attempts ran out, the last one a
  // planned failure. Crashed: its attempts ran out, its lease lost by a worker the test killed, or by
  // a live one whose event loop stood still while it held the run (see recordStalls).
  // Nothing else (no Cancelled: nobody cancels).
  wrongState: `SELECT p.run_id, p.task, r.state_type, r.state_name, r.state_message, r.run_count
    FROM chaos_plan p JOIN taskflow_runs r ON r.id = p.run_id
    WHERE NOT (
      (r.state_type = 'COMPLETED' AND r.run_count > p.fail AND EXISTS (SELECT 1 FROM chaos_exec e
        WHERE e.run_id = p.run_id AND e.attempt = r.run_count AND e.outcome = 'ok'))
      OR (r.state_type = 'FAILED' AND r.run_count = p.retries + 1 AND r.run_count <= p.fail
        AND EXISTS (SELECT 1 FROM chaos_exec e WHERE e.run_id = p.run_id AND e.attempt = r.run_count AND e.outcome = 'fail'))
      OR (r.state_type = 'CRASHED' AND r.run_count = p.retries + 1 AND (
        EXISTS (SELECT 1 FROM chaos_kills k WHERE k.signal = 'SIGKILL'
          AND r.state_message LIKE 'Its task worker ' || k.worker || ' stopped responding (lease expired)%')
        OR EXISTS (SELECT 1 FROM chaos_stalls s JOIN taskflow_run_states running ON running.run_id = r.id
          WHERE r.state_message LIKE 'Its task worker ' || s.worker || ' stopped responding (lease expired)%'
            AND running.seq = r.state_seq - 1 AND s.from_at < r.state_timestamp AND s.to_at > running.timestamp)))
    )`,
  // No execution is left without an end but those on a killed worker (the kill ended them).
  unended: `SELECT e.* FROM chaos_exec e WHERE e.ended_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM chaos_kills k WHERE k.worker = e.worker AND k.signal = 'SIGKILL')`,
  // None twice at once: no two executions of a run overlap in time, a killed one ending at its kill.
  twiceAtOnce: `WITH x AS (
      SELECT e.exec_id, e.run_id, e.attempt, e.worker, e.started_at, COALESCE(e.ended_at, k.killed_at) AS ended_at
      FROM chaos_exec e LEFT JOIN chaos_kills k ON k.worker = e.worker AND e.ended_at IS NULL)
    SELECT a.run_id, a.worker AS worker_a, a.attempt AS attempt_a, a.started_at AS start_a, a.ended_at AS end_a,
      b.worker AS worker_b, b.attempt AS attempt_b, b.started_at AS start_b, b.ended_at AS end_b
    FROM x a JOIN x b ON a.run_id = b.run_id AND a.exec_id < b.exec_id
    WHERE a.started_at < b.ended_at AND b.started_at < a.ended_at`,
  // Nothing but the runs the test created.
  others: "SELECT r.id, r.name FROM taskflow_runs r WHERE NOT EXISTS (SELECT 1 FROM chaos_plan p WHERE p.run_id = r.id)"
}

/** The counts, for the test's output. */
const counts = (db: ChaosDb) =>
  Effect.gen(function*() {
    const states = yield* query<{ task: string; state_type: string; n: number }>(
      db,
      `SELECT p.task, r.state_type, COUNT(*) AS n FROM chaos_plan p JOIN taskflow_runs r ON r.id = p.run_id
       GROUP BY p.task, r.state_type ORDER BY p.task, r.state_type`
    )
    const [execs] = yield* query<Record<string, number>>(
      db,
      `SELECT COUNT(*) AS executions, COUNT(DISTINCT run_id) AS runs,
         SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) AS killed,
         SUM(CASE WHEN outcome = 'interrupted' THEN 1 ELSE 0 END) AS interrupted FROM chaos_exec`
    )
    const [stalled] = yield* query<{ n: number }>(
      db,
      `SELECT COUNT(*) AS n FROM taskflow_runs r WHERE r.state_type = 'CRASHED' AND NOT EXISTS (SELECT 1 FROM chaos_kills k
       WHERE k.signal = 'SIGKILL' AND r.state_message LIKE 'Its task worker ' || k.worker || ' stopped responding%')`
    )
    const [stalls] = yield* query<{ n: number; longest: number | null }>(
      db,
      "SELECT COUNT(*) AS n, MAX(to_at - from_at) AS longest FROM chaos_stalls"
    )
    const [again] = yield* query<{ n: number }>(
      db,
      `SELECT COUNT(*) AS n FROM (SELECT run_id FROM chaos_exec WHERE outcome = 'ok'
       GROUP BY run_id HAVING COUNT(*) > 1) t`
    )
    return `states ${states.map((s) => `${s.task} ${s.state_type} ${Number(s.n)}`).join(", ")}; ` +
      `${Number(execs.executions)} executions of ${Number(execs.runs)} runs, ${Number(execs.killed)} killed ` +
      `mid-body, ${Number(execs.interrupted)} interrupted; ${Number(again.n)} runs whose body succeeded twice ` +
      `(at-least-once: a kill between a body's end and its final state's commit); ${Number(stalls.n)} stalls of a ` +
      `worker's event loop over ${LEASE / 4} ms (the longest ${Number(stalls.longest ?? 0)} ms), ` +
      `${Number(stalled.n)} runs Crashed by a stalled live worker`
  })

for (const target of targets) {
  describe.skipIf(!target.available)(`chaos: ${target.name}`, () => {
    it.live(
      "runs sent for 20 s while a worker of three is killed every ~2 s: none lost, none twice at once",
      () => {
        const where = target.make()
        const random = generator(seed)
        const plan = makePlan(random)
        return Effect.gen(function*() {
          const began = Date.now()
          const db = yield* Effect.acquireRelease(
            Effect.promise(() => openChaosDb(where)),
            (db) => Effect.promise(() => db.close())
          )
          const chaos = yield* storm(where, db, random)
          const sent = yield* send(db, plan, chaos.over)
          const { notDone } = yield* Futures.wait(sent.map((s) => s.future), { timeout: "60 seconds" })
          yield* Fiber.interrupt(chaos.fiber)
          const done = Date.now()
          const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`
          // The survivors stop as a user stops them: their bodies' ends are all written.
          for (const worker of chaos.live) worker.process.kill("SIGTERM")
          yield* Effect.promise(() => Promise.all(chaos.live.map((worker) => worker.exited)))

          console.log(
            `chaos ${target.name} (seed ${seed}): ${sent.length} runs, ${chaos.kills()} kills, ` +
              `${chaos.started()} workers started; ${seconds(began, done)} (the first workers serving after ` +
              `${seconds(began, chaos.times.serving)}, the storm ${seconds(chaos.times.serving, chaos.times.over)}); ` +
              (yield* counts(db))
          )
          expect(chaos.kills()).toBeGreaterThan(0)
          const found: Record<string, ReadonlyArray<unknown>> = {}
          for (const [name, sql] of Object.entries(violations)) found[name] = yield* query(db, sql)
          if (process.env.TASKFLOW_CHAOS_KEEP) {
            const dump: Record<string, unknown> = { found }
            for (
              const table of [
                "chaos_exec",
                "chaos_kills",
                "chaos_stalls",
                "chaos_plan",
                "taskflow_runs",
                "taskflow_run_states"
              ]
            ) {
              dump[table] = yield* query(db, `SELECT * FROM ${table}`)
            }
            fs.writeFileSync(`${process.env.TASKFLOW_CHAOS_KEEP}/${target.name}-${seed}.json`, JSON.stringify(dump))
          }
          expect(found).toEqual(Object.fromEntries(Object.keys(violations).map((name) => [name, []])))
          expect(notDone.size).toBe(0)
          expect(yield* futuresAgree(sent)).toEqual([])
        }).pipe(Effect.scoped, Effect.provide(storeOf(where)))
      },
      120_000
    )
  })
}
