/**
 * `taskflow runs …`: list, inspect, cancel and watch the runs of a store. The flags are declared
 * here; what each command does loads only when it runs (internal/runsHandlers.ts).
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { ageOption, lazy, outputOption, positive, stateOption, storeOptions } from "./internal/flags.js"

const handlers = () => import("./internal/runsHandlers.js")

const idArg = Args.text({ name: "id" }).pipe(
  Args.withDescription("The run: its id, or a unique prefix of 6+ characters (as the tables show).")
)

const limitOption = (description: string, fallback: number) =>
  Options.integer("limit").pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.mapEffect(positive("limit"))
  )

const ls = Command.make("ls", {
  ...storeOptions,
  output: outputOption,
  state: stateOption("Only runs in this state (repeatable)"),
  name: Options.text("name").pipe(
    Options.withDescription("Only runs of the task or flow of this name."),
    Options.optional
  ),
  tag: Options.text("tag").pipe(Options.withDescription("Only runs carrying this tag."), Options.optional),
  since: ageOption("since", "Only runs created within this long (90s, 15m, 2h, 30d).").pipe(Options.optional),
  kind: Options.choice("kind", ["task", "flow"] as const).pipe(
    Options.withDescription("Only task runs, or only flow runs."),
    Options.optional
  ),
  flowRun: Options.text("flow-run").pipe(
    Options.withDescription("Only the task runs of this flow run (an id or a unique prefix)."),
    Options.optional
  ),
  limit: limitOption("At most this many runs, the newest.", 20)
}, (flags) => lazy(handlers, (h) => h.ls(flags))).pipe(
  Command.withDescription("List runs, newest first: id prefix, name, state, start, duration, attempts.")
)

const inspect = Command.make(
  "inspect",
  { ...storeOptions, output: outputOption, id: idArg },
  (flags) => lazy(handlers, (h) => h.inspect(flags))
).pipe(Command.withDescription(
  "Show a run: parameters, state history, result or failure, worker, and a flow run's task runs."
))

const cancel = Command.make("cancel", {
  ...storeOptions,
  output: outputOption,
  ids: Args.text({ name: "id" }).pipe(Args.withDescription("Runs to cancel (ids or unique prefixes)."), Args.atLeast(1))
}, (flags) => lazy(handlers, (h) => h.cancel(flags))).pipe(Command.withDescription(
  "Cancel runs: one no worker holds ends Cancelled at once, a running one is stopped by its worker. " +
    "Exits 1 if a run had already finished."
))

const watch = Command.make("watch", {
  ...storeOptions,
  id: idArg.pipe(
    Args.withDescription("Watch this run (and its task runs) until it ends: exit 0 if it Completed, 1 otherwise."),
    Args.optional
  ),
  limit: limitOption("How many of the newest runs to show.", 20),
  interval: ageOption("interval", "How often to read the store again (default 1s).").pipe(Options.withDefault(1_000))
}, (flags) => lazy(handlers, (h) => h.watch(flags))).pipe(Command.withDescription(
  "A live table of the newest runs, redrawn in place until Ctrl-C (plain lines of changes when not a terminal)."
))

const logs = Command.make("logs", {
  ...storeOptions,
  output: outputOption,
  id: idArg,
  follow: Options.boolean("follow").pipe(
    Options.withAlias("f"),
    Options.withDescription("Then print each new line as the run logs it, until the run is final.")
  ),
  tail: Options.integer("tail").pipe(
    Options.withDescription("Only the last N lines logged so far."),
    Options.mapEffect(positive("tail")),
    Options.optional
  )
}, (flags) => lazy(() => import("./internal/logs.js"), (h) => h.logs(flags))).pipe(Command.withDescription(
  "What a run logged (Effect.log* in its task or flow): time, level, message, annotations and spans."
))

const rerun = Command.make(
  "rerun",
  { ...storeOptions, output: outputOption, id: idArg },
  (flags) => lazy(handlers, (h) => h.rerun(flags))
).pipe(Command.withDescription(
  "Schedule a new run of the same task or flow with the same parameters, linked to the old one (rerunOf)."
))

const prune = Command.make("prune", {
  ...storeOptions,
  output: outputOption,
  olderThan: ageOption("older-than", "Delete finished runs that ended longer ago than this (30d, 12h)."),
  state: stateOption("Only runs that ended in this state (repeatable; default every final state)"),
  yes: Options.boolean("yes").pipe(Options.withAlias("y"), Options.withDescription("Delete without asking."))
}, (flags) => lazy(handlers, (h) => h.prune(flags))).pipe(Command.withDescription(
  "Delete finished runs (with their history, results and logs) that ended longer ago than --older-than. " +
    "Says how many first, and asks unless --yes; without a terminal and without --yes it refuses (exit 2)."
))

/** `taskflow runs`. */
export const runsCommand = Command.make("runs").pipe(
  Command.withDescription("List, inspect, follow the logs of, cancel, rerun, watch and prune runs."),
  Command.withSubcommands([ls, inspect, logs, cancel, rerun, watch, prune])
)
