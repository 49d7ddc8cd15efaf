/**
 * A flow run's task runs: a timeline (one bar per run, or one summary per task with many runs) and
 * a paginated table. Reads are bounded whatever the flow's size: one grouped count (with each
 * task's first creation and last end, for its summary), at most `MAX_BARS` runs for the bars, one
 * page for the table.
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Errors from "../../../Errors.js"
import * as RunStore from "../../../RunStore.js"
import { countRuns } from "./counts.js"
import {
  ACTIVE_TYPES,
  attempts,
  endedAt,
  formatDuration,
  runHref,
  shortIds,
  STATE_TYPES,
  stateBadge
} from "./format.js"
import type { Html } from "./html.js"
import { html } from "./html.js"
import { storeFailed } from "./layout.js"
import { runsPage } from "./reads.js"
import { runsTable } from "./runsPage.js"

/** A task with more runs than this is summarised, not drawn run by run. */
export const GROUP_OVER = 20
/** The most bars one timeline draws (and so the most runs it reads for them). */
export const MAX_BARS = 200
/** The most tasks one timeline lists. */
export const MAX_TASKS = 60
/** Task runs per page of the table. */
const TABLE_PAGE = 50

interface Task {
  readonly name: string
  readonly kind: RunStore.RunKind
  readonly counts: ReadonlyArray<RunStore.RunCount>
  readonly total: number
}

const tasksOf = (counts: ReadonlyArray<RunStore.RunCount>): ReadonlyArray<Task> => {
  const tasks = new Map<string, Array<RunStore.RunCount>>()
  for (const count of counts) {
    const key = `${count.kind}\u0000${count.name}`
    tasks.set(key, [...(tasks.get(key) ?? []), count])
  }
  const firstOf = (list: ReadonlyArray<RunStore.RunCount>) =>
    Math.min(...list.map((count) => count.firstCreatedAt.getTime()))
  // In the order the flow first ran them, as a timeline reads; then by name.
  return [...tasks.values()].map((list) => ({
    name: list[0]!.name,
    kind: list[0]!.kind,
    counts: list,
    total: list.reduce((sum, count) => sum + count.count, 0),
    first: firstOf(list)
  })).sort((a, b) => a.first - b.first || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

type Row =
  | { readonly _tag: "bars"; readonly runs: ReadonlyArray<RunStore.RunRecord> }
  | { readonly _tag: "group"; readonly task: Task }

const byCreation = (a: RunStore.RunRecord, b: RunStore.RunRecord) =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1)

/**
 * The timeline's rows: the runs of small tasks while the bar budget lasts, a summary (from the
 * counts alone) for the others. A flow of `MAX_BARS` runs or fewer is read in one page; a larger
 * one, task by small task.
 */
const rowsOf = (flowRunId: string, tasks: ReadonlyArray<Task>, total: number) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const all = total <= MAX_BARS
      ? (yield* store.listRunsPage({ flowRunId, order: "oldest", limit: MAX_BARS })).runs
      : undefined
    let budget = MAX_BARS
    return yield* Effect.forEach(
      tasks,
      (task): Effect.Effect<Row, Errors.RunStoreError | Errors.SerializationError> => {
        if (task.total > GROUP_OVER || task.total > budget) return Effect.succeed({ _tag: "group", task })
        budget -= task.total
        if (all !== undefined) {
          const runs = all.filter((run) => run.name === task.name && run.kind === task.kind).sort(byCreation)
          return Effect.succeed({ _tag: "bars", runs })
        }
        return Effect.map(
          store.listRunsPage({ flowRunId, name: task.name, kind: task.kind, order: "oldest", limit: GROUP_OVER }),
          (page) => ({ _tag: "bars", runs: page.runs })
        )
      }
    )
  }).pipe(Effect.mapError(storeFailed))

