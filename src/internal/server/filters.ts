/**
 * The ONE reading of a runs query, for the API's `/api/runs` and `/api/runs/counts` and the runs
 * page alike: each value checked (a reason when it is not one), then turned into store filters.
 * State types and names given together mean either (the store ANDs its filters, so they become
 * two filters whose runs are merged), times are ISO and read as UTC, states are only known ones.
 * @internal
 */
import * as Either from "effect/Either"
import type * as RunStore from "../../RunStore.js"
import type * as State from "../../State.js"
import { ACTIVE_TYPES, BadFilter, STATE_NAMES, STATE_TYPES } from "./runs.js"

/** A page's size when the query gives none. */
export const DEFAULT_LIMIT = 50
/** The largest page of runs a query may ask for (the API's logs and task runs take up to `MAX_API_LIMIT`). */
export const MAX_LIMIT = 500
/** The largest `limit` of the API's other listings (logs, a flow run's task runs). */
export const MAX_API_LIMIT = 1_000

/** A runs query as read: what a page echoes in its form, and what is asked of the store. */
export interface RunsQuery {
  readonly state: ReadonlyArray<string>
  readonly name: string
  readonly kind: "" | RunStore.RunKind
  readonly tag: string
  /** A flow run's id or unique prefix (resolved by the caller, see `resolveRun`). */
  readonly flow: string
  readonly from: string
  readonly to: string
  readonly cursor: string | undefined
  readonly limit: number
  /** No filter given: the page shows what runs now and what ended in the last 24 hours. */
  readonly isDefault: boolean
}

/** A query string's values, as `HttpServerRequest.ParsedSearchParams` or a schema'd query gives them. */
export type QueryParams = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const all = (params: QueryParams, key: string): ReadonlyArray<string> => {
  const value = params[key]
  const values = value === undefined ? [] : typeof value === "string" ? [value] : value
  return values.map((v) => v.trim()).filter((v) => v !== "")
}
const one = (params: QueryParams, key: string): string => all(params, key)[0] ?? ""

/**
 * An ISO time ("2026-12-06T09:30:00Z"), a day, or a time without a zone ("2026-12-06T09:30", a
 * form's `datetime-local`, or with a space for the T): read as UTC, never the server's local time.
 * Anything else ("1", "yesterday") is no time.
 */
export const timeOf = (text: string): Date | undefined => {
  const match = /^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(Z|[+-]\d\d:?\d\d)?)?$/i.exec(text)
  if (match === null) return undefined
  const date = new Date(`${match[1]}T${match[2] ?? "00:00"}${match[3] ?? "Z"}`)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** A `limit=`: a whole number from 1 to `max`, else why not. */
export const limitOf = (text: string | undefined, fallback: number, max: number): Either.Either<number, BadFilter> => {
  if (text === undefined || text.trim() === "") return Either.right(fallback)
  const limit = Number(text)
  return Number.isSafeInteger(limit) && limit >= 1 && limit <= max
    ? Either.right(limit)
    : Either.left(new BadFilter({ message: `limit ${JSON.stringify(text)} is not a whole number from 1 to ${max}.` }))
}

const isType = (value: string) => STATE_TYPES.includes(value.toUpperCase() as State.StateType)
const isName = (value: string) => STATE_NAMES.some((name) => name.toLowerCase() === value.toLowerCase())

/** Reads a runs query (`state` may repeat, or list values with commas; case does not matter for states). */
export const parseRunsQuery = (params: QueryParams): Either.Either<RunsQuery, BadFilter> =>
  Either.gen(function*() {
    const bad = (message: string) => Either.left(new BadFilter({ message }))
    const state = all(params, "state").flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")
    const unknown = state.find((value) => !isType(value) && !isName(value))
    if (unknown !== undefined) {
      return yield* bad(
        `state ${JSON.stringify(unknown)} is not a state: use a type (${STATE_TYPES.join(", ")}) or a name (${
          STATE_NAMES.join(", ")
        }).`
      )
    }
    const kind = one(params, "kind")
    if (kind !== "" && kind !== "task" && kind !== "flow") {
      return yield* bad(`kind ${JSON.stringify(kind)} is not a kind: use task or flow.`)
    }
    for (const key of ["from", "to"]) {
      const text = one(params, key)
      if (text !== "" && timeOf(text) === undefined) {
        return yield* bad(
          `${key} ${JSON.stringify(text)} is not a time: write an ISO time such as 2026-12-06T09:30:00Z.`
        )
      }
    }
    const limit = yield* limitOf(one(params, "limit"), DEFAULT_LIMIT, MAX_LIMIT)
    const query = {
      state,
      name: one(params, "name"),
      kind: kind as RunsQuery["kind"],
      tag: one(params, "tag"),
      flow: one(params, "flow"),
      from: one(params, "from"),
      to: one(params, "to")
    }
    const cursor = one(params, "cursor")
    return {
      ...query,
      cursor: cursor === "" ? undefined : cursor,
      limit,
      isDefault: Object.values(query).every((v) => v.length === 0)
    }
  })

/**
 * The store filters a query means (without order, limit and cursor), whose runs together are the
 * answer: the store ANDs its filters, so state types and names together are two filters, and the
 * default view (no filter, when `defaultView`) is runs in an active state plus runs that ended since
 * `now - 24 h`. `flowRunId` is the `flow` value resolved to a whole id.
 */
export const filtersOf = (
  query: RunsQuery,
  flowRunId: string | undefined,
  now: number,
  { defaultView = true }: { readonly defaultView?: boolean } = {}
): ReadonlyArray<RunStore.RunFilter> => {
  if (query.isDefault && defaultView) {
    return [{ stateType: ACTIVE_TYPES }, { endedAfter: new Date(now - 86_400_000) }]
  }
  const from = timeOf(query.from)
  const to = timeOf(query.to)
  const base: RunStore.RunFilter = {
    ...(query.name === "" ? {} : { name: query.name }),
    ...(query.kind === "" ? {} : { kind: query.kind }),
    ...(query.tag === "" ? {} : { tag: query.tag }),
    ...(flowRunId === undefined ? {} : { flowRunId }),
    ...(from === undefined ? {} : { createdAfter: from }),
    ...(to === undefined ? {} : { createdBefore: to })
  }
  const types = STATE_TYPES.filter((type) => query.state.some((v) => v.toUpperCase() === type))
  const names = STATE_NAMES.filter((name) => query.state.some((v) => v.toLowerCase() === name.toLowerCase()))
  if (types.length > 0 && names.length > 0) return [{ ...base, stateType: types }, { ...base, stateName: names }]
  return [{
    ...base,
    ...(types.length > 0 ? { stateType: types } : {}),
    ...(names.length > 0 ? { stateName: names } : {})
  }]
}

/**
 * The filters of `filtersOf` made to select disjoint runs, for counting: with state types and names
 * together, the names' filter leaves out the types' (a RUNNING run named Retrying counts once).
 */
export const disjointFilters = (filters: ReadonlyArray<RunStore.RunFilter>): ReadonlyArray<RunStore.RunFilter> => {
  const [types, names] = filters
  if (filters.length !== 2 || types?.stateType === undefined || names?.stateName === undefined) return filters
  const counted = typeof types.stateType === "string" ? [types.stateType] : types.stateType
  return [types, { ...names, stateType: STATE_TYPES.filter((type) => !counted.includes(type)) }]
}
