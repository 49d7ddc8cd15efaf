/**
 * `countRuns` (issue 24) on every store alike: counts by name, kind and state type over the runs a
 * filter finds, ignoring order, limit and cursor.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { RunStore, State } from "effect-taskflow"
import { countingStatement } from "../../src/internal/store/sql/finding.js"
import { newRun } from "../support/storeRuns.js"
import { freshSqliteFile, storeCases, withStore } from "../support/stores.js"

const DAY = 86_400_000
const T0 = Date.UTC(2024, 0, 1)
const at = (days: number) => new Date(T0 + days * DAY)

const run = (id: string, createdAt: Date, more: Partial<RunStore.NewRun> = {}): RunStore.NewRun => ({
  ...newRun(id),
  state: State.pending({ timestamp: createdAt }),
  ...more
})

/** Counts in one order, so stores compare alike. */
const sorted = (counts: ReadonlyArray<RunStore.RunCount>) =>
  [...counts].sort((a, b) => `${a.name}/${a.kind}/${a.stateType}`.localeCompare(`${b.name}/${b.kind}/${b.stateType}`))

for (const store of storeCases) {
  describe.skipIf(!store.available)(`countRuns: ${store.name}`, () => {
    it.live("counts by name, kind and state type, with every filter", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const flow = "aaaaaa00-0000-7000-8000-000000000001"
          const a = "bbbbbb00-0000-7000-8000-000000000002"
          const b = "bbbbbb11-0000-7000-8000-000000000003"
          const c = "cccccc00-0000-7000-8000-000000000004"
          const d = "dddddd00-0000-7000-8000-000000000005"
          expect(yield* s.countRuns()).toEqual([])
          yield* s.createRuns([
            run(flow, at(0), { kind: "flow", name: "count-flow", tags: ["nightly"] }),
            run(a, at(1), { name: "count-a", flowRunId: flow, tags: ["io", "nightly"] }),
            run(b, at(2), { name: "count-a", flowRunId: flow, tags: ["io"] }),
            run(c, at(3), { name: "count-c", state: State.scheduled({ timestamp: at(3) }) }),
            run(d, at(4), { name: "count-c" })
          ])
          yield* s.setState(a, State.completed(1, { timestamp: at(5) }))
          yield* s.setState(b, State.completed(2, { timestamp: at(6) }))
          yield* s.setState(d, State.failed(Cause.fail("x"), { timestamp: at(7), name: "TimedOut" }))
          yield* s.setState(flow, State.completed(0, { timestamp: at(8) }))

          // When the first was created, and the last ended (not for a state type that is not final).
          expect(sorted(yield* s.countRuns()).map((c) => [c.name, c.stateType, c.firstCreatedAt, c.lastEndedAt]))
            .toEqual([
              ["count-a", "COMPLETED", at(1), at(6)],
              ["count-c", "FAILED", at(4), at(7)],
              ["count-c", "SCHEDULED", at(3), undefined],
              ["count-flow", "COMPLETED", at(0), at(8)]
            ])
          const count = (filter?: RunStore.RunFilter) =>
            Effect.map(s.countRuns(filter), (counts) =>
              sorted(counts).map(({ count, kind, name, stateType }) => ({ name, kind, stateType, count })))
          expect(yield* count()).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 2 },
            { name: "count-c", kind: "task", stateType: "FAILED", count: 1 },
            { name: "count-c", kind: "task", stateType: "SCHEDULED", count: 1 },
            { name: "count-flow", kind: "flow", stateType: "COMPLETED", count: 1 }
          ])
          expect(yield* count({ flowRunId: flow })).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 2 }
          ])
          expect(yield* count({ kind: "flow" })).toEqual([
            { name: "count-flow", kind: "flow", stateType: "COMPLETED", count: 1 }
          ])
          expect(yield* count({ name: "count-c" })).toHaveLength(2)
          expect(yield* count({ stateType: ["FAILED", "SCHEDULED"] })).toEqual([
            { name: "count-c", kind: "task", stateType: "FAILED", count: 1 },
            { name: "count-c", kind: "task", stateType: "SCHEDULED", count: 1 }
          ])
          expect(yield* count({ stateName: "TimedOut" })).toEqual([
            { name: "count-c", kind: "task", stateType: "FAILED", count: 1 }
          ])
          expect(yield* count({ tag: "nightly" })).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 1 },
            { name: "count-flow", kind: "flow", stateType: "COMPLETED", count: 1 }
          ])
          expect(yield* count({ idPrefix: "bbbbbb1" })).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 1 }
          ])
          expect(yield* count({ createdAfter: at(1), createdBefore: at(3) })).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 2 }
          ])
          expect(yield* count({ endedAfter: at(6), endedBefore: at(8) })).toEqual([
            { name: "count-a", kind: "task", stateType: "COMPLETED", count: 1 },
            { name: "count-c", kind: "task", stateType: "FAILED", count: 1 }
          ])
          // Order, limit and cursor do not narrow a count; an empty list of state types counts nothing.
          const page = yield* s.listRunsPage({ limit: 2, order: "newest" })
          expect(yield* count({ limit: 1, order: "newest", cursor: page.next! })).toEqual(yield* count())
          expect(yield* count({ stateType: [] })).toEqual([])
          // A bad filter is a defect, as for a listing.
          const bad = yield* Effect.exit(s.countRuns({ createdAfter: new Date(Number.NaN) }))
          expect(Exit.isFailure(bad) && Cause.isDie(bad.cause)).toBe(true)
          const badCap = yield* Effect.exit(s.countRuns({}, { cap: -1 }))
          expect(Exit.isFailure(badCap) && Cause.isDie(badCap.cause)).toBe(true)
        })
      ))
  })
}

