/**
 * The API's handlers: each reads the store through a bounded page or an indexed count, and maps
 * the store's errors to the API's (docs/ui.md lists them).
 * @internal
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Errors from "../../Errors.js"
import * as RunStore from "../../RunStore.js"
import * as State from "../../State.js"
import { Api, BadRequest, ReadOnly, RunStateConflict, StoreFailed } from "./api.js"
import { ServerConfig } from "./config.js"
import { ChangeFeed, connectionText } from "./feed.js"
import { filterOf, limitOf, STATE_TYPES } from "./filters.js"
import { runDetailJson, runJson, stateJson } from "./json.js"

/** The least id prefix that names a run (as on the command line). */
const MIN_PREFIX = 6

/** A store's failure as the API's: unknown runs stay 404, the rest is a store that did not answer. */
const storeErrors = <A, E extends Errors.RunNotFound | Errors.RunStoreError | Errors.SerializationError, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, Errors.RunStoreError | Errors.SerializationError> | StoreFailed, R> =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, Errors.RunStoreError | Errors.SerializationError> => error._tag !== "RunNotFound",
    (error) => Effect.fail(new StoreFailed({ message: error.message }))
  ) as Effect.Effect<A, Exclude<E, Errors.RunStoreError | Errors.SerializationError> | StoreFailed, R>

/** A filter the store refused (a cursor it did not make, say: a defect that says why) as a 400. */
const badInput = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BadRequest, R> =>
  Effect.catchSomeDefect(effect, (defect) =>
    Cause.isIllegalArgumentException(defect)
      ? Option.some(Effect.fail(new BadRequest({ message: defect.message.replace(/^listRuns: /, "") })))
      : Option.none())

/** The run an id (or a unique prefix of 6 or more of its first characters) names. */
const resolveRun = (text: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const id = text.trim().toLowerCase()
    const exact = yield* Effect.either(storeErrors(store.getRun(id)))
    if (Either.isRight(exact) || exact.left._tag !== "RunNotFound" || id.length < MIN_PREFIX) return yield* exact
    const page = yield* storeErrors(store.listRunsPage({ idPrefix: id, limit: 2 }))
    if (page.runs.length > 1) {
      return yield* Effect.fail(new BadRequest({ message: `More than one run has an id starting with ${id}.` }))
    }
    if (page.runs.length === 0) return yield* exact
    return yield* storeErrors(store.getRun(page.runs[0]!.id))
  })

const refuseWhenReadOnly = Effect.flatMap(
  ServerConfig,
  (config) =>
    config.readOnly
      ? Effect.fail(new ReadOnly({ message: "Refused: this server was started with --read-only." }))
      : Effect.void
)

/** A `lastEventId` (query) or `Last-Event-ID` (header): a whole number, or none. */
const lastEventIdOf = (text: string | undefined): Either.Either<number | undefined, BadRequest> => {
  if (text === undefined || text === "") return Either.right(undefined)
  const id = Number(text)
  return Number.isSafeInteger(id) && id >= 0
    ? Either.right(id)
    : Either.left(new BadRequest({ message: `lastEventId must be a whole number, got ${JSON.stringify(text)}` }))
}

/** The handlers of the `runs` group. */
export const runsHandlers = HttpApiBuilder.group(Api, "runs", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const filter = yield* filterOf(urlParams)
        const store = yield* RunStore.RunStore
        const page = yield* badInput(storeErrors(store.listRunsPage(filter)))
        return { runs: page.runs.map(runJson), next: page.next ?? null }
      }))
    .handle("counts", ({ urlParams }) =>
      Effect.gen(function*() {
        const filter = yield* filterOf({ ...urlParams, limit: undefined, cursor: undefined })
        const store = yield* RunStore.RunStore
        const counts = yield* badInput(storeErrors(store.countRuns(filter)))
        const byType: Record<string, number> = Object.fromEntries(STATE_TYPES.map((type) => [type, 0]))
        for (const count of counts) byType[count.stateType] = (byType[count.stateType] ?? 0) + count.count
        return { counts: byType }
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
        const limit = yield* limitOf(urlParams.limit, 1_000)
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
        const limit = yield* limitOf(urlParams.limit, 100)
        const run = yield* resolveRun(path.id)
        const store = yield* RunStore.RunStore
        const page = yield* badInput(storeErrors(store.listRunsPage({
          flowRunId: run.id,
          order: "oldest",
          limit,
          ...(urlParams.cursor === undefined || urlParams.cursor === "" ? {} : { cursor: urlParams.cursor })
        })))
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
        const lastEventId = yield* lastEventIdOf(urlParams.lastEventId ?? request.headers["last-event-id"])
        const feed = yield* ChangeFeed
        // The first bytes go out once the feed listens: a change after them is reported.
        const text = Stream.unwrapScoped(Effect.map(feed.changes(lastEventId), (events) => connectionText(events)))
        return HttpServerResponse.stream(Stream.encodeText(text), {
          contentType: "text/event-stream",
          // No proxy buffering or caching: each event goes out as it comes.
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })))
