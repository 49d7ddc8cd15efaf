/**
 * Counts of runs per state type, for the runs page's counts: the store's `countRuns`, capped per
 * state type (a count over a million runs reads 10,001 of them at most), summed over names, and
 * kept a few seconds per view, so live refreshes of an open page do not count again each time.
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as RunStore from "../../../RunStore.js"
import { storeFailed } from "./layout.js"

/** A state type's count above this is shown as "10,000+" (and no more runs than that are read). */
export const COUNT_CAP = 10_000

/** How long a view's counts are reused, in milliseconds. */
export const COUNTS_FRESH_FOR = 5_000

/** Views whose counts are kept, per store. */
const KEPT_VIEWS = 100

/** The runs matching `filter`, counted per name, kind and state type (with `options`: capped). */
export const countRuns = (filter: RunStore.RunFilter, options?: RunStore.CountOptions) =>
  Effect.flatMap(RunStore.RunStore, (store) => Effect.mapError(store.countRuns(filter, options), storeFailed))

/** Counts per state type, summed over names (above `COUNT_CAP`: "more than that"), and when counted. */
export interface StateCounts {
  readonly byType: ReadonlyMap<string, number>
  /** When they were counted, in milliseconds (a live refresh may show counts a few seconds old). */
  readonly at: number
}

const byState = (counts: ReadonlyArray<RunStore.RunCount>): Map<string, number> => {
  const byType = new Map<string, number>()
  for (const count of counts) byType.set(count.stateType, (byType.get(count.stateType) ?? 0) + count.count)
  return byType
}

/**
 * The runs both of two filters select, as one filter, where the runs page's filters may overlap:
 * state types and state names given together (a run RUNNING named Retrying is in each). Its other
 * pairs (active runs, ended runs) are disjoint.
 */
const overlapOf = (filters: ReadonlyArray<RunStore.RunFilter>): RunStore.RunFilter | undefined => {
  if (filters.length !== 2) return undefined
  const [types, names] = filters as readonly [RunStore.RunFilter, RunStore.RunFilter]
  return types.stateType !== undefined && names.stateName !== undefined && types.stateName === undefined
    ? { ...types, stateName: names.stateName }
    : undefined
}

/** Counts per state type of the runs any of `filters` selects, each run once, capped. */
const countUnion = (filters: ReadonlyArray<RunStore.RunFilter>) =>
  Effect.gen(function*() {
    const cap = { cap: COUNT_CAP }
    const lists = yield* Effect.forEach(filters, (filter) => countRuns(filter, cap), { concurrency: "unbounded" })
    const overlap = overlapOf(filters)
    const both = overlap === undefined ? new Map<string, number>() : byState(yield* countRuns(overlap, cap))
    const each = lists.map(byState)
    const total = new Map<string, number>()
    for (const type of new Set(each.flatMap((counts) => [...counts.keys()]))) {
      const parts = each.map((counts) => counts.get(type) ?? 0)
      // A part over the cap makes the union over it too; under it, each run counts once.
      const n = parts.some((part) => part > COUNT_CAP)
        ? COUNT_CAP + 1
        : parts.reduce((sum, part) => sum + part, 0) - (both.get(type) ?? 0)
      if (n > 0) total.set(type, Math.min(n, COUNT_CAP + 1))
    }
    return total
  })

/** A store's kept counts: per view, when they were counted. A WeakMap, so they go with the store. */
const kept = new WeakMap<RunStore.Service, Map<string, StateCounts>>()

/**
 * Counts per state type over `filters` (see `countUnion`), for the view `view` (the page's filters
 * as text: a default view's times move, its text does not). With `reuse` (a live refresh), the
 * view's counts of less than `COUNTS_FRESH_FOR` ms ago are given again; a page load counts.
 */
export const countByState = (view: string, filters: ReadonlyArray<RunStore.RunFilter>, reuse: boolean) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const now = yield* Clock.currentTimeMillis
    let views = kept.get(store)
    if (views === undefined) kept.set(store, views = new Map())
    const found = views.get(view)
    if (reuse && found !== undefined && now - found.at < COUNTS_FRESH_FOR) return found
    const counts: StateCounts = { byType: yield* countUnion(filters), at: now }
    views.delete(view) // re-inserted last: the oldest view is the first dropped
    views.set(view, counts)
    if (views.size > KEPT_VIEWS) views.delete(views.keys().next().value!)
    return counts
  })

/** A count as shown: "10,000+" above the cap. */
export const formatCount = (n: number): string =>
  n > COUNT_CAP ? `${COUNT_CAP.toLocaleString("en")}+` : n.toLocaleString("en")
