/**
 * The JSON shapes of the server's API, as Schemas (dates as ISO strings, absent values as null), and
 * how a run becomes one. The same vocabulary as the command's `-o json` (docs/cli.md).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"
import * as RunStore from "../../RunStore.js"
import * as State from "../../State.js"

/** A state as JSON. */
export const StateJson = Schema.Struct({
  type: Schema.String,
  name: Schema.String,
  message: Schema.NullOr(Schema.String),
  timestamp: Schema.Date
}).annotations({ identifier: "StateJson" })

/** A run as the API lists it. */
export const RunJson = Schema.Struct({
  id: Schema.String,
  kind: Schema.Literal("task", "flow"),
  name: Schema.String,
  flowRunId: Schema.NullOr(Schema.String),
  parentTaskRunId: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  runCount: Schema.Number,
  retries: Schema.Number,
  state: StateJson,
  createdAt: Schema.Date,
  workerId: Schema.NullOr(Schema.String),
  rerunOf: Schema.NullOr(Schema.String),
  /** The arguments as stored, as plain JSON (see `jsonValue`). */
  parameters: Schema.Unknown,
  /** Why the run's row does not read whole, when it does not. */
  corrupt: Schema.optional(Schema.String)
}).annotations({ identifier: "RunJson" })

/** One run with its result (a Completed run's value) or its failure (the pretty Cause). */
export const RunDetailJson = Schema.Struct({
  ...RunJson.fields,
  result: Schema.Unknown,
  failure: Schema.NullOr(Schema.String)
}).annotations({ identifier: "RunDetailJson" })

/** A state as `StateJson` takes it. */
export const stateJson = (state: State.State<unknown, unknown>): typeof StateJson.Type => ({
  type: state.type,
  name: state.name,
  message: state.message ?? null,
  timestamp: state.timestamp
})

/** A run as `RunJson` takes it. */
export const runJson = (run: RunStore.RunRecord): typeof RunJson.Type => ({
  id: run.id,
  kind: run.kind,
  name: run.name,
  flowRunId: run.flowRunId ?? null,
  parentTaskRunId: run.parentTaskRunId ?? null,
  tags: run.tags,
  runCount: run.runCount,
  retries: run.retries,
  state: stateJson(run.state),
  createdAt: run.createdAt,
  workerId: run.workerId ?? null,
  rerunOf: run.rerunOf ?? null,
  parameters: jsonValue(run.parameters),
  ...(run.corrupt === undefined ? {} : { corrupt: run.corrupt.message })
})

/** A run with its result or failure, as `runs inspect` shows them. */
export const runDetailJson = (run: RunStore.RunRecord): typeof RunDetailJson.Type => ({
  ...runJson(run),
  result: State.isCompleted(run.state) && State.hasResult(run.state) ? jsonValue(run.state.value) : null,
  failure: State.isFailed(run.state) || State.isCrashed(run.state) ? showCause(run.state.cause) : null
})

/**
 * A stored value (parameters, a result) as plain JSON: what JSON cannot say (undefined, bigint,
 * Date, Map, Set, NaN, typed arrays, Errors) is written as the nearest plain value. The same rules as
 * the command's `jsonValue` (src/cli/internal/output.ts), which may use only the public modules.
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

/** A failure's `Cause`, pretty-printed as Effect does, then each typed error's own fields. */
export const showCause = (cause: Cause.Cause<unknown>): string => {
  const fields = [...Cause.failures(cause)].flatMap((error) => {
    if (error === null || typeof error !== "object") return []
    const own = Object.entries(error).filter(([key]) => key !== "message" && key !== "stack")
    return own.length === 0 ? [] : [`Fields: ${JSON.stringify(jsonValue(Object.fromEntries(own)))}`]
  })
  return [Cause.pretty(cause, { renderErrorCause: true }), ...fields].join("\n")
}
