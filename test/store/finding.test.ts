/**
 * Finding runs again (issue 23), on every store alike: the listing's filters (state name, tag, id
 * prefix, creation and end times), keyset pages that stay put while runs are created, bad input as a
 * defect that says what to do, prune (never a run that is not final; a flow run goes whole) and
 * rerun. The indexes behind the filters are checked in findingPlans.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Cause, Duration, Effect, Either, Exit, Layer, Schema } from "effect"
import { Errors, Futures, RunStore, State, Task, TaskWorker } from "effect-taskflow"
import pg from "pg"
import { newRun, uuid } from "../support/storeRuns.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable, storeCases, withStore } from "../support/stores.js"

/** A task whose parameters have a Schema: a rerun's copy must decode with it. */
Task.make(
  { name: "finding-point", parameters: Schema.Tuple(Schema.Struct({ x: Schema.Number })), retries: 0 },
  (point: { readonly x: number }) => Effect.succeed(point.x)
)

const DAY = 86_400_000
/** A fixed time in the past: runs made at `at(n)` are n days after it. */
const T0 = Date.UTC(2024, 0, 1)
const at = (days: number) => new Date(T0 + days * DAY)

/** A run's fields, made at `createdAt`. */
const run = (
  id: string,
  createdAt: Date,
  more: Partial<RunStore.NewRun> = {}
): RunStore.NewRun => ({ ...newRun(id), state: State.pending({ timestamp: createdAt }), ...more })

const defectOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Cause.dieOption(exit.cause).pipe((o) => o._tag === "Some" ? o.value : undefined) : undefined

const ids = (runs: ReadonlyArray<RunStore.RunRecord>) => runs.map((r) => r.id)

