/**
 * The JSON shapes of the output: Schemas, so what is printed
 * is encoded by the same definition docs/cli.md documents (dates as ISO strings, absent values as
 * null, never left out).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as RunStore from "../../RunStore.js"
import * as State from "../../State.js"
import type { RunRow } from "./render.js"

export type { OutputFormat } from "./flags.js"

/** A state as JSON. */
export const StateJson = Schema.Struct({
  type: Schema.String,
  name: Schema.String,
  message: Schema.NullOr(Schema.String),
  timestamp: Schema.Date
})

/** A run as JSON: `runs ls`, `runs watch`, and the `run` of `runs inspect`. */
export const RunJson = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  name: Schema.String,
  state: StateJson,
  flowRunId: Schema.NullOr(Schema.String),
  parentTaskRunId: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  attempts: Schema.Number,
  retries: Schema.Number,
  createdAt: Schema.Date,
  startedAt: Schema.NullOr(Schema.Date),
  endedAt: Schema.NullOr(Schema.Date),
  durationMs: Schema.NullOr(Schema.Number),
  workerId: Schema.NullOr(Schema.String),
  rerunOf: Schema.NullOr(Schema.String),
  corrupt: Schema.NullOr(Schema.String)
})

/** The decoded (in-memory) side of `RunJson`. */
export type RunView = typeof RunJson.Type

/** A state as `StateJson` takes it. */
export const stateView = (state: State.State<unknown, unknown>): typeof StateJson.Type => ({
  type: state.type,
  name: state.name,
  message: state.message ?? null,
  timestamp: state.timestamp
})

/** A run and its history as one view: the start is its first Running state, the end its final state. */
export const runView = (
  run: RunStore.RunRecord,
  history: ReadonlyArray<State.State<unknown, unknown>> | undefined,
  now: number
): RunView => {
  const started = history?.find((state) => state.type === "RUNNING")?.timestamp
  const ended = State.isFinal(run.state) ? run.state.timestamp : undefined
  return {
    id: run.id,
    kind: run.kind,
    name: run.name,
    state: stateView(run.state),
    flowRunId: run.flowRunId ?? null,
    parentTaskRunId: run.parentTaskRunId ?? null,
    tags: run.tags,
    attempts: run.runCount,
    retries: run.retries,
    createdAt: run.createdAt,
    startedAt: started ?? null,
    endedAt: ended ?? null,
    durationMs: started === undefined ? null : (ended?.getTime() ?? now) - started.getTime(),
    workerId: run.workerId ?? null,
    rerunOf: run.rerunOf ?? null,
    corrupt: run.corrupt?.message ?? null
  }
}

/** A view as a row of the runs table. */
export const runRow = (view: RunView): RunRow => ({
  id: view.id,
  kind: view.kind,
  name: view.name,
  stateType: view.state.type,
  stateName: view.state.name,
  startedAt: view.startedAt ?? undefined,
  durationMs: view.durationMs ?? undefined,
  attempts: view.attempts
})

/** Prints `value` encoded with `schema`, as one JSON document (json) or on one line (jsonl). */
export const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A, format: "json" | "jsonl") =>
  Effect.flatMap(
    Effect.orDie(Schema.encode(schema)(value)),
    (encoded) => Console.log(format === "json" ? JSON.stringify(encoded, null, 2) : JSON.stringify(encoded))
  )

/**
 * A stored value (parameters, a result) as plain JSON: what JSON cannot say (undefined, bigint,
 * Date, Map, Set, NaN, typed arrays, Errors) is written as the nearest plain value.
 */
export const jsonValue = (value: unknown, depth = 0): unknown => {
  if (depth > 100) return "…"
  if (value === undefined) return null
  if (typeof value === "bigint") return value.toString()
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (value === null || typeof value !== "object") return typeof value === "function" ? "[function]" : value
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Map) return [...value].map(([k, v]) => [jsonValue(k, depth + 1), jsonValue(v, depth + 1)])
  if (value instanceof Set || ArrayBuffer.isView(value)) {
    return [...(value as Iterable<unknown>)].map((v) => jsonValue(v, depth + 1))
  }
  if (Array.isArray(value)) return value.map((v) => jsonValue(v, depth + 1))
  const entries = Object.entries(value).map(([k, v]) => [k, jsonValue(v, depth + 1)] as const)
  if (value instanceof Error) entries.unshift(["name", value.name], ["message", value.message])
  return Object.fromEntries(entries)
}

/** A value as the table output shows it: JSON on one line. */
export const showValue = (value: unknown): string => JSON.stringify(jsonValue(value)) ?? "undefined"

/**
 * A failure's `Cause`, pretty-printed as Effect does, followed by each typed error's fields (the
 * pretty form shows an error's message, not what it carries).
 */
export const showCause = (cause: Cause.Cause<unknown>): string => {
  const fields = [...Cause.failures(cause)].flatMap((error) => {
    if (error === null || typeof error !== "object") return []
    const own = Object.entries(error).filter(([key]) => key !== "message" && key !== "stack")
    return own.length === 0 ? [] : [`Fields: ${JSON.stringify(jsonValue(Object.fromEntries(own)))}`]
  })
  return [Cause.pretty(cause, { renderErrorCause: true }), ...fields].join("\n")
}