/** The flow run's timeline and task runs table. */
export const flowSections = (flow: RunStore.RunRecord, basePath: string, cursor: string | undefined, now: number) =>
  Effect.gen(function*() {
    const tasks = tasksOf(yield* countRuns({ flowRunId: flow.id }))
    const total = tasks.reduce((sum, task) => sum + task.total, 0)
    const rows = yield* rowsOf(flow.id, tasks.slice(0, MAX_TASKS), total)
    const table = yield* runsPage([{ flowRunId: flow.id }], cursor, TABLE_PAGE)
    const scale = scaleOf(flow, rows, now)
    const shortId = shortIds(rows.flatMap((row) => row._tag === "bars" ? row.runs.map((run) => run.id) : []))
    return html`<h2>Task runs timeline <span class="muted">(${total} runs)</span></h2>
<section id="timeline" data-live>${
      rows.length === 0 ? html`<p class="muted">No task runs.</p>` : rows.map((row) =>
        row._tag === "bars"
          ? row.runs.map((run) => bar(run, basePath, scale, now, shortId))
          : group(row.task, flow, basePath, scale, now)
      )
    }${
      tasks.length > MAX_TASKS
        ? html`<p class="muted">and ${tasks.length - MAX_TASKS} more tasks (see the table).</p>`
        : null
    }</section>
<h2>Task runs</h2>
${runsTable("task-runs", table.runs, basePath, now)}
<nav class="pager" id="task-runs-pager" data-live>${
      cursor === undefined ? null : html`<a href="${runHref(basePath, flow.id)}">First page</a>`
    }${
      table.next === undefined
        ? null
        : html`<a id="next-task-runs" href="${
          runHref(basePath, flow.id, `?cursor=${encodeURIComponent(table.next)}`)
        }">Next page</a>`
    }</nav>`
  })

/** Maps a time to 0..1000 across the flow's span (its creation to its end, or now). */
type Scale = (t: number) => number

const scaleOf = (flow: RunStore.RunRecord, rows: ReadonlyArray<Row>, now: number): Scale => {
  const times = rows.map((row) =>
    row._tag === "bars" ? Math.max(...row.runs.map((run) => endOf(run, now))) : spanOf(row.task, flow, now).to
  )
  const start = flow.createdAt.getTime()
  const end = Math.max(endOf(flow, now), ...times, start + 1)
  return (t) => Math.min(1000, Math.max(0, ((t - start) / (end - start)) * 1000))
}

/** A summarised task's span: its first run's creation to its last run's end (now while any runs). */
const spanOf = (task: Task, flow: RunStore.RunRecord, now: number) => {
  const first = Math.min(...task.counts.map((count) => count.firstCreatedAt.getTime()))
  const from = Number.isFinite(first) ? first : flow.createdAt.getTime()
  return { from, to: Math.max(from, ...task.counts.map((count) => count.lastEndedAt?.getTime() ?? now)) }
}

const endOf = (run: RunStore.RunRecord, now: number): number => endedAt(run)?.getTime() ?? now

const track = (from: number, to: number, stateType: string, label: string): Html => {
  const x = Math.round(from)
  const width = Math.max(2, Math.round(to - from))
  return html`<svg viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" aria-label="${label}"><rect x="${x}" y="0" width="${width}" height="10" data-state-type="${stateType}"></rect></svg>`
}

const bar = (
  run: RunStore.RunRecord,
  basePath: string,
  scale: Scale,
  now: number,
  shortId: (id: string) => Html
): Html =>
  html`<div class="bar" data-run-id="${run.id}" data-state-type="${run.state.type}"><a class="label" href="${
    runHref(basePath, run.id)
  }" title="${run.name} (${run.state.name})">${run.name} ${shortId(run.id)}</a>${
    track(scale(run.createdAt.getTime()), scale(endOf(run, now)), run.state.type, run.state.name)
  }<span class="attempts" title="attempts used / allowed">${attempts(run)}</span></div>`

const group = (task: Task, flow: RunStore.RunRecord, basePath: string, scale: Scale, now: number): Html => {
  const byType = STATE_TYPES.flatMap((type) => task.counts.filter((count) => count.stateType === type))
  const main = [...task.counts].sort((a, b) => b.count - a.count)[0]?.stateType ?? "SCHEDULED"
  const { from, to } = spanOf(task, flow, now)
  const link = `${basePath}/runs?${new URLSearchParams({ flow: flow.id, name: task.name }).toString()}`
  return html`<div class="group" data-task-name="${task.name}"><a class="label" href="${link}">${task.name} ×${task.total}</a>${
    track(scale(from), scale(to), main, `${task.total} runs`)
  }<span class="attempts"></span><div class="summary">${
    byType.map((count) =>
      html`<span data-state-type="${count.stateType}">${
        stateBadge({ type: count.stateType, name: count.stateType })
      } <span class="count">${count.count}</span></span>`
    )
  } <span class="muted">over ${formatDuration(to - from)}${
    task.counts.some((count) => ACTIVE_TYPES.includes(count.stateType)) ? " so far" : ""
  }</span></div></div>`
}
