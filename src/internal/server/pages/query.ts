/**
 * The runs page's query string as store filters. Every filter lives in the URL so a view can be
 * shared; a value that is not one (an unknown state, a bad time, a limit out of range) is a 400
 * page that says why.
 * @internal
 */
import type * as RunStore from "../../../RunStore.js"
import type * as State from "../../../State.js"
import { ACTIVE_TYPES, STATE_NAMES, STATE_TYPES } from "./format.js"
import { PageError } from "./layout.js"

/** The query as the page reads it: what it echoes in the form, and what it asks the store. */
export interface RunsQuery {
  readonly state: ReadonlyArray<string>
  readonly name: string
  readonly kind: "" | RunStore.RunKind
  readonly tag: string
  readonly flow: string
  readonly from: string
  readonly to: string
  readonly cursor: string | undefined
  readonly limit: number
  /** No filter given: what runs now, and what ended in the last 24 hours. */
  readonly isDefault: boolean
}

/** The page size when the query gives none. */
export const DEFAULT_LIMIT = 50
/** The largest page size the query may ask for. */
export const MAX_LIMIT = 500

type Params = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const all = (params: Params, key: string): ReadonlyArray<string> => {
  const value = params[key]
  const values = value === undefined ? [] : typeof value === "string" ? [value] : value
  return values.map((v) => v.trim()).filter((v) => v !== "")
}
const one = (params: Params, key: string): string => all(params, key)[0] ?? ""

const bad = (message: string) => new PageError({ status: 400, title: "Bad filter", message })

/** Reads the query; fails with a 400 page error naming the bad value. */
export const parseRunsQuery = (params: Params): RunsQuery | PageError => {
  const state = all(params, "state").flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")
  for (const value of state) {
    if (
      !STATE_TYPES.includes(value.toUpperCase() as State.StateType) &&
      !STATE_NAMES.some((name) => name.toLowerCase() === value.toLowerCase())
    ) {
      return bad(
        `state ${JSON.stringify(value)} is not a state: use a type (${STATE_TYPES.join(", ")}) or a name (${
          STATE_NAMES.join(", ")
        }).`
      )
    }
  }
  const kind = one(params, "kind")
  if (kind !== "" && kind !== "task" && kind !== "flow") {
    return bad(`kind ${JSON.stringify(kind)} is not a kind: use task or flow.`)
  }
  for (const key of ["from", "to"]) {
    const text = one(params, key)
    if (text !== "" && timeOf(text) === undefined) {
      return bad(`${key} ${JSON.stringify(text)} is not a time: write an ISO time such as 2026-12-06T09:30:00Z.`)
    }
  }
  const limitText = one(params, "limit")
  const limit = limitText === "" ? DEFAULT_LIMIT : Number(limitText)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    return bad(`limit ${JSON.stringify(limitText)} is not a whole number from 1 to ${MAX_LIMIT}.`)
  }
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
}

/**
 * An ISO time ("2026-12-06T09:30:00Z"), a day, or a time without a zone ("2026-12-06T09:30", a
 * form's `datetime-local`, or with a space for the T): read as UTC, never the server's local time.
 */
export const timeOf = (text: string): Date | undefined => {
  const match = /^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(Z|[+-]\d\d:?\d\d)?)?$/i.exec(text)
  if (match === null) return undefined
  const date = new Date(`${match[1]}T${match[2] ?? "00:00"}${match[3] ?? "Z"}`)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/**
 * The store filters the query means (without order, limit and cursor). The store ANDs its filters;
 * state types and names together mean either, so they are two filters whose runs the page merges,
 * as is the default view (runs in an active state, runs that ended since `now - 24 h`).
 */
export const filtersOf = (
  query: RunsQuery,
  flowRunId: string | undefined,
  now: number
): ReadonlyArray<RunStore.RunFilter> => {
  if (query.isDefault) {
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
