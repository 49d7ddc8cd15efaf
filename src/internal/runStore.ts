import { Context, Effect, Layer } from "effect"
import * as Errors from "../Errors.js"
import type * as RunStore_ from "../RunStore.js"
import type * as State from "../State.js"
import { isFinal } from "./state.js"

type AnyState = State.State<unknown, unknown>

/** @internal */
export class RunStore extends Context.Tag("effect-taskflow/RunStore")<RunStore, RunStore_.Service>() {}

interface MemoryRun {
  record: RunStore_.RunRecord
  readonly history: Array<AnyState>
  listeners: Set<(state: AnyState) => void> | undefined
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
export const makeMemory = (): RunStore_.Service => {
  const runs = new Map<string, MemoryRun>()
  return {
    kind: "memory",
    createRun: (run) =>
      Effect.sync(() => {
        const record: RunStore_.RunRecord = {
          id: run.id,
          kind: run.kind,
          name: run.name,
          flowRunId: run.flowRunId,
          parentTaskRunId: run.parentTaskRunId,
          parameters: run.parameters ?? [],
          tags: run.tags ?? [],
          runCount: 0,
          state: run.state,
          createdAt: run.state.timestamp
        }
        const existing = runs.get(run.id)
        runs.set(run.id, { record, history: [run.state], listeners: existing?.listeners })
        existing?.listeners?.forEach((listener) => listener(run.state))
      }),
    setState: (runId, state, options) =>
      Effect.suspend((): Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition> => {
        const run = runs.get(runId)
        if (run === undefined || run.history.length === 0) return Effect.fail(notFound(runId))
        const refused = checkTransition(runId, run.record.state, state)
        if (refused !== undefined) return Effect.fail(refused)
        run.history.push(state)
        run.record = { ...run.record, state, runCount: options?.runCount ?? run.record.runCount }
        run.listeners?.forEach((listener) => listener(state))
        return Effect.void
      }),
    getRun: (runId) =>
      Effect.suspend(() => {
        const run = runs.get(runId)
        return run === undefined || run.history.length === 0 ? Effect.fail(notFound(runId)) : Effect.succeed(run.record)
      }),
    getHistory: (runId) =>
      Effect.suspend(() => {
        const run = runs.get(runId)
        return run === undefined || run.history.length === 0
          ? Effect.fail(notFound(runId))
          : Effect.succeed(run.history.slice())
      }),
    listRuns: (filter) =>
      Effect.sync(() => {
        const out: Array<RunStore_.RunRecord> = []
        for (const { record } of runs.values()) {
          if (record === undefined) continue // a placeholder kept for a subscriber
          if (filter?.kind !== undefined && record.kind !== filter.kind) continue
          if (filter?.flowRunId !== undefined && record.flowRunId !== filter.flowRunId) continue
          if (filter?.name !== undefined && record.name !== filter.name) continue
          out.push(record)
        }
        return out
      }),
    unsafeSubscribe: (runId, onChange) => {
      let run = runs.get(runId)
      if (run === undefined) {
        // Listening to a run that does not exist yet: keep a placeholder until it is created.
        run = { record: undefined as unknown as RunStore_.RunRecord, history: [], listeners: undefined }
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
