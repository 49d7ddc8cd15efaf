/**
 * `taskflow runs inspect <id>`: a run's parameters, its history as a timeline, its result or its
 * failure's pretty `Cause`, the worker that held it, a flow run's task runs as a tree, and its last log lines.
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as RunStore from "../../RunStore.js"
import * as State from "../../State.js"
import { historyOf, storeFailed, viewsOf } from "./context.js"
import { resolveRun } from "./ids.js"
import type { StoreLocation } from "./location.js"
import type { OutputFormat, RunView } from "./output.js"
import { jsonValue, printJson, RunJson, runView, showCause, showValue, StateJson, stateView } from "./output.js"
import {
  formatDuration,
  formatTime,
  logLine,
  printable,
  runTree,
  stateLabel,
  timeline,
  tree as renderTree,
  uniquePrefixes
} from "./render.js"

/** `runs inspect -o json`. */
export const InspectJson = Schema.Struct({
  run: RunJson,
  parameters: Schema.Unknown,
  history: Schema.Array(StateJson),
  result: Schema.Unknown,
  failure: Schema.NullOr(Schema.String),
  taskRuns: Schema.Array(RunJson),
  logs: Schema.Array(RunStore.RunLog)
})

/** How many of its last log lines `inspect` shows. */
export const INSPECT_LOG_LINES = 10

/** Everything `inspect` shows of a run. */
export interface Inspected {
  readonly record: RunStore.RunRecord
  readonly view: RunView
  readonly history: ReadonlyArray<State.State<unknown, unknown>>
  readonly taskRuns: ReadonlyArray<RunView>
  /** The run's last lines, and how many it logged in all. */
  readonly logs: ReadonlyArray<RunStore.RunLog>
  readonly logCount: number
}

/** Reads the run `text` names, its history and (for a flow run) its task runs. */
export const readInspected = (location: StoreLocation, text: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const record = yield* resolveRun(location, text)
    const history = (yield* historyOf(record.id)) ?? [record.state]
    const view = runView(record, history, yield* Clock.currentTimeMillis)
    const taskRuns = record.kind === "flow"
      ? yield* viewsOf(
        yield* store.listRuns({ flowRunId: record.id }).pipe(Effect.mapError(storeFailed(location)))
      )
      : []
    const lines = yield* store.getLogs(record.id).pipe(Effect.mapError(storeFailed(location)))
    const logs = lines.slice(Math.max(0, lines.length - INSPECT_LOG_LINES))
    return { record, view, history, taskRuns, logs, logCount: lines.length } satisfies Inspected
  })

/** Prints what `readInspected` read. */
export const printInspected = (inspected: Inspected, format: OutputFormat) => {
  const { history, record, taskRuns, view } = inspected
  const failure = State.isFailed(record.state) || State.isCrashed(record.state) ? showCause(record.state.cause) : null
  if (format !== "table") {
    return printJson(InspectJson, {
      run: view,
      parameters: jsonValue(record.parameters),
      history: history.map(stateView),
      result: State.isCompleted(record.state) ? jsonValue(record.state.value) : null,
      failure,
      taskRuns,
      logs: inspected.logs
    }, format)
  }
  // Printable as a whole: parameters, results and the failure's Cause are the run's own text.
  return Console.log(printable(inspectText(inspected, failure)))
}

/** The table form of `inspect`: sections separated by blank lines. */
export const inspectText = (inspected: Inspected, failure: string | null): string => {
  const { history, record, taskRuns, view } = inspected
  const facts: Array<[string, string]> = [
    ["Run", `${record.id} (${record.kind} ${record.name})`],
    ["State", stateLabel(record.state.type, record.state.name)],
    ["Created", formatTime(record.createdAt)],
    ["Started", formatTime(view.startedAt ?? undefined)],
    ["Ended", formatTime(view.endedAt ?? undefined)],
    ["Duration", view.durationMs === null ? "-" : formatDuration(view.durationMs)],
    ["Attempts", `${record.runCount} (retries allowed: ${record.retries})`],
    ["Worker", record.workerId ?? lastWorker(history)],
    ["Flow run", record.flowRunId ?? "-"],
    ...(record.rerunOf === undefined ? [] : [["Rerun of", record.rerunOf] as [string, string]]),
    ["Tags", record.tags.length === 0 ? "-" : record.tags.join(", ")],
    ["Parameters", showValue(record.parameters)]
  ]
  if (record.corrupt !== undefined) facts.push(["Corrupt", record.corrupt.message])
  const sections = [
    facts.map(([key, value]) => `${(key + ":").padEnd(12)}${value}`).join("\n"),
    `History\n${indent(timeline(history))}`
  ]
  if (State.isCompleted(record.state)) {
    sections.push(`Result\n${indent(State.hasResult(record.state) ? showValue(record.state.value) : "(not kept)")}`)
  }
  if (failure !== null) sections.push(`Failure\n${indent(failure)}`)
  if (record.kind === "flow") {
    const root = { label: `${record.name} ${stateLabel(record.state.type, record.state.name)}`, children: [] }
    const prefixes = uniquePrefixes(taskRuns.map((run) => run.id))
    const tree = runTree(root, taskRuns.map((run) => ({ ...run, parentTaskRunId: run.parentTaskRunId ?? undefined })), (
      run
    ) =>
      `${prefixes.get(run.id)}  ${run.name}  ${stateLabel(run.state.type, run.state.name)}  ${
        run.durationMs === null ? "" : formatDuration(run.durationMs)
      }`.trimEnd())
    sections.push(`Task runs (${taskRuns.length})\n${indent(taskRuns.length === 0 ? "none" : renderTree(tree))}`)
  }
  sections.push(
    inspected.logCount === 0
      ? "Logs\n  none"
      : `Logs (${
        inspected.logCount > inspected.logs.length ? `last ${inspected.logs.length} of ${inspected.logCount}; ` : ""
      }taskflow runs logs ${record.id} for all)\n${indent(inspected.logs.map(logLine).join("\n"))}`
  )
  return sections.join("\n\n")
}

const indent = (text: string): string => text.split("\n").map((line) => `  ${line}`).join("\n")

/** A worker that held the run, named by its history's messages when the run no longer holds one. */
const lastWorker = (history: ReadonlyArray<State.State<unknown, unknown>>): string => {
  for (const state of [...history].reverse()) {
    const match = state.message === undefined ? null : /task worker (\S+?)[,.]?(\s|$)/i.exec(state.message)
    if (match !== null) return match[1]!
  }
  return "-"
}
