/**
 * The runs page's query string as store filters: the server's one reading of a runs query
 * (`../filters.ts`, the API's too), with a bad value as a 400 page that says why. Every filter
 * lives in the URL so a view can be shared.
 * @internal
 */
import * as Either from "effect/Either"
import type { QueryParams, RunsQuery } from "../filters.js"
import { parseRunsQuery as parse } from "../filters.js"
import { PageError } from "./layout.js"

export { DEFAULT_LIMIT, filtersOf, MAX_LIMIT, timeOf } from "../filters.js"
export type { RunsQuery } from "../filters.js"

/** Reads the query; a bad value is a 400 page error naming it. */
export const parseRunsQuery = (params: QueryParams): RunsQuery | PageError =>
  Either.getOrElse(
    parse(params),
    (error): RunsQuery | PageError => new PageError({ status: 400, title: "Bad filter", message: error.message })
  )
