import { Context, Effect, Layer } from "effect"
import * as Errors from "../Errors.js"
import type * as RunStore_ from "../RunStore.js"
import type * as State from "../State.js"
import { isFinal } from "./state.js"

type AnyState = State.State<unknown, unknown>

/** @internal */
export class RunStore extends Context.Tag("effect-taskflow/RunStore")<RunStore, RunStore_.Service>() {}

/**
 * A store that can also write without an Effect, synchronously (the memory store). The engine
 * uses it on the hot path: one run's three state writes then cost no fiber steps.
 * @internal
 */
export interface SyncWrites {
  readonly unsafeCreateRun: (run: RunStore_.NewRun) => void
  /** Returns the refusal, or undefined when the state was written. */
  readonly unsafeSetState: (
    runId: string,
    state: AnyState,
    runCount: number | undefined
  ) => Errors.RunNotFound | Errors.InvalidTransition | undefined
}

/** @internal */
export const syncWrites = (store: RunStore_.Service): SyncWrites | undefined =>
  "unsafeSetState" in store ? store as RunStore_.Service & SyncWrites : undefined

/** One run in memory. Mutable; records are built when read. A placeholder (no history) waits for a subscriber. */
class MemoryRun {
  state: AnyState
  runCount = 0
  /** The states before the current one, oldest first; allocated on the second state. */
  earlier: Array<AnyState> | undefined = undefined
  listeners: Set<(state: AnyState) => void> | undefined = undefined
  constructor(readonly run: RunStore_.NewRun | undefined, initial: AnyState) {
    this.state = initial
  }
  toRecord(): RunStore_.RunRecord {
    const run = this.run!
    const first = this.earlier === undefined ? this.state : this.earlier[0]
    return {
      id: run.id,
      kind: run.kind,
      name: run.name,
      flowRunId: run.flowRunId,
      parentTaskRunId: run.parentTaskRunId,
      parameters: run.parameters ?? [],
      tags: run.tags ?? [],
      runCount: this.runCount,
      state: this.state,
      createdAt: first.timestamp
    }
  }
  history(): Array<AnyState> {
    return this.earlier === undefined ? [this.state] : [...this.earlier, this.state]
  }
}

const notFound = (runId: string) =>
  new Errors.RunNotFound({ runId, message: `Run ${runId} was not found in the run store.` })

/**
 * The orchestration rules every store enforces. Returns the refusal, or undefined when allowed.
 * @internal
 */
export const checkTransition = (runId: string, from: AnyState, to: AnyState): Errors.InvalidTransition | undefined => {
  if (isFinal(from)) {
    return new Errors.InvalidTransition({
      runId,
      message: `Run ${runId} is already ${from.type} (final); it cannot move to ${to.type}.`
    })
  }
  if (from.type === "CANCELLING" && !isFinal(to)) {
    return new Errors.InvalidTransition({
      runId,
      message: `Run ${runId} is CANCELLING; it can only move to a final state, not ${to.type}.`
    })
  }
  return undefined
}

/** @internal */
export const makeMemory = (): RunStore_.Service & SyncWrites => {
  const runs = new Map<string, MemoryRun>()
  const find = (runId: string) => {
    const run = runs.get(runId)
    return run === undefined || run.run === undefined ? undefined : run
  }
  const unsafeCreateRun = (newRun: RunStore_.NewRun) => {
    const run = new MemoryRun(newRun, newRun.state)
    const placeholder = runs.get(newRun.id)
    runs.set(newRun.id, run)
    if (placeholder?.listeners !== undefined) {
      run.listeners = placeholder.listeners
      run.listeners.forEach((listener) => listener(newRun.state))
    }
  }
  const unsafeSetState = (runId: string, state: AnyState, runCount: number | undefined) => {
    const run = find(runId)
    if (run === undefined) return notFound(runId)
    const refused = checkTransition(runId, run.state, state)
    if (refused !== undefined) return refused
    // Exact-size arrays: histories are short, and push would over-allocate for each of many runs.
    run.earlier = run.earlier === undefined ? [run.state] : run.earlier.concat(run.state)
    run.state = state
    if (runCount !== undefined) run.runCount = runCount
    run.listeners?.forEach((listener) => listener(state))
    return undefined
  }
  return {
    kind: "memory",
    unsafeCreateRun,
    unsafeSetState,
    createRun: (run) => Effect.sync(() => unsafeCreateRun(run)),
    setState: (runId, state, options) =>
      Effect.suspend(() => {
        const refused = unsafeSetState(runId, state, options?.runCount)
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
      Effect.sync(() => {
        const out: Array<RunStore_.RunRecord> = []
        for (const memoryRun of runs.values()) {
          const run = memoryRun.run
          if (run === undefined) continue // a placeholder kept for a subscriber
          if (filter?.kind !== undefined && run.kind !== filter.kind) continue
          if (filter?.flowRunId !== undefined && run.flowRunId !== filter.flowRunId) continue
          if (filter?.name !== undefined && run.name !== filter.name) continue
          out.push(memoryRun.toRecord())
        }
        return out
      }),
    unsafeSubscribe: (runId, onChange) => {
      let run = runs.get(runId)
      if (run === undefined) {
        // Listening to a run that does not exist yet: keep a placeholder until it is created.
        run = new MemoryRun(undefined, undefined as unknown as AnyState)
        runs.set(runId, run)
      }
      const listeners = run.listeners ?? (run.listeners = new Set())
      listeners.add(onChange)
      return () => {
        listeners.delete(onChange)
      }
    }
  }
}

/** @internal */
export const memoryLayer: Layer.Layer<RunStore> = Layer.sync(RunStore, makeMemory)
