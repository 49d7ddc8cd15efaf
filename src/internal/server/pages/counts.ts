/**
 * Counts of runs per state type, for the runs page's counts: the store's `countRuns` (one grouped,
 * indexed count, whatever the store's size), summed over names.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as RunStore from "../../../RunStore.js"
import { storeFailed } from "./layout.js"

/** The runs matching `filter`, counted per name, kind and state type. */
export const countRuns = (filter: RunStore.RunFilter) =>
  Effect.flatMap(RunStore.RunStore, (store) => Effect.mapError(store.countRuns(filter), storeFailed))

/**
 * Counts per state type, summed over names and over `filters`. The runs page's filters select
 * disjoint runs (active, or ended), but for state types and names given together, where a run of
 * both (RUNNING named Retrying) counts in each.
 */
export const countByState = (filters: ReadonlyArray<RunStore.RunFilter>) =>
  Effect.map(Effect.forEach(filters, countRuns, { concurrency: "unbounded" }), (lists) => {
    const byType = new Map<string, number>()
    for (const count of lists.flat()) byType.set(count.stateType, (byType.get(count.stateType) ?? 0) + count.count)
    return byType
  })
