import { Cause, Clock, Effect, Either, Layer } from "effect"
import type * as RunStore_ from "../../RunStore.js"
import type { AnyState } from "../core/state.js"
import { cancelled, cancelling, isFinal, pending, running } from "../core/state.js"
import {
  checkTransition,
  isCount,
  listingOf,
  notFound,
  notHeld,
  recoveredState,
  releasedState,
  subscribeTo
} from "./rules.js"
import type { SyncRunHandle, SyncWrites } from "./runStore.js"
import { RunStore, SyncWritesKey } from "./runStore.js"

/** One run in memory. Mutable; records are built when read. A placeholder (no history) waits for a subscriber. */
class MemoryRun {
  state: AnyState
  runCount = 0
  workerId: string | undefined = undefined
  leaseExpiresAt: number | undefined = undefined
  /**
   * The states before the current one, oldest first: the first two in fields, any others in an
   * array. Most runs have three states (Pending, Running, a final one), and then need no array.
   */
  first: AnyState | undefined = undefined
  second: AnyState | undefined = undefined
  rest: Array<AnyState> | undefined = undefined
  listeners: Set<(state: AnyState) => void> | undefined = undefined
  /** Forgotten by a store that keeps only its newest finished runs. */
  forgotten = false
  constructor(readonly run: RunStore_.NewRun | undefined, initial: AnyState) {
    this.state = initial
  }
  toRecord(): RunStore_.RunRecord {
    const run = this.run!
    return {
      id: run.id,
      kind: run.kind,
      name: run.name,
      flowRunId: run.flowRunId,
      parentTaskRunId: run.parentTaskRunId,
      parameters: run.parameters ?? [],
      tags: run.tags ?? [],
      runCount: this.runCount,
      retries: run.retries ?? 0,
      state: this.state,
      createdAt: (this.first ?? this.state).timestamp,
      workerId: this.workerId,
      leaseExpiresAt: this.leaseExpiresAt === undefined ? undefined : new Date(this.leaseExpiresAt)
    }
  }
  history(): Array<AnyState> {
    const history: Array<AnyState> = []
    if (this.first !== undefined) history.push(this.first)
    if (this.second !== undefined) history.push(this.second)
    if (this.rest !== undefined) history.push(...this.rest)
    history.push(this.state)
    return history
  }
  /** Makes `state` the current state, keeping the one before in the history. */
  push(state: AnyState): void {
    if (this.first === undefined) this.first = this.state
    else if (this.second === undefined) this.second = this.state
    else if (this.rest === undefined) this.rest = [this.state]
    else this.rest.push(this.state)
    this.state = state
  }
}

/** How many finished runs a runner's own memory store keeps (see TaskRunner's `store`). @internal */
export const RUNNER_KEEPS_FINISHED = 10_000

