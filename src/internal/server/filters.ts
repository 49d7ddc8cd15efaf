/**
 * The runs filters of the API's query (the runs page's too): checked, with a reason when one does
 * not make sense, and turned into a `RunFilter`.
 * @internal
 */
import * as Either from "effect/Either"
import type * as RunStore from "../../RunStore.js"
import type * as State from "../../State.js"
import type { RunsQuery } from "./api.js"
import { BadRequest } from "./api.js"

/** Every state type, as `state=` takes them. */
export const STATE_TYPES: ReadonlyArray<State.StateType> = [
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

/** A page's size when the query gives none, and the most a query may ask for. */
export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1_000

/** A `limit=`: a whole number from 1 to MAX_LIMIT, else the reason. */
export const limitOf = (text: string | undefined, fallback: number): Either.Either<number, BadRequest> => {
  if (text === undefined || text === "") return Either.right(fallback)
  const limit = Number(text)
  return Number.isSafeInteger(limit) && limit >= 1 && limit <= MAX_LIMIT
    ? Either.right(limit)
    : Either.left(
      new BadRequest({ message: `limit must be a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(text)}` })
    )
}

const timeOf = (key: string, text: string): Either.Either<Date, BadRequest> => {
  const date = new Date(text)
  return Number.isNaN(date.getTime())
    ? Either.left(
      new BadRequest({ message: `${key} must be an ISO time (e.g. 2024-01-31T12:00:00Z), got ${JSON.stringify(text)}` })
    )
    : Either.right(date)
}

/** Each `state=` value: a state type (upper case), or a state name such as TimedOut. */
const statesOf = (
  value: string | ReadonlyArray<string> | undefined
): Either.Either<Pick<RunStore.RunFilter, "stateType" | "stateName">, BadRequest> => {
  const values = (value === undefined ? [] : typeof value === "string" ? [value] : value).filter((v) => v !== "")
  const types = values.filter((v): v is State.StateType => (STATE_TYPES as ReadonlyArray<string>).includes(v))
  const names = values.filter((v) => !types.includes(v as State.StateType))
  const bad = names.find((name) => !/^[A-Z][A-Za-z]*$/.test(name))
  if (bad !== undefined) {
    return Either.left(
      new BadRequest({
        message: `state must be a state type (${STATE_TYPES.join(", ")}) or a state name such as TimedOut, got ${
          JSON.stringify(bad)
        }`
      })
    )
  }
  return Either.right({
    ...(types.length === 0 ? {} : { stateType: types }),
    ...(names.length === 0 ? {} : { stateName: names })
  })
}

/** A runs query as a filter, newest first (the cursor is checked by the store, see `handlers.ts`). */
export const filterOf = (query: typeof RunsQuery.Type): Either.Either<RunStore.RunFilter, BadRequest> =>
  Either.gen(function*() {
    const given = (text: string | undefined) => text !== undefined && text !== ""
    if (given(query.kind) && query.kind !== "task" && query.kind !== "flow") {
      return yield* Either.left(
        new BadRequest({ message: `kind must be task or flow, got ${JSON.stringify(query.kind)}` })
      )
    }
    const filter: RunStore.RunFilter = {
      order: "newest",
      limit: yield* limitOf(query.limit, DEFAULT_LIMIT),
      ...(yield* statesOf(query.state)),
      ...(given(query.kind) ? { kind: query.kind as RunStore.RunKind } : {}),
      ...(given(query.name) ? { name: query.name! } : {}),
      ...(given(query.tag) ? { tag: query.tag! } : {}),
      ...(given(query.flow) ? { flowRunId: query.flow! } : {}),
      ...(given(query.from) ? { createdAfter: yield* timeOf("from", query.from!) } : {}),
      ...(given(query.to) ? { createdBefore: yield* timeOf("to", query.to!) } : {}),
      ...(given(query.cursor) ? { cursor: query.cursor! } : {})
    }
    return filter
  })