for (const store of storeCases) {
  describe.skipIf(!store.available)(`finding runs: ${store.name}`, () => {
    it.live("each filter finds exactly its runs, and they combine", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const flow = "aaaaaa00-0000-7000-8000-000000000001"
          const a = "bbbbbb00-0000-7000-8000-000000000002"
          const b = "bbbbbb11-0000-7000-8000-000000000003"
          const c = "cccccc00-0000-7000-8000-000000000004"
          const d = "dddddd00-0000-7000-8000-000000000005"
          yield* s.createRuns([
            run(flow, at(0), { kind: "flow", name: "find-flow", tags: ["nightly"] }),
            run(a, at(1), { name: "find-a", flowRunId: flow, tags: ["io", "nightly"] }),
            run(b, at(2), { name: "find-a", tags: ["io"] }),
            run(c, at(3), { name: "find-c", state: State.scheduled({ timestamp: at(3) }) }),
            run(d, at(4), { name: "find-c" })
          ])
          yield* s.setState(a, State.completed(1, { timestamp: at(5) }))
          yield* s.setState(b, State.failed(Cause.fail("x"), { timestamp: at(6), name: "TimedOut" }))
          yield* s.setState(d, State.running({ timestamp: at(7), name: "Retrying" }))
          yield* s.setState(flow, State.completed(0, { timestamp: at(8) }))

          const find = (filter: RunStore.RunFilter) => Effect.map(s.listRuns(filter), ids)
          expect(yield* find({})).toEqual([flow, a, b, c, d])
          expect(yield* find({ kind: "flow" })).toEqual([flow])
          expect(yield* find({ kind: "task", order: "newest" })).toEqual([d, c, b, a])
          expect(yield* find({ name: "find-a" })).toEqual([a, b])
          expect(yield* find({ flowRunId: flow })).toEqual([a])
          expect(yield* find({ stateType: ["COMPLETED", "FAILED"] })).toEqual([flow, a, b])
          expect(yield* find({ stateName: "TimedOut" })).toEqual([b])
          expect(yield* find({ stateName: ["Retrying", "Scheduled"] })).toEqual([c, d])
          expect(yield* find({ tag: "io" })).toEqual([a, b])
          expect(yield* find({ tag: "nightly", kind: "task" })).toEqual([a])
          expect(yield* find({ tag: "none" })).toEqual([])
          expect(yield* find({ idPrefix: "bbbbbb" })).toEqual([a, b])
          expect(yield* find({ idPrefix: "bbbbbb1" })).toEqual([b])
          expect(yield* find({ idPrefix: "cccccc00-0000-7000-8000-000000000004" })).toEqual([c])
          // Created: after is inclusive, before exclusive.
          expect(yield* find({ createdAfter: at(1), createdBefore: at(3) })).toEqual([a, b])
          // Ended: only finished runs have an end.
          expect(yield* find({ endedAfter: at(0) })).toEqual([flow, a, b])
          expect(yield* find({ endedAfter: at(6) })).toEqual([flow, b])
          expect(yield* find({ endedBefore: at(6) })).toEqual([a])
          expect(yield* find({ endedAfter: at(5), endedBefore: at(8), name: "find-a" })).toEqual([a, b])
          expect(yield* find({ name: "find-a", stateName: "TimedOut", tag: "io", kind: "task" })).toEqual([b])
        })
      ))

    it.live("pages follow on by cursor, in both orders, and runs created meanwhile never shift them", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          // Two runs per millisecond: the id breaks ties.
          const made = Array.from({ length: 25 }, (_, i) =>
            run(uuid(), new Date(T0 + Math.floor(i / 2)), { name: "pages" }))
          yield* s.createRuns(made)
          const oldest = [...made].sort((x, y) =>
            x.state.timestamp.getTime() - y.state.timestamp.getTime() || (x.id < y.id ? -1 : 1)
          ).map((r) =>
            r.id
          )
          const extra: Array<string> = []
          for (const order of ["oldest", "newest"] as const) {
            const seen: Array<string> = []
            let cursor: string | undefined
            let pages = 0
            do {
              const page: RunStore.RunPage = yield* s.listRunsPage({
                name: "pages",
                order,
                limit: 10,
                ...(cursor === undefined ? {} : { cursor })
              })
              seen.push(...ids(page.runs))
              cursor = page.next
              pages++
              // A run created between pages, newer than all: it shows at the end of an oldest-first
              // listing, and never in a newest-first one begun before it.
              if (pages === 1) {
                extra.push(uuid())
                yield* s.createRun(run(extra[extra.length - 1], at(400 + extra.length), { name: "pages" }))
              }
            } while (cursor !== undefined)
            expect(pages).toBe(3)
            // Oldest first: the new run last. Newest first: the one made before this listing began,
            // first, and not the one made during it.
            if (order === "oldest") expect(seen).toEqual([...oldest, extra[0]])
            else expect(seen).toEqual([extra[0], ...[...oldest].reverse()])
          }
          // Without a limit: one page, no cursor. With a limit the last page has no cursor either.
          expect((yield* s.listRunsPage({ name: "pages" })).next).toBeUndefined()
          const exact = yield* s.listRunsPage({ name: "pages", limit: 27 })
          expect(exact.runs.map((r) => r.id).slice(-2)).toEqual(extra)
          expect([exact.runs.length, exact.next]).toEqual([27, undefined])
          expect(ids(yield* s.listRuns({ name: "pages", limit: 3 }))).toEqual(oldest.slice(0, 3))
        })
      ))

    it.live("bad input is a defect that says what to pass", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const message = (filter: RunStore.RunFilter) =>
            Effect.map(Effect.exit(s.listRunsPage(filter)), (exit) => {
              const defect = defectOf(exit)
              expect(defect).toBeInstanceOf(Cause.IllegalArgumentException)
              return (defect as Error).message
            })
          expect(yield* message({ cursor: "not-a-cursor" })).toContain("pass a page's `next` as it came")
          expect(yield* message({ createdAfter: new Date(Number.NaN) })).toContain("createdAfter must be a valid Date")
          expect(yield* message({ limit: 1.5 })).toContain("limit must be a whole number")
          yield* s.createRuns([run(uuid(), at(0)), run(uuid(), at(1))])
          const { next } = yield* s.listRunsPage({ limit: 1 })
          expect(yield* message({ cursor: next!, order: "newest" })).toContain("pass the same order")
          const prune = (options: RunStore.PruneOptions) =>
            Effect.map(Effect.exit(s.prune(options)), (exit) => (defectOf(exit) as Error).message)
          expect(yield* prune({ olderThan: -1 })).toContain("'olderThan' must be a non-negative number")
          expect(yield* prune({ olderThan: "1 day", states: ["RUNNING"] })).toContain("never pruned")
        })
      ))

    it.live("prune deletes finished runs ended before the cutoff, never one that is not final", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const old = Array.from({ length: 6 }, () => uuid())
          const states = [
            State.completed(1, { timestamp: at(1) }),
            State.failed(Cause.fail("boom"), { timestamp: at(1) }),
            State.crashed(Cause.die("gone"), { timestamp: at(1) }),
            State.cancelled({ timestamp: at(1) }),
            State.running({ timestamp: at(1) }),
            State.paused({ timestamp: at(1) })
          ]
          yield* s.createRuns(old.map((id) => run(id, at(0))))
          yield* Effect.forEach(old, (id, i) => s.setState(id, states[i]))
          const scheduled = uuid()
          yield* s.createRun(run(scheduled, at(0), { state: State.scheduled({ timestamp: at(0) }) }))
          const recent = uuid()
          yield* s.createRun(run(recent, new Date()))
          yield* s.setState(recent, State.completed(2))

          expect(yield* s.countPrunable({ olderThan: "30 days", states: ["FAILED"] })).toBe(1)
          const failedOnly = yield* s.prune({ olderThan: "30 days", states: ["FAILED"] })
          expect(failedOnly).toEqual({ runs: 1, states: 2, results: 0, logs: 0 })
          expect(Exit.isFailure(yield* Effect.exit(s.getRun(old[1])))).toBe(true)

          expect(yield* s.countPrunable({ olderThan: "30 days" })).toBe(3)
          const report = yield* s.prune({ olderThan: "30 days" })
          // Completed, Crashed, Cancelled: two states each, one kept result.
          expect(report).toEqual({ runs: 3, states: 6, results: 1, logs: 0 })
          const left = ids(yield* s.listRuns())
          expect(left.sort()).toEqual([old[4], old[5], scheduled, recent].sort())
          const error = yield* Effect.flip(s.getHistory(old[0]))
          expect(error).toBeInstanceOf(Errors.RunNotFound)
          expect(yield* s.prune({ olderThan: "30 days" })).toEqual({ runs: 0, states: 0, results: 0, logs: 0 })
          expect(yield* s.countPrunable({ olderThan: 0 })).toBe(1)
          expect(yield* s.countPrunable({ olderThan: Infinity })).toBe(0)
          expect((yield* s.prune({ olderThan: Duration.infinity })).runs).toBe(0)
        })
      ))

    it.live("a flow run is pruned whole, subflows too, and only once every run in it is final", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const flow = uuid()
          const sub = uuid()
          const inFlow = Array.from({ length: 3 }, () => uuid())
          const inSub = Array.from({ length: 2 }, () => uuid())
          const busyFlow = uuid()
          const busyTask = uuid()
          const doneInBusy = uuid()
          yield* s.createRuns([
            run(flow, at(0), { kind: "flow", name: "outer" }),
            run(sub, at(0), { kind: "flow", name: "inner", flowRunId: flow }),
            ...inFlow.map((id) => run(id, at(0), { flowRunId: flow })),
            ...inSub.map((id) => run(id, at(0), { flowRunId: sub })),
            run(busyFlow, at(0), { kind: "flow", name: "busy" }),
            run(busyTask, at(0), { flowRunId: busyFlow }),
            run(doneInBusy, at(0), { flowRunId: busyFlow })
          ])
          // Runs in a flow run are judged with it: a failed one, ended after the cutoff, goes too.
          yield* Effect.forEach(inSub, (id) => s.setState(id, State.completed(0, { timestamp: at(1) })))
          yield* s.setState(sub, State.completed(0, { timestamp: at(1) }))
          yield* s.setState(inFlow[0], State.failed(Cause.fail("x"), { timestamp: at(1) }))
          yield* s.setState(inFlow[1], State.cancelled({ timestamp: at(1) }))
          yield* s.setState(inFlow[2], State.completed(0, { timestamp: new Date() }))
          yield* s.setState(flow, State.completed(0, { timestamp: at(2) }))
          yield* s.setState(doneInBusy, State.completed(0, { timestamp: at(1) }))
          yield* s.setState(busyFlow, State.failed(Cause.fail("x"), { timestamp: at(2) }))

          // Only the outer flow's tree: the busy flow keeps an unfinished run, so it and its runs stay.
          expect(yield* s.countPrunable({ olderThan: "30 days", states: ["COMPLETED"] })).toBe(7)
          expect(yield* s.countPrunable({ olderThan: "30 days" })).toBe(7)
          const report = yield* s.prune({ olderThan: "30 days", states: ["COMPLETED"] })
          expect(report.runs).toBe(7)
          expect(ids(yield* s.listRuns()).sort()).toEqual([busyFlow, busyTask, doneInBusy].sort())
          // Once its last run ends, the busy flow goes whole.
          yield* s.setState(busyTask, State.completed(0, { timestamp: at(1) }))
          expect(yield* s.prune({ olderThan: "30 days" })).toMatchObject({ runs: 3 })
          expect(yield* s.listRuns()).toEqual([])
        })
      ))

    it.live(
      "prune goes in batches: thousands of runs, and a flow run whose subflow holds more than a batch",
      () =>
        withStore(
          store,
          Effect.gen(function*() {
            const s = yield* RunStore.RunStore
            const done = State.cancelled({ timestamp: at(1) })
            const flow = uuid()
            const sub = uuid()
            yield* s.createRuns([
              ...Array.from({ length: 2_100 }, () => run(uuid(), at(0), { state: done })),
              run(flow, at(0), { kind: "flow", name: "big", state: done }),
              run(sub, at(0), { kind: "flow", name: "big-sub", flowRunId: flow, state: done }),
              ...Array.from({ length: 1_100 }, () => run(uuid(), at(0), { flowRunId: flow, state: done })),
              ...Array.from({ length: 1_300 }, () => run(uuid(), at(0), { flowRunId: sub, state: done }))
            ])
            const kept = uuid()
            yield* s.createRun(run(kept, at(0)))
            expect(yield* s.countPrunable({ olderThan: "1 day" })).toBe(4_502)
            const report = yield* s.prune({ olderThan: "1 day" })
            // Each run was created finished: one state each, no result.
            expect(report).toEqual({ runs: 4_502, states: 4_502, results: 0, logs: 0 })
            expect(ids(yield* s.listRuns())).toEqual([kept])
          })
        ),
      60_000
    )

    it.live("rerun schedules a copy of the run, linked to it, that a worker claims with the same arguments", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const flow = uuid()
          const first = uuid()
          yield* s.createRun(run(flow, at(0), { kind: "flow", name: "rerun-flow" }))
          yield* s.createRun({
            id: first,
            kind: "task",
            name: "finding-point",
            flowRunId: flow,
            parameters: [{ x: 7 }],
            tags: ["a", "b"],
            retries: 2,
            state: State.scheduled()
          })
          yield* s.claimRuns({ workerId: "w", names: ["finding-point"], limit: 1, lease: 60_000 })
          yield* s.setState(first, State.failed(Cause.fail("x")), { workerId: "w" })

          const again = yield* s.rerun(first)
          expect(again).toMatchObject({
            kind: "task",
            name: "finding-point",
            flowRunId: undefined,
            parentTaskRunId: undefined,
            parameters: [{ x: 7 }],
            tags: ["a", "b"],
            retries: 2,
            runCount: 0,
            rerunOf: first
          })
          expect(again.id).not.toBe(first)
          expect(again.state.type).toBe("SCHEDULED")
          expect((yield* s.getRun(again.id)).rerunOf).toBe(first)
          expect((yield* s.getRun(first)).rerunOf).toBeUndefined()
          expect(ids(yield* s.listRuns({ tag: "b" })).sort()).toEqual([first, again.id].sort())
          const claimed = yield* s.claimRuns({ workerId: "w", names: ["finding-point"], limit: 5, lease: 60_000 })
          expect(claimed.map((c) => [c.id, Either.getOrThrow(c.parameters)])).toEqual([[again.id, [{ x: 7 }]]])
          // A flow run is rerun as a flow run.
          const flowAgain = yield* s.rerun(flow)
          expect([flowAgain.kind, flowAgain.name, flowAgain.rerunOf]).toEqual(["flow", "rerun-flow", flow])
          const missing = yield* Effect.flip(s.rerun(uuid()))
          expect(missing).toBeInstanceOf(Errors.RunNotFound)
        })
      ))
  })
}

