/**
 * The API's handlers: each reads the store through a bounded page or an indexed count, and maps
 * the store's errors to the API's (docs/ui.md lists them).
 * @internal
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type * as Errors from "../../Errors.js"
import * as RunStore from "../../RunStore.js"
import * as State from "../../State.js"
import { Api, BadRequest, ReadOnly, RunStateConflict, StoreFailed } from "./api.js"
import { ServerConfig } from "./config.js"
import { ChangeFeed, connectionText, parseEventId } from "./feed.js"
import type { QueryParams } from "./filters.js"
import { disjointFilters, filtersOf, limitOf, MAX_API_LIMIT, parseRunsQuery } from "./filters.js"
import { runDetailJson, runJson, stateJson } from "./json.js"
import { COUNT_CAP } from "./pages/counts.js"
import type { BadFilter } from "./runs.js"
import { refusedFilter, resolveRun as resolveShared, runsPage, STATE_TYPES } from "./runs.js"

/**
 * A store that did not answer, as the API's 503. Its message is fixed (the store's may name files,
 * tables or hosts): the cause goes to the server's log.
 */
const storeFailed = (error: unknown) =>
  Effect.zipRight(
    Effect.logError("The run store failed", error),
    Effect.fail(new StoreFailed({ message: "The run store did not answer. Try again; the server's log says why." }))
  )

/** The store's failures as the API's: a store that did not answer is 503 (unknown runs stay 404). */
const storeErrors = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, Errors.RunStoreError | Errors.SerializationError> =>
      Predicate.isTagged(error, "RunStoreError") || Predicate.isTagged(error, "SerializationError"),
    (error) => storeFailed(error)
  )

/** A filter or cursor the store refused, as the API's 400. */
const badFilter = (error: BadFilter) => Effect.fail(new BadRequest({ message: error.message }))

/** The run an id (or a unique prefix of 6 or more of its first characters) names. */
const resolveRun = (text: string) =>
  resolveShared(text).pipe(
    Effect.catchTag("AmbiguousId", (error) => Effect.fail(new BadRequest({ message: error.message }))),
    (effect) => storeErrors(effect)
  )

/** A `limit=` of the API's other listings, as a 400 when it is not one. */
const apiLimit = (text: string | undefined, fallback: number) =>
  Either.mapLeft(limitOf(text, fallback, MAX_API_LIMIT), (error) => new BadRequest({ message: error.message }))

/**
 * A runs query as store filters, read as the runs page reads it (`filters.ts`): types and names
 * together are either, `flow=` takes a prefix. With no filter the API lists every run (no
 * default view: that is the page's).
 */
const filtersOfQuery = (params: QueryParams) =>
  Effect.gen(function*() {
    const query = yield* Either.mapLeft(parseRunsQuery(params), (error) => new BadRequest({ message: error.message }))
    const flowRunId = query.flow === ""
      ? undefined
      : (yield* resolveRun(query.flow).pipe(
        Effect.catchTag(
          "RunNotFound",
          () => Effect.fail(new BadRequest({ message: `flow: no run has the id ${query.flow}.` }))
        )
      )).id
    const filters = filtersOf(query, flowRunId, yield* Clock.currentTimeMillis, { defaultView: false })
    return { query, filters }
  })

const refuseWhenReadOnly = Effect.flatMap(
  ServerConfig,
  (config) =>
    config.readOnly
      ? Effect.fail(new ReadOnly({ message: "Refused: this server was started with --read-only." }))
      : Effect.void
)

