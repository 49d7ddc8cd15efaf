/**
 * What `taskflow runs …` does once its flags are parsed (loaded only when a runs command runs).
 * @internal
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as RunStore from "../../RunStore.js"
import { storeFailed, viewsOf, withStore } from "./context.js"
import { failed } from "./failure.js"
import type { OutputFormat, StateType, StoreFlags } from "./flags.js"
import { resolveRun, resolveRuns } from "./ids.js"
import { printInspected, readInspected } from "./inspect.js"
import type { RunView } from "./output.js"
import { printJson, RunJson, runRow } from "./output.js"
import { runsTable, stateLabel, uniquePrefixes } from "./render.js"
import { watch as watchRuns } from "./watch.js"

/** Prints views as the table, a JSON array, or one JSON object a line. */
export const printRuns = (views: ReadonlyArray<RunView>, format: OutputFormat) =>
  format === "table"
    ? Console.log(views.length === 0 ? "No runs." : runsTable(views.map(runRow)))
    : format === "json"
    ? printJson(Schema.Array(RunJson), views, "json")
    : Effect.forEach(views, (view) => printJson(RunJson, view, "jsonl"), { discard: true })

/** `runs ls`. */
export const ls = (
  flags: StoreFlags & {
    readonly output: OutputFormat
    readonly state: ReadonlyArray<StateType>
    readonly name: Option.Option<string>
    readonly kind: Option.Option<"task" | "flow">
    readonly flowRun: Option.Option<string>
    readonly limit: number
  }
) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const flowRunId = Option.isSome(flags.flowRun)
        ? (yield* resolveRun(location, flags.flowRun.value)).id
        : undefined
      const runs = yield* store.listRuns({
        order: "newest",
        limit: flags.limit,
        ...(flags.state.length > 0 ? { stateType: flags.state } : {}),
        ...(Option.isSome(flags.name) ? { name: flags.name.value } : {}),
        ...(Option.isSome(flags.kind) ? { kind: flags.kind.value } : {}),
        ...(flowRunId !== undefined ? { flowRunId } : {})
      }).pipe(Effect.mapError(storeFailed(location)))
      yield* printRuns(yield* viewsOf(runs), flags.output)
    }))

const FINAL: ReadonlyArray<string> = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]

/** `runs cancel`: exit 1 when a run had already finished (there was nothing to cancel). */
export const cancel = (flags: StoreFlags & { readonly output: OutputFormat; readonly ids: ReadonlyArray<string> }) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const runs = yield* resolveRuns(location, flags.ids)
      const outcomes = yield* Effect.forEach(runs, (run) =>
        Effect.map(
          store.cancelRun(run.id).pipe(Effect.mapError(storeFailed(location))),
          (state) => ({ run, state, alreadyFinal: FINAL.includes(run.state.type) })
        ))
      if (flags.output === "table") {
        const prefixes = uniquePrefixes(runs.map((run) => run.id))
        for (const { alreadyFinal, run, state } of outcomes) {
          const label = stateLabel(state.type, state.name)
          const outcome = alreadyFinal
            ? `already ${label}, left as it is`
            : state.type === "CANCELLING"
            ? "CANCELLING (the worker holding it stops it)"
            : label
          yield* Console.log(`${prefixes.get(run.id)}  ${run.kind} ${run.name}: ${outcome}`)
        }
      } else {
        const after = yield* Effect.forEach(runs, (run) =>
          store.getRun(run.id).pipe(Effect.mapError(storeFailed(location))))
        yield* printRuns(yield* viewsOf(after), flags.output)
      }
      const finished = outcomes.filter((outcome) =>
        outcome.alreadyFinal
      )
      if (finished.length > 0) {
        return yield* failed(`${finished.length} of ${outcomes.length} runs had already finished: nothing to cancel.`)
      }
    }))

/** `runs inspect`. */
export const inspect = (flags: StoreFlags & { readonly output: OutputFormat; readonly id: string }) =>
  withStore(
    flags,
    (location) =>
      Effect.flatMap(readInspected(location, flags.id), (inspected) => printInspected(inspected, flags.output))
  )

/** `runs watch`. */
export const watch = (
  flags: StoreFlags & {
    readonly id: Option.Option<string>
    readonly limit: number
    readonly interval: number
  }
) =>
  withStore(flags, (location) =>
    watchRuns(location, {
      id: Option.getOrUndefined(flags.id),
      limit: flags.limit,
      intervalMs: flags.interval,
      tty: process.stdout.isTTY === true
    }))