/** @internal */
export const makeMemory = (
  options?: RunStore_.MemoryOptions
): RunStore_.Service & { readonly [SyncWritesKey]: SyncWrites } => {
  const keepFinished = options?.keepFinished ?? Number.POSITIVE_INFINITY
  if (keepFinished !== Number.POSITIVE_INFINITY && !isCount(keepFinished)) {
    throw new Cause.IllegalArgumentException(
      `RunStore memory: keepFinished must be a whole number of 0 or more, or Infinity, got ${keepFinished}`
    )
  }
  const byId = new Map<string, MemoryRun>()
  /**
   * Runs created and not yet in `byId`, in creation order. Most runs are never looked up by id (an
   * in-process future holds its run's handle), so the Map insertion, the costliest step of a
   * creation, waits for the first look-up by id, which indexes them all.
   */
  let unindexed: Array<MemoryRun> = []
  /** The runs by id, with every run created so far. */
  const runs = (): Map<string, MemoryRun> => {
    if (unindexed.length > 0) {
      for (const run of unindexed) if (!run.forgotten) byId.set(run.run!.id, run)
      unindexed = []
      unindexedForgotten = 0
    }
    return byId
  }
  /** Forgotten runs still in `unindexed`: dropped from it once they are half of it. */
  let unindexedForgotten = 0
  /** Finished runs, oldest first from `finishedHead`, while the store keeps only `keepFinished` of them. */
  let finished: Array<MemoryRun> = []
  let finishedHead = 0
  const onFinished = (run: MemoryRun) => {
    if (keepFinished === Number.POSITIVE_INFINITY) return
    finished.push(run)
    if (finished.length - finishedHead <= keepFinished) return
    forget(finished[finishedHead++])
    if (finishedHead > 64 && finishedHead * 2 > finished.length) {
      finished = finished.slice(finishedHead)
      finishedHead = 0
    }
  }
  const forget = (run: MemoryRun) => {
    run.forgotten = true
    run.listeners = undefined
    const id = run.run!.id
    if (byId.get(id) === run) {
      byId.delete(id)
    } else if (++unindexedForgotten * 2 > unindexed.length && unindexed.length > 64) {
      unindexed = unindexed.filter((kept) => !kept.forgotten)
      unindexedForgotten = 0
    }
  }
  /** Run ids in the order they became Scheduled; claims skip those no longer Scheduled. */
  let scheduledQueue: Array<string> = []
  const scheduledListeners = new Set<(name?: string) => void>()
  const cancellingListeners = new Set<(runId: string) => void>()
  const onScheduled = (runId: string, name: string) => {
    scheduledQueue.push(runId)
    scheduledListeners.forEach((listener) => listener(name))
  }
  const find = (runId: string) => {
    const run = runs().get(runId)
    return run === undefined || run.run === undefined ? undefined : run
  }
  /** Placeholders made for subscribers to runs not created yet: none, and creation skips a look-up. */
  let placeholders = 0
  const unsafeCreateRun = (newRun: RunStore_.NewRun): SyncRunHandle => {
    const run = new MemoryRun(newRun, newRun.state)
    if (placeholders === 0) {
      unindexed.push(run)
    } else {
      // A subscriber may wait for this id: the run takes its placeholder's place.
      const placeholder = runs().get(newRun.id)
      byId.set(newRun.id, run)
      if (placeholder !== undefined && placeholder.run === undefined) {
        placeholders--
        if (placeholder.listeners !== undefined) {
          run.listeners = placeholder.listeners
          run.listeners.forEach((listener) => listener(newRun.state))
        }
      }
    }
    if (newRun.state.type === "SCHEDULED") onScheduled(newRun.id, newRun.name)
    else if (isFinal(newRun.state)) onFinished(run)
    return run as unknown as SyncRunHandle
  }
  const unsafeSetStateOf = (handle: SyncRunHandle, state: AnyState, runCount: number | undefined) => {
    const run = handle as unknown as MemoryRun
    const refused = checkTransition(run.run!.id, run.state, state)
    if (refused !== undefined) return refused
    move(run, state, runCount)
    return undefined
  }
  const unsafeSetState = (runId: string, state: AnyState, runCount: number | undefined, workerId?: string) => {
    const run = find(runId)
    if (run === undefined) return notFound(runId)
    if (workerId !== undefined && run.workerId !== workerId) return notHeld(runId, workerId)
    const refused = checkTransition(runId, run.state, state)
    if (refused !== undefined) return refused
    move(run, state, runCount)
    return undefined
  }
  /** `release`: the run is given back (a final state always ends the hold). */
  const move = (run: MemoryRun, state: AnyState, runCount: number | undefined, release = false) => {
    run.push(state)
    if (runCount !== undefined) run.runCount = runCount
    if (isFinal(state) || release) {
      run.workerId = undefined
      run.leaseExpiresAt = undefined
    }
    run.listeners?.forEach((listener) => listener(state))
    if (state.type === "SCHEDULED" && run.workerId === undefined) onScheduled(run.run!.id, run.run!.name)
    else if (state.type === "CANCELLING") cancellingListeners.forEach((listener) => listener(run.run!.id))
    else if (isFinal(state) && !run.forgotten) onFinished(run)
  }
  const now = Effect.map(Clock.currentTimeMillis, (millis) => millis)
  return {
    kind: "memory",
    [SyncWritesKey]: { unsafeCreateRun, unsafeSetState, unsafeSetStateOf },
    createRun: (run) => Effect.sync(() => unsafeCreateRun(run)),
    createRuns: (newRuns) => Effect.sync(() => newRuns.forEach(unsafeCreateRun)),
    setState: (runId, state, options) =>
      Effect.suspend(() => {
        const refused = unsafeSetState(runId, state, options?.runCount, options?.workerId)
        return refused === undefined ? Effect.void : Effect.fail(refused)
      }),
    getRun: (runId) =>
      Effect.suspend(() => {
        const run = find(runId)
        return run === undefined ? Effect.fail(notFound(runId)) : Effect.succeed(run.toRecord())
      }),
    getHistory: (runId) =>
      Effect.suspend(() => {
        const run = find(runId)
        return run === undefined ? Effect.fail(notFound(runId)) : Effect.succeed(run.history())
      }),
    listRuns: (filter) =>
      Effect.suspend(() => {
        const listing = listingOf(filter)
        const out: Array<RunStore_.RunRecord> = []
        for (const memoryRun of runs().values()) {
          const run = memoryRun.run
          if (run === undefined) continue // a placeholder kept for a subscriber
          if (filter?.kind !== undefined && run.kind !== filter.kind) continue
          if (filter?.flowRunId !== undefined && run.flowRunId !== filter.flowRunId) continue
          if (filter?.name !== undefined && run.name !== filter.name) continue
          if (listing.stateTypes !== undefined && !listing.stateTypes.includes(memoryRun.state.type)) continue
          out.push(memoryRun.toRecord())
        }
        // Creation order, as the SQL stores keep it (ids made at once are in creation order too).
        out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        if (listing.newestFirst) out.reverse()
        return Effect.succeed(listing.limit === undefined ? out : out.slice(0, listing.limit))
      }),
    cancelRun: (runId) =>
      Effect.flatMap(now, (millis) => {
        const run = find(runId)
        if (run === undefined) return Effect.fail(notFound(runId))
        if (isFinal(run.state) || run.state.type === "CANCELLING") return Effect.succeed(run.state)
        const timestamp = new Date(millis)
        const next = run.workerId === undefined
          ? cancelled({ timestamp, message: "Cancelled before a task worker started it." })
          : cancelling({ timestamp })
        move(run, next, undefined)
        return Effect.succeed(next)
      }),
    claimRuns: ({ lease, limit, names, workerId }) =>
      Effect.map(now, (millis) => {
        const wanted = new Set(names)
        const claimed: Array<RunStore_.ClaimedRun> = []
        const skipped: Array<string> = []
        let i = 0
        for (; i < scheduledQueue.length && claimed.length < limit; i++) {
          const run = find(scheduledQueue[i])
          if (run === undefined || run.state.type !== "SCHEDULED" || run.workerId !== undefined) continue
          if (!wanted.has(run.run!.name)) {
            skipped.push(scheduledQueue[i])
            continue
          }
          const timestamp = new Date(millis)
          move(run, pending({ timestamp }), undefined)
          move(run, running({ timestamp, name: run.runCount === 0 ? "Running" : "Retrying" }), run.runCount + 1)
          run.workerId = workerId
          run.leaseExpiresAt = millis + lease
          const record = run.toRecord()
          claimed.push({
            id: record.id,
            kind: record.kind,
            name: record.name,
            flowRunId: record.flowRunId,
            parentTaskRunId: record.parentTaskRunId,
            parameters: Either.right(record.parameters),
            runCount: record.runCount,
            retries: record.retries,
            state: record.state
          })
        }
        scheduledQueue = skipped.concat(scheduledQueue.slice(i))
        return claimed
      }),
    heartbeat: (workerId, runIds, lease) =>
      Effect.map(now, (millis) => {
        const cancelling: Array<string> = []
        const lost: Array<string> = []
        for (const runId of runIds) {
          const run = find(runId)
          if (run === undefined || run.workerId !== workerId) {
            // A run that just finished is not held any more, but it is not lost either.
            if (run === undefined || !isFinal(run.state)) lost.push(runId)
            continue
          }
          run.leaseExpiresAt = millis + lease
          if (run.state.type === "CANCELLING") cancelling.push(runId)
        }
        return { cancelling, lost }
      }),
    releaseRuns: (workerId, runIds, message) =>
      Effect.map(now, (millis) => {
        for (const runId of runIds) {
          const run = find(runId)
          if (run === undefined || run.workerId !== workerId || isFinal(run.state)) continue
          move(run, releasedState(run.state, workerId, new Date(millis), message), undefined, true)
        }
      }),
    recoverExpired: () =>
      Effect.map(now, (millis) => {
        const recovered: Array<string> = []
        for (const run of runs().values()) {
          if (run.workerId === undefined || run.leaseExpiresAt === undefined || run.leaseExpiresAt > millis) continue
          if (isFinal(run.state)) continue
          const workerId = run.workerId
          move(
            run,
            recoveredState(run.state, run.runCount, run.run!.retries ?? 0, workerId, new Date(millis)),
            undefined,
            true
          )
          recovered.push(run.run!.id)
        }
        return recovered
      }),
    unsafeSubscribeScheduled: subscribeTo(scheduledListeners),
    unsafeSubscribeCancelling: subscribeTo(cancellingListeners),
    unsafeSubscribe: (runId, onChange) => {
      let run = runs().get(runId)
      if (run === undefined) {
        // Listening to a run that does not exist yet: keep a placeholder until it is created.
        run = new MemoryRun(undefined, undefined as unknown as AnyState)
        byId.set(runId, run)
        placeholders++
      }
      const listeners = run.listeners ?? (run.listeners = new Set())
      listeners.add(onChange)
      if (run.run !== undefined) {
        // The current state is delivered too (after this returns, so the caller holds its unsubscribe).
        const current = run
        queueMicrotask(() => {
          if (listeners.has(onChange)) onChange(current.state)
        })
      }
      return () => {
        listeners.delete(onChange)
      }
    }
  }
}

/** @internal */
export const memoryLayerWith = (options: RunStore_.MemoryOptions): Layer.Layer<RunStore> =>
  Layer.sync(RunStore, () => makeMemory(options))

/** @internal */
export const memoryLayer: Layer.Layer<RunStore> = memoryLayerWith({})
