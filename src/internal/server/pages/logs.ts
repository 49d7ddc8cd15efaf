/**
 * A run's log lines: the run page's #logs section (its last lines), and GET /runs/:id/logs?after=N,
 * the lines after N as a page (the no-JS fallback, and what the script appends while it follows a
 * running run: with `wait=1` the answer waits, up to `WAIT`, for a line to arrive).
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as RunStore from "../../../RunStore.js"
import * as State from "../../../State.js"
import { PageContext } from "./context.js"
import { runHref } from "./format.js"
import type { Html } from "./html.js"
import { html } from "./html.js"
import { page, PageError, storeFailed } from "./layout.js"
import { lastLogs, LOG_LINES, resolveRun } from "./reads.js"
import { cut } from "./values.js"

/** How long a `wait=1` request holds for a new line before answering with none. */
const WAIT = "20 seconds"

const line = (log: RunStore.RunLog): Html =>
  html`<div class="log-line" data-seq="${log.seq}" data-level="${log.level}"><span class="level">${log.level}</span><span class="time" title="${log.timestamp.toISOString()}">${
    log.timestamp.toISOString().slice(11, 23)
  }</span> ${cut(log.message, false).text}</div>`

const section = (
  run: RunStore.RunRecord,
  basePath: string,
  logs: ReadonlyArray<RunStore.RunLog>,
  note: Html | null,
  after = 0
) =>
  html`<section id="logs" data-live data-after="${logs[logs.length - 1]?.seq ?? after}"${
    State.isFinal(run.state) ? null : html` data-follow="${runHref(basePath, run.id, "/logs")}"`
  }>${note}<div id="log-lines">${logs.length === 0 ? null : logs.map(line)}</div></section>`

/** The run page's logs: its last `LOG_LINES` lines. */
export const logsSection = (run: RunStore.RunRecord, basePath: string) =>
  Effect.map(lastLogs(run.id), ({ lines, total }) =>
    html`<h2>Logs</h2>${
      section(
        run,
        basePath,
        lines,
        total === 0
          ? html`<p class="muted">No log lines yet.</p>`
          : total > lines.length
          ? html`<p class="muted">The last ${lines.length} of ${total} lines. <a href="${
            runHref(basePath, run.id, `/logs?after=0`)
          }">From the start</a></p>`
          : null
      )
    }`)

/** GET /runs/:id/logs?after=N[&wait=1]. */
export const logsRoute = Effect.gen(function*() {
  const { basePath } = yield* PageContext
  const { id } = yield* HttpRouter.params
  const search = yield* HttpServerRequest.ParsedSearchParams
  const run = yield* resolveRun(basePath, id ?? "")
  const afterText = typeof search.after === "string" ? search.after : "0"
  const after = Number(afterText)
  if (!Number.isSafeInteger(after) || after < 0) {
    return yield* Effect.fail(
      new PageError({
        status: 400,
        title: "Bad request",
        message: `after ${JSON.stringify(afterText)} is not a line number.`
      })
    )
  }
  const store = yield* RunStore.RunStore
  if (search.wait === "1" && !State.isFinal(run.state)) {
    // Returns as soon as one line is out (or the run ends, or WAIT passes); the read below takes them all.
    yield* store.followLogs(run.id, { after }).pipe(
      Stream.take(1),
      Stream.runDrain,
      Effect.timeout(WAIT),
      Effect.ignore
    )
  }
  const logs = yield* store.getLogs(run.id, { after, limit: LOG_LINES }).pipe(Effect.mapError(storeFailed))
  const current = yield* store.getRun(run.id).pipe(Effect.orElseSucceed(() => run))
  const more = logs.length === LOG_LINES
  const next = logs[logs.length - 1]?.seq ?? after
  return page({
    basePath,
    title: `Logs of ${run.name}`,
    body: html`<h1>Logs of <a href="${runHref(basePath, run.id)}">${run.name}</a></h1>
${section(current, basePath, logs, null, after)}
${more ? html`<p><a id="more-logs" href="${runHref(basePath, run.id, `/logs?after=${next}`)}">More</a></p>` : null}`
  })
})
