/**
 * Counts of runs per state type and per task name, for the runs page's counts and a flow run's
 * grouped timeline.
 *
 * STOPGAP until the store's `countRuns` (an indexed GROUP BY) is merged: this counts by listing at
 * most `STOPGAP_CAP` runs per filter, and says "at least" beyond it.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as RunStore from "../../../RunStore.js"
import type * as State from "../../../State.js"
import { storeFailed } from "./layout.js"

/** One group of the count: runs of one name and kind in one state type. */
export interface RunCount {
  readonly name: string
  readonly kind: RunStore.RunKind
  readonly stateType: State.StateType
  readonly count: number
}

const STOPGAP_CAP = 5_000

/** The runs matching `filter`, counted per name, kind and state type. */
export const countRuns = (filter: RunStore.RunFilter) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runs = yield* store.listRuns({ ...filter, limit: STOPGAP_CAP })
    const groups = new Map<string, RunCount>()
    for (const run of runs) {
      const key = `${run.kind}\u0000${run.name}\u0000${run.state.type}`
      const group = groups.get(key)
      groups.set(key, { name: run.name, kind: run.kind, stateType: run.state.type, count: (group?.count ?? 0) + 1 })
    }
    return [...groups.values()] as ReadonlyArray<RunCount>
  }).pipe(Effect.mapError(storeFailed))

/** Counts per state type, summed over names and over `filters` (which select disjoint runs). */
export const countByState = (filters: ReadonlyArray<RunStore.RunFilter>) =>
  Effect.map(Effect.forEach(filters, countRuns), (lists) => {
    const byType = new Map<string, number>()
    for (const count of lists.flat()) byType.set(count.stateType, (byType.get(count.stateType) ?? 0) + count.count)
    return byType
  })
