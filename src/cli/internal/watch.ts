/**
 * `taskflow runs watch [<id>]`: the newest runs (or one run and its task runs), read again every
 * interval. On a terminal the table is redrawn in place; elsewhere each change is one plain line.
 * With an id it ends when the run does: exit 0 when it Completed, 1 otherwise.
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as RunStore from "../../RunStore.js"
import { storeFailed, viewsOf } from "./context.js"
import type { CliFailure } from "./failure.js"
import { failed } from "./failure.js"
import { resolveRun } from "./ids.js"
import { interruptMeansUnfinished } from "./interrupt.js"
import type { StoreLocation } from "./location.js"
import { describeStore } from "./location.js"
import type { RunView } from "./output.js"
import { runRow } from "./output.js"
import { formatTime, printable, REDRAW, runsTable, SHORT_ID, stateLabel } from "./render.js"

/** What `watch` was asked. */
export interface WatchOptions {
  readonly id: string | undefined
  readonly limit: number
  readonly intervalMs: number
  /** Redraw in place (a terminal) or print changes as lines. */
  readonly tty: boolean
}

const FINAL = new Set(["COMPLETED", "FAILED", "CRASHED", "CANCELLED"])

/** The runs to show on each read: the newest, or the run and its task runs. */
const readViews = (location: StoreLocation, runId: string | undefined, limit: number) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    if (runId === undefined) {
      return yield* viewsOf(
        yield* store.listRuns({ order: "newest", limit }).pipe(Effect.mapError(storeFailed(location)))
      )
    }
    const run = yield* store.getRun(runId).pipe(Effect.mapError(storeFailed(location)))
    const taskRuns = run.kind === "flow"
      ? yield* store.listRuns({ flowRunId: run.id }).pipe(Effect.mapError(storeFailed(location)))
      : []
    return yield* viewsOf([run, ...taskRuns])
  })

/** A change as a plain line: time, id prefix, kind, name, state. */
export const changeLine = (view: RunView, at: Date): string =>
  `${formatTime(at)}  ${view.id.slice(0, SHORT_ID)}  ${view.kind} ${printable(view.name)}  ${
    stateLabel(view.state.type, view.state.name)
  }`

/** Watches until interrupted, or (with an id) until the run is final. */
export const watch = (
  location: StoreLocation,
  options: WatchOptions
): Effect.Effect<void, CliFailure, RunStore.RunStore> =>
  Effect.gen(function*() {
    const runId = options.id === undefined ? undefined : (yield* resolveRun(location, options.id)).id
    if (runId !== undefined) yield* interruptMeansUnfinished
    const seen = new Map<string, string>()
    for (;;) {
      const views = yield* readViews(location, runId, options.limit)
      const now = new Date(yield* Clock.currentTimeMillis)
      if (options.tty) {
        const title = `taskflow runs watch — ${describeStore(location)} — ${formatTime(now)} UTC — Ctrl-C to stop`
        yield* Effect.sync(() =>
          process.stdout.write(
            `${REDRAW}${title}\n\n${views.length === 0 ? "No runs." : runsTable(views.map(runRow))}\n`
          )
        )
      } else {
        for (const view of [...views].reverse()) {
          const label = `${view.state.type}/${view.state.name}`
          if (seen.get(view.id) === label) continue
          seen.set(view.id, label)
          yield* Console.log(changeLine(view, now))
        }
      }
      const watched = views[0]
      if (runId !== undefined && watched !== undefined && FINAL.has(watched.state.type)) {
        if (watched.state.type === "COMPLETED") return
        return yield* failed(
          `Run ${watched.id} ended ${stateLabel(watched.state.type, watched.state.name)}${
            watched.state.message === null ? "" : `: ${watched.state.message}`
          }`
        )
      }
      yield* Effect.sleep(options.intervalMs)
    }
  })
