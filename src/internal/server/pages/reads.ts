/**
 * What the pages read from the store, each read bounded: a page of runs (merged from several
 * filters where the store cannot OR them), a run by id or unique prefix, a run's last log lines.
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Errors from "../../../Errors.js"
import * as RunStore from "../../../RunStore.js"
import type * as Shared from "../runs.js"
import { resolveRun as resolveShared, runsPage as runsPageShared } from "../runs.js"
import { runHref } from "./format.js"
import { html } from "./html.js"
import { PageError, storeFailed } from "./layout.js"

/** A bad filter or cursor is the caller's 400; a store that failed, a 500. */
const pageErrorOf = (error: Shared.BadFilter | Errors.RunStoreError | Errors.SerializationError) =>
  error._tag === "BadFilter"
    ? new PageError({ status: 400, title: "Bad filter", message: error.message })
    : storeFailed(error)

/**
 * One page of the runs matching any of `filters`, newest first (see `runsPage` in `../runs.ts`).
 */
export const runsPage = (filters: ReadonlyArray<RunStore.RunFilter>, cursor: string | undefined, limit: number) =>
  Effect.mapError(runsPageShared(filters, cursor, limit), pageErrorOf)

/** The run whose id is `text`, or the one run whose id starts with it: 404 when none, 400 when several. */
export const resolveRun = (basePath: string, text: string) =>
  resolveShared(text).pipe(
    Effect.catchTags({
      RunNotFound: () =>
        Effect.fail(new PageError({ status: 404, title: "Run not found", message: `No run has the id ${text}.` })),
      AmbiguousId: (error) =>
        Effect.fail(
          new PageError({
            status: 400,
            title: "Ambiguous id",
            message: error.message,
            detail: html`<ul id="candidates">${
              error.candidates.map((run) =>
                html`<li><a href="${runHref(basePath, run.id)}">${run.id}</a> ${run.kind} ${run.name}</li>`
              )
            }</ul>`
          })
        )
    }),
    Effect.mapError((error) => error instanceof PageError ? error : storeFailed(error))
  )

/** How many log lines a run page shows. */
export const LOG_LINES = 500

/**
 * A run's last `LOG_LINES` lines without reading the others. Most runs log fewer: one read. Past
 * that, lines are numbered from 1 with no gaps, so the last number is found by probing one line at
 * a time (doubling, then halving): O(log n) small reads.
 */
export const lastLogs = (runId: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const first = yield* store.getLogs(runId, { limit: LOG_LINES })
    if (first.length < LOG_LINES) return { lines: first, total: first.length }
    const exists = (seq: number) =>
      Effect.map(store.getLogs(runId, { after: seq - 1, limit: 1 }), (lines) => lines.length > 0)
    let low = first[first.length - 1]!.seq // the highest line number known to exist
    let high = low * 2
    while (yield* exists(high)) {
      low = high
      high *= 2
    }
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2)
      if (yield* exists(mid)) low = mid
      else high = mid
    }
    const lines = low === first[first.length - 1]!.seq
      ? first
      : yield* store.getLogs(runId, { after: low - LOG_LINES, limit: LOG_LINES })
    return { lines, total: low }
  }).pipe(Effect.mapError(storeFailed))
