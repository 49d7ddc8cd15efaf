/**
 * What the pages read from the store, each read bounded: a page of runs (merged from several
 * filters where the store cannot OR them), a run by id or unique prefix, a run's last log lines.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RunStore from "../../../RunStore.js"
import { encodeCursor } from "../../store/rules.js"
import { html } from "./html.js"
import { PageError, storeFailed } from "./layout.js"

/** The shortest id prefix a page accepts (as the command). */
export const MIN_PREFIX = 6

/** A bad cursor is the store's IllegalArgumentException (a defect): here it is the caller's 400. */
const badCursor = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchSomeDefect(effect, (defect) =>
    Cause.isIllegalArgumentException(defect)
      ? Option.some(Effect.fail(new PageError({ status: 400, title: "Bad filter", message: defect.message })))
      : Option.none())

/**
 * One page of the runs matching any of `filters`, newest first. With several filters each is read
 * from the same cursor (a cursor is a position in the newest-first order, valid for any filter),
 * and the page's next cursor is the position of its last run.
 */
export const runsPage = (filters: ReadonlyArray<RunStore.RunFilter>, cursor: string | undefined, limit: number) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const pages = yield* Effect.forEach(filters, (filter) =>
      badCursor(
        Effect.mapError(
          store.listRunsPage({ ...filter, order: "newest", limit, ...(cursor === undefined ? {} : { cursor }) }),
          storeFailed
        )
      ))
    if (pages.length === 1) return pages[0]!
    const merged = [...new Map(pages.flatMap((page) => page.runs).map((run) => [run.id, run])).values()]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    const runs = merged.slice(0, limit)
    const more = merged.length > limit || pages.some((page) => page.next !== undefined)
    return { runs, next: more && runs.length > 0 ? encodeCursor(runs[runs.length - 1]!, true) : undefined }
  })

/** The run whose id is `text`, or the one run whose id starts with it: 404 when none, 400 when several. */
export const resolveRun = (basePath: string, text: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const prefix = text.trim().toLowerCase()
    const exact = yield* Effect.either(store.getRun(prefix))
    if (exact._tag === "Right") return exact.right
    if (exact.left._tag !== "RunNotFound") return yield* Effect.fail(storeFailed(exact.left))
    const notFound = new PageError({ status: 404, title: "Run not found", message: `No run has the id ${text}.` })
    if (prefix.length < MIN_PREFIX) return yield* Effect.fail(notFound)
    const matches = yield* store.listRuns({ idPrefix: prefix, limit: 11 }).pipe(Effect.mapError(storeFailed))
    if (matches.length === 0) return yield* Effect.fail(notFound)
    if (matches.length > 1) {
      return yield* Effect.fail(
        new PageError({
          status: 400,
          title: "Ambiguous id",
          message: `The id prefix ${text} matches ${matches.length > 10 ? "more than 10" : matches.length} runs.`,
          detail: html`<ul id="candidates">${
            matches.slice(0, 10).map((run) =>
              html`<li><a href="${basePath}/runs/${
                encodeURIComponent(run.id)
              }">${run.id}</a> ${run.kind} ${run.name}</li>`
            )
          }</ul>`
        })
      )
    }
    return matches[0]!
  })

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