/** A SQL store's file or schema, and a way to run SQL statements on it behind the store's back. */
const sqlCases = [
  {
    name: "sqlite",
    available: true,
    open: () => {
      const filename = freshSqliteFile()
      return {
        layer: () => RunStore.sqlite({ filename }),
        exec: (texts: ReadonlyArray<string>) =>
          Effect.sync(() => {
            const db = new Database(filename)
            try {
              for (const text of texts) db.exec(text)
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
        layer: () => RunStore.postgres({ url }),
        exec: (texts: ReadonlyArray<string>) =>
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: url })
            await client.connect()
            try {
              for (const text of texts) await client.query(text)
            } finally {
              await client.end()
            }
          })
      }
    }
  }
]

for (const store of sqlCases) {
  describe.skipIf(!store.available)(`finding runs: ${store.name}, a store made before migration 4`, () => {
    it.live("migrating finds the tags of the runs already there; a corrupt row does not stop it", () => {
      const { exec, layer } = store.open()
      const row = (id: string, tags: string) =>
        `INSERT INTO taskflow_runs (id, kind, name, parameters, tags, retries, run_count, state_seq, state_type,
          state_name, state_timestamp, created_at) VALUES ('${id}', 'task', 'store-plain', '[]', '${tags}', 0, 0, 1,
          'PENDING', 'Pending', ${T0}, ${T0})`
      const [a, b, bad] = [uuid(), uuid(), uuid()]
      return Effect.gen(function*() {
        yield* Effect.provide(Effect.void, layer())
        // The database as migration 3 left it.
        yield* exec([
          "DROP TRIGGER taskflow_runs_tags" + (store.name === "postgres" ? " ON taskflow_runs" : ""),
          "DROP TABLE taskflow_run_tags",
          ...["created", "name_created", "state_created", "state_name_created", "flows_created", "ended"].map((index) =>
            `DROP INDEX taskflow_runs_${index}`
          ),
          ...(store.name === "postgres" ? ["DROP INDEX taskflow_runs_id_pattern"] : []),
          "ALTER TABLE taskflow_runs DROP COLUMN rerun_of",
          "DROP TABLE taskflow_run_logs",
          "ALTER TABLE taskflow_runs DROP COLUMN trace_context",
          "ALTER TABLE taskflow_runs DROP COLUMN scheduled_at",
          "DELETE FROM taskflow_migrations WHERE migration_id >= 4",
          row(a, `["x", "x", "y"]`),
          row(b, `["y"]`),
          row(bad, "{not json")
        ])
        const s = yield* Effect.provide(RunStore.RunStore, yield* Layer.build(layer()))
        expect(ids(yield* s.listRuns({ tag: "x" }))).toEqual([a])
        expect(ids(yield* s.listRuns({ tag: "y" })).sort()).toEqual([a, b].sort())
        const listed = yield* s.listRuns()
        expect(listed.find((r) => r.id === bad)?.corrupt?.message).toContain("tags")
        expect(listed.every((r) => r.rerunOf === undefined)).toBe(true)
      }).pipe(Effect.scoped)
    })
  })
}

