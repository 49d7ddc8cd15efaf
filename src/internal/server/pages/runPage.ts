/**
 * GET /runs/:id: one run (a flow run or a task run). Its facts, state history, parameters, result
 * or failure, logs, the actions it allows; a flow run adds its task runs' timeline and table.
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as RunStore from "../../../RunStore.js"
import * as State from "../../../State.js"
import { PageContext } from "./context.js"
import { flowSections } from "./flowSections.js"
import { attempts, durationOf, endedAt, formatDuration, runHref, stateBadge, timeTag } from "./format.js"
import type { Html } from "./html.js"
import { html } from "./html.js"
import { page, storeFailed } from "./layout.js"
import { logsSection } from "./logs.js"
import { resolveRun } from "./reads.js"
import { cut, showCause, showValue } from "./values.js"

/** The run page. */
export const runRoute = Effect.gen(function*() {
  const { basePath, readOnly } = yield* PageContext
  const { id } = yield* HttpRouter.params
  const search = yield* HttpServerRequest.ParsedSearchParams
  const run = yield* resolveRun(basePath, id ?? "")
  const store = yield* RunStore.RunStore
  const history = yield* store.getHistory(run.id).pipe(
    Effect.catchTag("RunNotFound", () => Effect.succeed([run.state])),
    Effect.mapError(storeFailed)
  )
  const now = yield* Clock.currentTimeMillis
  const full = typeof search.full === "string" ? search.full : ""
  const done = typeof search.done === "string" ? search.done : ""
  const cursor = typeof search.cursor === "string" && search.cursor !== "" ? search.cursor : undefined
  const flow = run.kind === "flow" ? yield* flowSections(run, basePath, cursor, now) : null
  const body = html`${outcome(done, run, basePath)}
<h1 id="run-name">${run.name}</h1>
<section id="summary" data-live>
<p>${stateBadge(run.state, "run-state")} <span class="muted">${run.kind} run</span></p>
${actions(run, basePath, readOnly)}
${facts(run, basePath, now)}
</section>
<h2>State history</h2>
<section id="history" data-live data-run-id="${run.id}"><ol id="history-list">${
    history.map((state) =>
      html`<li>${stateBadge(state)} ${timeTag(state.timestamp)}${
        state.message === undefined ? null : html` <span class="message">${state.message}</span>`
      }</li>`
    )
  }</ol></section>
${flow}
<h2>Parameters</h2>
${valueBlock("parameters", showValue(run.parameters), full === "parameters", run, basePath)}
<section id="value" data-live>${resultOrFailure(run, full, basePath)}</section>
${yield* logsSection(run, basePath)}`
  return page({ basePath, title: run.name, body, watch: watchOf(run) })
})

/** A running flow's page follows every change (its new task runs); other run pages follow the runs they show. */
const watchOf = (run: RunStore.RunRecord): "all" | "ids" =>
  run.kind === "flow" && !State.isFinal(run.state) ? "all" : "ids"

const outcome = (done: string, run: RunStore.RunRecord, basePath: string): Html | null => {
  if (done === "cancel") {
    return html`<p id="outcome">Cancel requested: the run is now ${run.state.name}${
      run.state.type === "CANCELLING" ? " (its worker stops it)" : ""
    }.</p>`
  }
  if (done === "rerun") {
    return html`<p id="outcome">Rerun started: this is a new run${
      run.rerunOf === undefined
        ? null
        : html` of <a href="${runHref(basePath, run.rerunOf)}">${run.rerunOf.slice(0, 8)}</a>`
    }.</p>`
  }
  return null
}

const actions = (run: RunStore.RunRecord, basePath: string, readOnly: boolean): Html | null => {
  if (readOnly) return null
  return html`<p class="actions">${
    State.isFinal(run.state)
      ? html`<a id="rerun-run" href="${runHref(basePath, run.id, "/rerun")}">Rerun</a>`
      : html`<a id="cancel-run" href="${runHref(basePath, run.id, "/cancel")}">Cancel</a>`
  }</p>`
}

const link = (id: string | undefined, basePath: string, linkId: string): Html =>
  id === undefined ? html`-` : html`<a id="${linkId}" href="${runHref(basePath, id)}"><code>${id}</code></a>`

const facts = (run: RunStore.RunRecord, basePath: string, now: number): Html =>
  html`<dl class="facts">
<dt>Id</dt><dd><code>${run.id}</code></dd>
<dt>Created</dt><dd>${timeTag(run.createdAt)}</dd>
<dt>Ended</dt><dd>${timeTag(endedAt(run))}</dd>
<dt>Duration</dt><dd>${formatDuration(durationOf(run, now))}</dd>
<dt>Attempts</dt><dd>${attempts(run)}</dd>
<dt>Tags</dt><dd>${run.tags.length === 0 ? "-" : run.tags.map((tag) => html`<span class="tag">${tag}</span>`)}</dd>
${run.kind === "task" ? html`<dt>Flow run</dt><dd>${link(run.flowRunId, basePath, "flow-run")}</dd>` : null}
${
    run.parentTaskRunId === undefined
      ? null
      : html`<dt>Submitted by</dt><dd>${link(run.parentTaskRunId, basePath, "parent-run")}</dd>`
  }
${run.rerunOf === undefined ? null : html`<dt>Rerun of</dt><dd>${link(run.rerunOf, basePath, "rerun-of")}</dd>`}
${run.workerId === undefined ? null : html`<dt>Worker</dt><dd>${run.workerId}</dd>`}
${run.corrupt === undefined ? null : html`<dt>Corrupt</dt><dd>${run.corrupt.message}</dd>`}
</dl>`

/** A value in a `<pre>`, cut unless asked for whole, with the link that asks. */
const valueBlock = (id: string, text: string, full: boolean, run: RunStore.RunRecord, basePath: string): Html => {
  const shown = cut(text, full)
  return html`<pre id="${id}">${shown.text}</pre>${
    shown.cut
      ? html`<p class="muted">Cut at ${shown.text.length} of ${text.length} characters. <a class="show-all" href="${
        runHref(basePath, run.id, `?full=${id}`)
      }">Show all</a></p>`
      : null
  }`
}

const resultOrFailure = (run: RunStore.RunRecord, full: string, basePath: string): Html | null => {
  const state = run.state
  if (State.isCompleted(state)) {
    const text = State.hasResult(state) ? showValue(state.value) : "(not kept: the task does not persist results)"
    return html`<h2>Result</h2>${valueBlock("result", text, full === "result", run, basePath)}`
  }
  if (State.isFailed(state) || State.isCrashed(state)) {
    return html`<h2>Failure</h2>${valueBlock("failure", showCause(state.cause), full === "failure", run, basePath)}`
  }
  return null
}
