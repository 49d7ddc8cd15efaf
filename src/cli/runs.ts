/**
 * `taskflow runs …`: list, inspect, cancel and watch the runs of a store.
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as RunStore from "../RunStore.js"
import type * as State from "../State.js"
import { storeFailed, viewsOf, withStore } from "./internal/context.js"
import { failed } from "./internal/failure.js"
import { resolveRun, resolveRuns } from "./internal/ids.js"
import { printInspected, readInspected } from "./internal/inspect.js"
import type { OutputFormat, RunView } from "./internal/output.js"
import { outputOption, printJson, RunJson, runRow } from "./internal/output.js"
import { parseAge, runsTable, stateLabel } from "./internal/render.js"
import { storeOptions } from "./internal/store.js"
import { watch } from "./internal/watch.js"

const STATE_TYPES: ReadonlyArray<State.StateType> = [
  "SCHEDULED",
  "PENDING",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "CRASHED",
  "PAUSED",
  "CANCELLING"
]

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/** `--state` values: state types (any case, commas allowed), checked. */
const stateOption = Options.text("state").pipe(
  Options.withDescription(`Only runs in this state (repeatable): ${STATE_TYPES.join(", ")}.`),
  Options.repeated,
  Options.mapEffect((values) => {
    const types = values.flatMap((value) => value.split(",")).map((value) => value.trim().toUpperCase())
    const bad = types.find((type) => !STATE_TYPES.includes(type as State.StateType))
    return bad === undefined
      ? Effect.succeed(types as ReadonlyArray<State.StateType>)
      : invalid(`--state ${bad.toLowerCase()} is not a state: use one of ${STATE_TYPES.join(", ")}.`)
  })
)

/** An age flag ("2h", "30d"), in milliseconds. */
export const ageOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) => {
      const ms = parseAge(text)
      return ms === undefined
        ? invalid(`--${name} ${text} is not an age: write a number and a unit, as 90s, 15m, 2h, 30d or 2w.`)
        : Effect.succeed(ms)
    })
  )

/** Prints views as the table, a JSON array, or one JSON object a line. */
export const printRuns = (views: ReadonlyArray<RunView>, format: OutputFormat) =>
  format === "table"
    ? Console.log(views.length === 0 ? "No runs." : runsTable(views.map(runRow)))
    : format === "json"
    ? printJson(Schema.Array(RunJson), views, "json")
    : Effect.forEach(views, (view) => printJson(RunJson, view, "jsonl"), { discard: true })

const ls = Command.make("ls", {
  ...storeOptions,
  output: outputOption,
  state: stateOption,
  name: Options.text("name").pipe(
    Options.withDescription("Only runs of the task or flow of this name."),
    Options.optional
  ),
  kind: Options.choice("kind", ["task", "flow"] as const).pipe(
    Options.withDescription("Only task runs, or only flow runs."),
    Options.optional
  ),
  flowRun: Options.text("flow-run").pipe(
    Options.withDescription("Only the task runs of this flow run (an id or a unique prefix)."),
    Options.optional
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("At most this many runs, the newest."),
    Options.withDefault(20),
    Options.mapEffect((n) => n > 0 ? Effect.succeed(n) : invalid(`--limit ${n}: give a whole number of 1 or more.`))
  )
}, (flags) =>
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
    }))).pipe(Command.withDescription("List runs, newest first: id prefix, name, state, start, duration, attempts."))

const cancel = Command.make("cancel", {
  ...storeOptions,
  output: outputOption,
  ids: Args.text({ name: "id" }).pipe(Args.withDescription("Runs to cancel (ids or unique prefixes)."), Args.atLeast(1))
}, (flags) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const runs = yield* resolveRuns(location, flags.ids)
      const outcomes = yield* Effect.forEach(runs, (run) =>
        Effect.map(
          store.cancelRun(run.id).pipe(Effect.mapError(storeFailed(location))),
          (state) => ({ run, state, alreadyFinal: run.state.type === state.type && isFinalType(state.type) })
        ))
      if (flags.output === "table") {
        for (const { alreadyFinal, run, state } of outcomes) {
          const label = stateLabel(state.type, state.name)
          yield* Console.log(
            `${run.id.slice(0, 8)}  ${run.kind} ${run.name}: ${
              alreadyFinal
                ? `already ${label}, left as it is`
                : state.type === "CANCELLING"
                ? "CANCELLING (the worker holding it stops it)"
                : label
            }`
          )
        }
      } else {
        const views = yield* viewsOf(yield* Effect.forEach(runs, (run) => store.getRun(run.id).pipe(Effect.orDie)))
        yield* printRuns(views, flags.output)
      }
      const finished = outcomes.filter((outcome) => outcome.alreadyFinal)
      if (finished.length > 0) {
        return yield* failed(`${finished.length} of ${outcomes.length} runs had already finished: nothing to cancel.`)
      }
    }))).pipe(Command.withDescription(
      "Cancel runs: one no worker holds ends Cancelled at once, a running one is stopped by its worker."
    ))

const inspect = Command.make(
  "inspect",
  {
    ...storeOptions,
    output: outputOption,
    id: Args.text({ name: "id" }).pipe(Args.withDescription("The run (its id or a unique prefix of 6+ characters)."))
  },
  (flags) =>
    withStore(
      flags,
      (location) =>
        Effect.flatMap(readInspected(location, flags.id), (inspected) => printInspected(inspected, flags.output))
    )
)
  .pipe(Command.withDescription(
    "Show a run: parameters, state history, result or failure, worker, and a flow run's task runs."
  ))

const watchRuns = Command.make("watch", {
  ...storeOptions,
  id: Args.text({ name: "id" }).pipe(
    Args.withDescription("Watch this run (and its task runs) until it ends: exit 0 if it Completed, 1 otherwise."),
    Args.optional
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("How many of the newest runs to show."),
    Options.withDefault(20)
  ),
  interval: ageOption("interval", "How often to read the store again (default 1s).").pipe(Options.withDefault(1_000))
}, (flags) =>
  withStore(flags, (location) =>
    watch(location, {
      id: Option.getOrUndefined(flags.id),
      limit: flags.limit,
      intervalMs: flags.interval,
      tty: process.stdout.isTTY === true
    }))).pipe(Command.withDescription(
      "A live table of the newest runs, redrawn in place until Ctrl-C (plain lines of changes when not a terminal)."
    ))

const isFinalType = (type: string): boolean =>
  type === "COMPLETED" || type === "FAILED" || type === "CRASHED" || type === "CANCELLED"

/** `taskflow runs`. */
export const runsCommand = Command.make("runs").pipe(
  Command.withDescription("List, inspect, cancel and watch runs."),
  Command.withSubcommands([ls, inspect, cancel, watchRuns])
)