/** Fails its first call for each key, then returns the point's x: a rerun of a failed run completes. */
const seen = new Set<string>()
const flakyPoint = Task.make(
  { name: "finding-flaky", parameters: Schema.Tuple(Schema.String, Schema.Struct({ x: Schema.Number })) },
  (key: string, point: { readonly x: number }) =>
    seen.has(key)
      ? Effect.succeed(point.x)
      : Effect.sync(() => seen.add(key)).pipe(Effect.zipRight(Effect.fail("first")))
)

for (const store of storeCases) {
  describe.skipIf(!store.available)(`finding runs: ${store.name}, a task worker`, () => {
    it.live("runs a rerun as any run: a failed run, rerun, completes with the same arguments", () =>
      Effect.gen(function*() {
        yield* Effect.forkScoped(TaskWorker.serve([flakyPoint], { heartbeatInterval: 50 }))
        const first = yield* flakyPoint.delay(uuid(), { x: 5 })
        const failed = yield* Effect.either(first.result({ timeout: "10 seconds" }))
        expect(Either.isLeft(failed)).toBe(true)
        const s = yield* RunStore.RunStore
        const again = yield* s.rerun(first.taskRunId)
        const future = yield* Futures.PrefectDistributedFuture.make<number, string>(again.id)
        expect(yield* future.result({ timeout: "10 seconds" })).toBe(5)
        expect((yield* s.getRun(again.id)).rerunOf).toBe(first.taskRunId)
      }).pipe(Effect.scoped, Effect.provide(store.fresh())))
  })
}

describe("finding runs: the memory store", () => {
  it.live("a store that keeps N finished runs still keeps N after a prune", () =>
    Effect.gen(function*() {
      const s = RunStore.makeMemory({ keepFinished: 3 })
      const made = Array.from({ length: 5 }, () => uuid())
      yield* s.createRuns(made.map((id, i) => run(id, at(i), { state: State.completed(i, { timestamp: at(i) }) })))
      expect(ids(yield* s.listRuns())).toEqual(made.slice(2))
      yield* s.prune({ olderThan: 0, states: ["COMPLETED"] })
      expect(yield* s.listRuns()).toEqual([])
      const later = Array.from({ length: 4 }, () => uuid())
      yield* s.createRuns(
        later.map((id, i) => run(id, at(10 + i), { state: State.cancelled({ timestamp: at(10 + i) }) }))
      )
      expect(ids(yield* s.listRuns())).toEqual(later.slice(1))
    }))
})