/** The handlers of the `runs` group. */
export const runsHandlers = HttpApiBuilder.group(Api, "runs", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const { filters, query } = yield* filtersOfQuery(urlParams)
        const page = yield* runsPage(filters, query.cursor, query.limit).pipe(
          Effect.catchTag("BadFilter", badFilter),
          storeErrors
        )
        return { runs: page.runs.map(runJson), next: page.next ?? null }
      }))
    .handle("counts", ({ urlParams }) =>
      Effect.gen(function*() {
        const { filters } = yield* filtersOfQuery({ ...urlParams, limit: undefined, cursor: undefined })
        const store = yield* RunStore.RunStore
        // Capped as the page's: a state type's count reads at most COUNT_CAP + 1 runs, whatever the store's size.
        const counts = yield* Effect.forEach(
          disjointFilters(filters),
          (filter) => store.countRuns(filter, { cap: COUNT_CAP })
        ).pipe(storeErrors)
        const byType: Record<string, number> = Object.fromEntries(STATE_TYPES.map((type) => [type, 0]))
        for (const count of counts.flat()) byType[count.stateType] = (byType[count.stateType] ?? 0) + count.count
        const capped = STATE_TYPES.filter((type) => byType[type]! > COUNT_CAP)
        for (const type of capped) byType[type] = COUNT_CAP + 1
        return { counts: byType, capped, cap: COUNT_CAP }
      }))
    .handle("get", ({ path }) => Effect.map(resolveRun(path.id), runDetailJson))
    .handle("history", ({ path }) =>
      Effect.gen(function*() {
        const run = yield* resolveRun(path.id)
        const store = yield* RunStore.RunStore
        const history = yield* storeErrors(store.getHistory(run.id))
        return { states: history.map(stateJson) }
      }))
    .handle("logs", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const limit = yield* apiLimit(urlParams.limit, 1_000)
        const after = urlParams.after === undefined || urlParams.after === "" ? 0 : Number(urlParams.after)
        if (!Number.isSafeInteger(after) || after < 0) {
          return yield* Effect.fail(
            new BadRequest({ message: `after must be a whole number, got ${JSON.stringify(urlParams.after)}` })
          )
        }
        const run = yield* resolveRun(path.id)
        const store = yield* RunStore.RunStore
        return { logs: yield* storeErrors(store.getLogs(run.id, { after, limit })) }
      }))
    .handle("taskRuns", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const limit = yield* apiLimit(urlParams.limit, 100)
        const run = yield* resolveRun(path.id)
        const store = yield* RunStore.RunStore
        const page = yield* refusedFilter(store.listRunsPage({
          flowRunId: run.id,
          order: "oldest",
          limit,
          ...(urlParams.cursor === undefined || urlParams.cursor === "" ? {} : { cursor: urlParams.cursor })
        })).pipe(Effect.catchTag("BadFilter", badFilter), storeErrors)
        return { runs: page.runs.map(runJson), next: page.next ?? null }
      }))
    .handle("cancel", ({ path }) =>
      Effect.gen(function*() {
        yield* refuseWhenReadOnly
        const run = yield* resolveRun(path.id)
        if (State.isFinal(run.state)) {
          return yield* Effect.fail(
            new RunStateConflict({
              message: `Run ${run.id} already ended ${run.state.name}: there is nothing to cancel.`,
              state: stateJson(run.state)
            })
          )
        }
        const store = yield* RunStore.RunStore
        return { state: stateJson(yield* storeErrors(store.cancelRun(run.id))) }
      }))
    .handle("rerun", ({ path }) =>
      Effect.gen(function*() {
        yield* refuseWhenReadOnly
        const run = yield* resolveRun(path.id)
        if (!State.isFinal(run.state)) {
          return yield* Effect.fail(
            new RunStateConflict({
              message: `Run ${run.id} is ${run.state.name}, not finished: only a finished run can be rerun.`,
              state: stateJson(run.state)
            })
          )
        }
        const store = yield* RunStore.RunStore
        return runJson(yield* storeErrors(store.rerun(run.id)))
      }))
    .handleRaw("events", ({ request, urlParams }) =>
      Effect.gen(function*() {
        const lastEventId = yield* Either.mapLeft(
          parseEventId(urlParams.lastEventId ?? request.headers["last-event-id"]),
          (message) => new BadRequest({ message })
        )
        const feed = yield* ChangeFeed
        // The first bytes go out once the feed listens: a change after them is reported.
        const text = Stream.unwrapScoped(
          Effect.map(feed.changes(lastEventId), (events) => connectionText(feed.epoch, events))
        )
        return HttpServerResponse.stream(Stream.encodeText(text), {
          contentType: "text/event-stream",
          // No proxy buffering or caching: each event goes out as it comes.
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })))