for (const store of storeCases) {
  describe.skipIf(!store.available)(`countRuns with a cap: ${store.name}`, () => {
    it.live("counts each state type's runs up to the cap and one more, with every filter", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const s = yield* RunStore.RunStore
          const id = (i: number) => `eeeeee${i.toString(16).padStart(2, "0")}-0000-7000-8000-000000000000`
          // 5 Completed (2 named x, 3 named y), 2 Failed, 1 Running.
          yield* s.createRuns([0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
            run(id(i), at(i), {
              name: i < 2 ? "cap-x" : "cap-y",
              state: i < 5
                ? State.completed(i, { timestamp: at(i + 1) })
                : i < 7
                ? State.failed(Cause.fail("x"), { timestamp: at(i + 1) })
                : State.running({ timestamp: at(i) })
            })
          ))
          const byType = (filter: RunStore.RunFilter, cap: number) =>
            Effect.map(s.countRuns(filter, { cap }), (counts) => {
              const out: Record<string, number> = {}
              for (const c of counts) out[c.stateType] = (out[c.stateType] ?? 0) + c.count
              return out
            })
          expect(yield* byType({}, 2)).toEqual({ COMPLETED: 3, FAILED: 2, RUNNING: 1 })
          expect(yield* byType({}, 10)).toEqual({ COMPLETED: 5, FAILED: 2, RUNNING: 1 })
          expect(yield* byType({}, 0)).toEqual({ COMPLETED: 1, FAILED: 1, RUNNING: 1 })
          expect(yield* byType({ stateType: "COMPLETED" }, 1)).toEqual({ COMPLETED: 2 })
          expect(yield* byType({ name: "cap-x" }, 1)).toEqual({ COMPLETED: 2 })
          expect(yield* byType({ endedAfter: at(3) }, 1)).toEqual({ COMPLETED: 2, FAILED: 2 })
          expect(yield* byType({ stateType: [] }, 1)).toEqual({})
          // Uncapped and capped above every count: the same groups.
          const all = yield* s.countRuns()
          expect(sorted(yield* s.countRuns({}, { cap: 100 }))).toEqual(sorted(all))
        })
      ))
  })
}

describe("countRuns' plan (SQLite, 20,000 runs)", () => {
  it.live("a filtered count searches an index, never reads every run", () => {
    const filename = freshSqliteFile()
    const t0 = Date.UTC(2024, 0, 1)
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.provide(Effect.void, RunStore.sqlite({ filename })) // its migrations
      yield* sql.unsafe(`INSERT INTO taskflow_runs (id, kind, name, flow_run_id, parameters, tags, retries, run_count,
          state_seq, state_type, state_name, state_timestamp, created_at)
        SELECT printf('%08x', i) || '-0000-7000-8000-000000000000', 'task', 'plan-' || (i % 100),
          CASE WHEN i % 100 < 10 THEN printf('%08x', i - i % 100) || '-0000-7000-8000-000000000000' END,
          '[]', '[]', 0, 1, 1,
          CASE WHEN i % 100 < 95 THEN 'COMPLETED' ELSE 'RUNNING' END,
          CASE WHEN i % 100 < 95 THEN 'Completed' ELSE 'Running' END,
          ${t0} + i * 1000 + 1000, ${t0} + i * 1000
        FROM (WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i FROM n)`)
      yield* sql`INSERT INTO taskflow_run_tags (run_id, tag) SELECT id, 'urgent' FROM taskflow_runs
        WHERE name = 'plan-7'`
      const filters: ReadonlyArray<readonly [string, RunStore.RunFilter]> = [
        ["active", { stateType: ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"] }],
        ["flow run", { flowRunId: "00004e00-0000-7000-8000-000000000000" }],
        ["name", { name: "plan-42" }],
        ["tag", { tag: "urgent" }],
        ["ended after", { endedAfter: new Date(t0 + 19_000_000) }],
        ["created between", { createdAfter: new Date(t0 + 1_000_000), createdBefore: new Date(t0 + 2_000_000) }]
      ]
      const scans: Array<string> = []
      for (const [what, filter] of filters) {
        const [text, params] = countingStatement(sql, filter).compile()
        const plan = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
        // "SCAN r", with an index or not, reads every run; "SEARCH r USING INDEX …" only the matching ones.
        for (const { detail } of plan) if (/^SCAN r\b/.test(detail)) scans.push(`${what}: ${detail}`)
      }
      expect(scans).toEqual([])
    }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.scoped)
  }, 60_000)
})
