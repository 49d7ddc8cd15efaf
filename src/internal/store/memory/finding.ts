/**
 * The memory store's finding and pruning of runs: the same filters, order, cursors and prune rules
 * as the SQL stores (sql/reads.ts, sql/prune.ts), over the runs in memory.
 * @internal
 */
import type * as RunStore_ from "../../../RunStore.js"
import { hasResult, isFinal } from "../../core/state.js"
import type { Listing, Pruning } from "../rules.js"
import { countCapOf, countingOf, encodeCursor, listingOf } from "../rules.js"
import type { MemoryRun } from "./memoryRun.js"
import type { RunIndex } from "./runIndex.js"

/** Whether a run is listed: every filter given holds. */
const matches = (memoryRun: MemoryRun, filter: RunStore_.RunFilter | undefined, listing: Listing): boolean => {
  const run = memoryRun.run!
  const state = memoryRun.state
  if (filter === undefined) return true
  if (filter.kind !== undefined && run.kind !== filter.kind) return false
  if (filter.flowRunId !== undefined && run.flowRunId !== filter.flowRunId) return false
  if (filter.name !== undefined && run.name !== filter.name) return false
  if (listing.stateTypes !== undefined && !listing.stateTypes.includes(state.type)) return false
  if (listing.stateNames !== undefined && !listing.stateNames.includes(state.name)) return false
  if (filter.tag !== undefined && !(run.tags ?? []).includes(filter.tag)) return false
  if (filter.idPrefix !== undefined && !run.id.startsWith(filter.idPrefix)) return false
  const created = memoryRun.createdAt()
  if (listing.createdAfter !== undefined && created < listing.createdAfter) return false
  if (listing.createdBefore !== undefined && created >= listing.createdBefore) return false
  if (listing.endedAfter !== undefined || listing.endedBefore !== undefined) {
    if (!isFinal(state)) return false
    const ended = state.timestamp.getTime()
    if (listing.endedAfter !== undefined && ended < listing.endedAfter) return false
    if (listing.endedBefore !== undefined && ended >= listing.endedBefore) return false
  }
  return true
}

/** -1, 0 or 1: `a` before, at or after `b` in creation order (time, then id, as the SQL stores order). */
const byCreation = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** One page of the runs that match `filter`, and the next page's cursor. @internal */
export const listPage = (
  runs: RunIndex,
  filter: RunStore_.RunFilter | undefined,
  toRecord: (run: MemoryRun) => RunStore_.RunRecord
): RunStore_.RunPage => {
  const listing = listingOf(filter)
  if (listing.empty) return { runs: [], next: undefined }
  const sign = listing.newestFirst ? -1 : 1
  const found: Array<{ createdAt: number; id: string; run: MemoryRun }> = []
  for (const memoryRun of runs.all().values()) {
    if (memoryRun.run === undefined) continue // a placeholder kept for a subscriber
    if (!matches(memoryRun, filter, listing)) continue
    const key = { createdAt: memoryRun.createdAt(), id: memoryRun.run.id, run: memoryRun }
    if (listing.after !== undefined && sign * byCreation(key, listing.after) <= 0) continue
    found.push(key)
  }
  found.sort((a, b) => sign * byCreation(a, b))
  const limit = listing.limit ?? found.length
  const page = found.slice(0, limit).map((key) => toRecord(key.run))
  return {
    runs: page,
    next: found.length > limit && page.length > 0 ? encodeCursor(page[page.length - 1], listing.newestFirst) : undefined
  }
}

/** How many runs match `filter`, by name, kind and state type, as the SQL stores count them. @internal */
export const countRuns = (
  runs: RunIndex,
  filter: RunStore_.RunFilter | undefined,
  options?: RunStore_.CountOptions
): Array<RunStore_.RunCount> => {
  const listing = countingOf(filter)
  const cap = countCapOf(options) ?? Infinity
  if (listing.empty) return []
  const counts = new Map<string, RunStore_.RunCount>()
  const perType = new Map<string, number>()
  for (const memoryRun of runs.all().values()) {
    if (memoryRun.run === undefined || !matches(memoryRun, filter, listing)) continue
    const { kind, name } = memoryRun.run
    const state = memoryRun.state
    const counted = perType.get(state.type) ?? 0
    if (counted > cap) continue // this state type has cap + 1 already: "more than cap"
    perType.set(state.type, counted + 1)
    const key = JSON.stringify([name, kind, state.type])
    const before = counts.get(key)
    const created = new Date(memoryRun.createdAt())
    const ended = isFinal(state) ? state.timestamp : undefined
    counts.set(key, {
      name,
      kind,
      stateType: state.type,
      count: (before?.count ?? 0) + 1,
      firstCreatedAt: before === undefined || created < before.firstCreatedAt ? created : before.firstCreatedAt,
      lastEndedAt: before?.lastEndedAt === undefined || (ended !== undefined && ended > before.lastEndedAt)
        ? ended
        : before.lastEndedAt
    })
  }
  return [...counts.values()]
}

/**
 * The runs `prune` deletes, as the SQL stores pick them: finished runs outside any flow run still
 * here (or flow runs) that ended before the cutoff in one of `states`, none of whose own runs is
 * unfinished, each with every finished run in it (its subflows' too, through finished runs only).
 */
const prunable = (runs: RunIndex, { cutoff, states }: Pruning): Array<MemoryRun> => {
  const all = runs.all()
  const members = new Map<string, Array<MemoryRun>>()
  for (const run of all.values()) {
    const flowRunId = run.run?.flowRunId
    if (flowRunId === undefined) continue
    let list = members.get(flowRunId)
    if (list === undefined) members.set(flowRunId, list = [])
    list.push(run)
  }
  const out: Array<MemoryRun> = []
  const taken = new Set<MemoryRun>()
  const take = (run: MemoryRun) => {
    if (taken.has(run)) return
    taken.add(run)
    out.push(run)
    for (const member of members.get(run.run!.id) ?? []) if (isFinal(member.state)) take(member)
  }
  for (const run of all.values()) {
    const flowRunId = run.run?.flowRunId
    if (run.run === undefined || !isFinal(run.state) || run.state.timestamp.getTime() >= cutoff) continue
    if (!states.includes(run.state.type)) continue
    if (flowRunId !== undefined && runs.find(flowRunId) !== undefined) continue
    if ((members.get(run.run.id) ?? []).some((member) => !isFinal(member.state))) continue
    take(run)
  }
  return out
}

/** How many runs `prune` would delete. @internal */
export const countPrunable = (runs: RunIndex, pruning: Pruning): number => prunable(runs, pruning).length

/** Deletes what `prune` deletes, and counts it. @internal */
export const prune = (
  runs: RunIndex,
  pruning: Pruning,
  dropLogs: (runId: string) => number = () => 0
): RunStore_.PruneReport => {
  let states = 0
  let results = 0
  let logs = 0
  const pruned = prunable(runs, pruning)
  for (const run of pruned) {
    states += run.history().length
    if (run.state.type === "COMPLETED" && hasResult(run.state)) results++
    logs += dropLogs(run.run!.id)
    runs.remove(run)
  }
  return { runs: pruned.length, states, results, logs }
}
