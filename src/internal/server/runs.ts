/**
 * What the API, the pages and the change feed share about runs: the state lists, the run an id or a
 * unique prefix names, and a page of runs matching any of several filters. Errors stay typed here;
 * the API and the pages each say them their way.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Errors from "../../Errors.js"
import * as RunStore from "../../RunStore.js"
import type * as State from "../../State.js"
import { encodeCursor } from "../store/rules.js"

/** The state types that are not final: what "running now" covers. */
export const ACTIVE_TYPES: ReadonlyArray<State.StateType> = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"]

/** Every state type: the active ones, then the final ones (the order the pages show them in). */
export const STATE_TYPES: ReadonlyArray<State.StateType> = [
  ...ACTIVE_TYPES,
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "CRASHED"
]

/** The state names that refine a type, as `state=` takes them. */
export const STATE_NAMES: ReadonlyArray<string> = [
  "NotReady",
  "AwaitingRetry",
  "Retrying",
  "TimedOut",
  "Cached",
  "Late",
  "Corrupt"
]

/** The shortest id prefix that names a run (as on the command line). */
export const MIN_PREFIX = 6

/** A filter or cursor the store refused, with its reason (the caller's mistake: a 400). */
export class BadFilter extends Data.TaggedError("BadFilter")<{ readonly message: string }> {}

/** An id prefix that several runs start with: the first few of them, and whether there are more. */
export class AmbiguousId extends Data.TaggedError("AmbiguousId")<{
  readonly prefix: string
  readonly candidates: ReadonlyArray<RunStore.RunRecord>
  readonly more: boolean
}> {
  override get message() {
    return `The id prefix ${this.prefix} matches ${this.more ? "more than " : ""}${this.candidates.length} runs.`
  }
}

/** How many runs an ambiguous prefix lists. */
const CANDIDATES = 10

type StoreError = Errors.RunStoreError | Errors.SerializationError

/**
 * The run whose id is `text`, or the one run whose id starts with it (6 characters or more).
 * An unknown id is `RunNotFound`; a prefix of several runs is `AmbiguousId`.
 */
export const resolveRun = (
  text: string
): Effect.Effect<RunStore.RunRecord, Errors.RunNotFound | AmbiguousId | StoreError, RunStore.RunStore> =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const prefix = text.trim().toLowerCase()
    const exact = yield* Effect.either(store.getRun(prefix))
    if (exact._tag === "Right" || exact.left._tag !== "RunNotFound" || prefix.length < MIN_PREFIX) return yield* exact
    const matches = yield* store.listRuns({ idPrefix: prefix, limit: CANDIDATES + 1 })
    if (matches.length > 1) {
      return yield* new AmbiguousId({
        prefix,
        candidates: matches.slice(0, CANDIDATES),
        more: matches.length > CANDIDATES
      })
    }
    // A listing's record may leave out the result: the run itself is read whole.
    return matches.length === 0 ? yield* exact : yield* store.getRun(matches[0]!.id)
  })

/**
 * A bad cursor is the store's IllegalArgumentException (a defect, as the store decodes cursors):
 * turned into a typed `BadFilter` at this one place.
 */
export const refusedFilter = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BadFilter, R> =>
  Effect.catchSomeDefect(effect, (defect) =>
    Cause.isIllegalArgumentException(defect)
      ? Option.some(Effect.fail(new BadFilter({ message: defect.message.replace(/^listRuns: /, "") })))
      : Option.none())

/**
 * One page of the runs matching any of `filters`, newest first. With several filters each is read
 * from the same cursor (a cursor is a position in the newest-first order, valid for any filter),
 * and the page's next cursor is the position of its last run.
 */
export const runsPage = (
  filters: ReadonlyArray<RunStore.RunFilter>,
  cursor: string | undefined,
  limit: number
): Effect.Effect<RunStore.RunPage, BadFilter | StoreError, RunStore.RunStore> =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const pages = yield* Effect.forEach(filters, (filter) =>
      refusedFilter(
        store.listRunsPage({ ...filter, order: "newest", limit, ...(cursor === undefined ? {} : { cursor }) })
      ))
    if (pages.length === 1) return pages[0]!
    const merged = [...new Map(pages.flatMap((page) => page.runs).map((run) => [run.id, run])).values()]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    const runs = merged.slice(0, limit)
    const more = merged.length > limit || pages.some((page) => page.next !== undefined)
    return { runs, next: more && runs.length > 0 ? encodeCursor(runs[runs.length - 1]!, true) : undefined }
  })
