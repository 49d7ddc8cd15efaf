/**
 * What `taskflow runs …` does once its flags are parsed (loaded only when a runs command runs).
 * @internal
 */
import * as Prompt from "@effect/cli/Prompt"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as RunStore from "../../RunStore.js"
import { storeFailed, viewsOf, withStore } from "./context.js"
import { badUsage, failed } from "./failure.js"
import type { OutputFormat, StateSelection, StateType, StoreFlags } from "./flags.js"
import { resolveRun, resolveRuns } from "./ids.js"
import { printInspected, readInspected } from "./inspect.js"
import { describeStore } from "./location.js"
import type { RunView } from "./output.js"
import { printJson, RunJson, runRow } from "./output.js"
import { formatDuration, printable, runsTable, stateLabel, uniquePrefixes } from "./render.js"
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
    readonly state: StateSelection
    readonly name: Option.Option<string>
    readonly tag: Option.Option<string>
    readonly since: Option.Option<number>
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
      const filter = {
        order: "newest" as const,
        limit: flags.limit,
        ...(Option.isSome(flags.name) ? { name: flags.name.value } : {}),
        ...(Option.isSome(flags.kind) ? { kind: flags.kind.value } : {}),
        ...(Option.isSome(flags.tag) ? { tag: flags.tag.value } : {}),
        ...(Option.isSome(flags.since) ? { createdAfter: new Date(Date.now() - flags.since.value) } : {}),
        ...(flowRunId !== undefined ? { flowRunId } : {})
      }
      // The store ANDs its filters; `--state failed --state retrying` means either, so types and
      // names are two listings, merged newest first.
      const { names, types } = flags.state
      const listings = yield* Effect.forEach(
        types.length > 0 && names.length > 0
          ? [{ ...filter, stateType: types }, { ...filter, stateName: names }]
          : [{
            ...filter,
            ...(types.length > 0 ? { stateType: types } : {}),
            ...(names.length > 0 ? { stateName: names } : {})
          }],
        (one) => store.listRuns(one).pipe(Effect.mapError(storeFailed(location)))
      )
      const runs = listings.length === 1 ? listings[0]! : mergeNewest(listings.flat(), flags.limit)
      yield* printRuns(yield* viewsOf(runs), flags.output)
    }))

/** Runs of several listings, each once, newest first (creation time, then id), at most `limit`. */
const mergeNewest = (runs: ReadonlyArray<RunStore.RunRecord>, limit: number): ReadonlyArray<RunStore.RunRecord> =>
  [...new Map(runs.map((run) => [run.id, run])).values()]
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    .slice(0, limit)

const FINAL: ReadonlyArray<StateType> = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]

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
          yield* Console.log(`${prefixes.get(run.id)}  ${run.kind} ${printable(run.name)}: ${outcome}`)
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

/** `runs rerun`: a new Scheduled run of the same task or flow with the same parameters. */
export const rerun = (flags: StoreFlags & { readonly output: OutputFormat; readonly id: string }) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const run = yield* resolveRun(location, flags.id)
      const next = yield* store.rerun(run.id).pipe(Effect.mapError(storeFailed(location)))
      if (flags.output !== "table") return yield* printRuns(yield* viewsOf([next]), flags.output)
      yield* Console.log(
        `Scheduled ${next.id}, a rerun of ${run.id} (${run.kind} ${run.name}) with the same parameters.\n` +
          `A worker serving ${run.name} runs it; follow it with \`taskflow runs watch ${next.id}\`.`
      )
    }))

/** `runs prune -o json`. */
export const PruneJson = Schema.Struct({
  olderThanMs: Schema.Number,
  states: Schema.Array(Schema.String),
  matched: Schema.Number,
  deleted: Schema.NullOr(
    Schema.Struct({ runs: Schema.Number, states: Schema.Number, results: Schema.Number, logs: Schema.Number })
  )
})

/**
 * `runs prune`: says how many finished runs it would delete, then deletes them when `--yes` is
 * given or the user agrees on a terminal; without a terminal to ask on it refuses (bad usage).
 */
export const prune = (
  flags: StoreFlags & {
    readonly output: OutputFormat
    readonly olderThan: number
    readonly state: StateSelection
    readonly yes: boolean
  }
) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      if (flags.state.names.length > 0 || flags.state.types.some((type) => !FINAL.includes(type))) {
        return yield* badUsage(`--state: prune deletes finished runs only; give ${FINAL.join(", ")}.`)
      }
      const options = {
        olderThan: flags.olderThan,
        ...(flags.state.types.length > 0 ? { states: flags.state.types } : {})
      }
      const matched = yield* store.countPrunable(options).pipe(Effect.mapError(storeFailed(location)))
      const states = flags.state.types.length > 0 ? flags.state.types : FINAL
      const report = (deleted: typeof PruneJson.Type["deleted"]) =>
        flags.output === "table"
          ? Effect.void
          : printJson(PruneJson, { olderThanMs: flags.olderThan, states, matched, deleted }, flags.output)
      const say = (text: string) => flags.output === "table" ? Console.log(text) : Effect.void
      yield* say(
        `${matched} finished run${matched === 1 ? "" : "s"} (${states.join(", ")}) ended more than ${
          formatDuration(flags.olderThan)
        } ago in ${describeStore(location)}: pruning deletes them with their history, results and logs.`
      )
      if (matched === 0) return yield* report(null)
      if (!flags.yes) {
        if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
          yield* report(null)
          return yield* badUsage(
            "Not deleting without asking: there is no terminal to ask on. Pass --yes to delete them."
          )
        }
        const agreed = yield* Prompt.confirm({ message: `Delete ${matched} runs?`, initial: false })
        if (!agreed) return yield* say("Nothing deleted.")
      }
      const deleted = yield* store.prune(options).pipe(Effect.mapError(storeFailed(location)))
      yield* say(
        `Deleted ${deleted.runs} runs, ${deleted.states} states, ${deleted.results} results and ${deleted.logs} log lines.`
      )
      yield* report({ runs: deleted.runs, states: deleted.states, results: deleted.results, logs: deleted.logs })
    }))
