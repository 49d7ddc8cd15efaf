/**
 * GET /runs: counts per state, the filter form, and a table of runs newest first, one page at a
 * time (the store's cursor in the URL). With no filter: what runs now and what ended in 24 hours.
 * @internal
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as RunStore from "../../../RunStore.js"
import { PageContext } from "./context.js"
import type { StateCounts } from "./counts.js"
import { COUNT_CAP, countByState, formatCount } from "./counts.js"
import {
  attempts,
  durationOf,
  formatDuration,
  runHref,
  shortIds,
  STATE_NAMES,
  STATE_TYPES,
  stateBadge,
  timeTag
} from "./format.js"
import type { Html } from "./html.js"
import { html } from "./html.js"
import { page, PageError } from "./layout.js"
import type { RunsQuery } from "./query.js"
import { DEFAULT_LIMIT, filtersOf, parseRunsQuery } from "./query.js"
import { resolveRun, runsPage } from "./reads.js"

/** The runs page. */
export const runsRoute = Effect.gen(function*() {
  const { basePath } = yield* PageContext
  const query = parseRunsQuery(yield* HttpServerRequest.ParsedSearchParams)
  if (query instanceof PageError) return yield* Effect.fail(query)
  const flowRunId = query.flow === "" ? undefined : (yield* flowRun(basePath, query.flow)).id
  const now = yield* Clock.currentTimeMillis
  const filters = filtersOf(query, flowRunId, now)
  const view = `${queryString(query, undefined)}#${flowRunId ?? ""}`
  const [found, counts] = yield* Effect.all([
    runsPage(filters, query.cursor, query.limit),
    countByState(view, filters, isLiveRefresh(yield* HttpServerRequest.HttpServerRequest))
  ], { concurrency: 2 })
  const body = html`<h1>Runs</h1>
<p class="muted">${query.isDefault ? "Running now, and ended in the last 24 hours." : "Filtered."} Newest first.</p>
${countsList(counts)}
${filterForm(query)}
${runsTable("runs", found.runs, basePath, now)}
<nav class="pager" id="pager" data-live>${
    query.cursor === undefined
      ? null
      : html`<a id="first-page" href="${basePath}/runs${queryString(query, undefined)}">First page</a>`
  }${
    found.next === undefined
      ? null
      : html`<a id="next-page" href="${basePath}/runs${queryString(query, found.next)}">Next page</a>`
  }</nav>`
  return page({ basePath, title: "Runs", body, watch: "all" })
})

/**
 * Whether the request is the page's script re-fetching it (a live refresh), not a page load: a
 * browser says a fetch's mode, "cors" or "same-origin", and a navigation's, "navigate".
 */
const isLiveRefresh = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const mode = request.headers["sec-fetch-mode"]
  return mode !== undefined && mode !== "navigate"
}

/** The `flow` filter's run: an id that names none is a bad filter (400), not a missing page. */
const flowRun = (basePath: string, text: string) =>
  Effect.catchIf(
    resolveRun(basePath, text),
    (error) => error.status === 404,
    () => Effect.fail(new PageError({ status: 400, title: "Bad filter", message: `flow: no run has the id ${text}.` }))
  )

/** Counts per state: capped (see counts.ts), a few seconds old at most (`data-counted-at`, ms). */
const countsList = ({ at, byType }: StateCounts): Html =>
  html`<ul id="counts" data-live data-counted-at="${at}" title="Counted every few seconds; above ${
    formatCount(COUNT_CAP)
  } runs of a state, not counted further.">${
    STATE_TYPES.filter((type) => (byType.get(type) ?? 0) > 0).map((type) =>
      html`<li data-state-type="${type}">${stateBadge({ type, name: type })} <span class="count">${
        formatCount(byType.get(type) ?? 0)
      }</span></li>`
    )
  }</ul>`

const option = (value: string, label: string, selected: boolean): Html =>
  html`<option value="${value}"${selected ? html` selected` : null}>${label}</option>`

const filterForm = (query: RunsQuery): Html => {
  const has = (v: string) => query.state.some((s) => s.toLowerCase() === v.toLowerCase())
  return html`<form id="filters" method="get" action="">
<label>State <select name="state"><option value="">any</option>${STATE_TYPES.map((t) => option(t, t, has(t)))}${
    STATE_NAMES.map((n) => option(n, n, has(n)))
  }</select></label>
<label>Name <input name="name" value="${query.name}"></label>
<label>Kind <select name="kind">${option("", "any", query.kind === "")}${
    option("task", "task", query.kind === "task")
  }${option("flow", "flow", query.kind === "flow")}</select></label>
<label>Tag <input name="tag" value="${query.tag}"></label>
<label>Flow run <input name="flow" value="${query.flow}" placeholder="id"></label>
<label>From (UTC) <input name="from" value="${query.from}" placeholder="2026-12-06T09:00"></label>
<label>To (UTC) <input name="to" value="${query.to}" placeholder="2026-12-06T18:00"></label>
${query.limit === DEFAULT_LIMIT ? null : html`<input type="hidden" name="limit" value="${query.limit}">`}
<button type="submit">Filter</button> <a href="?">Reset</a>
</form>`
}

/** A table of runs (the runs page's, a flow run's task runs), rows by full id. */
export const runsTable = (id: string, runs: ReadonlyArray<RunStore.RunRecord>, basePath: string, now: number): Html => {
  const shortId = shortIds(runs.map((run) => run.id))
  return html`<div class="scroll"><table id="${id}" data-live>
<thead><tr><th>State</th><th>Name</th><th>Kind</th><th>Id</th><th>Created</th><th>Duration</th><th>Attempts</th><th class="wide">Tags</th></tr></thead>
<tbody>${
    runs.length === 0 ?
      html`<tr><td colspan="8" class="muted">No runs.</td></tr>` :
      runs.map((run) =>
        html`<tr data-run-id="${run.id}"><td>${stateBadge(run.state)}</td><td class="name"><a class="run-name" href="${
          runHref(basePath, run.id)
        }">${run.name}</a></td><td>${run.kind}</td><td>${shortId(run.id)}</td><td>${timeTag(run.createdAt)}</td><td>${
          formatDuration(durationOf(run, now))
        }</td><td>${attempts(run)}</td><td class="wide">${
          run.tags.map((tag) => html`<span class="tag">${tag}</span>`)
        }</td></tr>`
      )
  }</tbody></table></div>`
}

/** The query of this view, with another cursor. */
const queryString = (query: RunsQuery, cursor: string | undefined): string => {
  const params = new URLSearchParams()
  for (const state of query.state) params.append("state", state)
  for (const key of ["name", "kind", "tag", "flow", "from", "to"] as const) {
    if (query[key] !== "") params.set(key, query[key])
  }
  if (query.limit !== DEFAULT_LIMIT) params.set("limit", String(query.limit))
  if (cursor !== undefined) params.set("cursor", cursor)
  const text = params.toString()
  return text === "" ? "" : `?${text}`
}
