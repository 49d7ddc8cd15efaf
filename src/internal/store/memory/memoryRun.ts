import * as Either from "effect/Either"
import type * as RunStore_ from "../../../RunStore.js"
import type { AnyState } from "../../core/state.js"
import { pending } from "../../core/state.js"

const placeholderState = pending({ timestamp: new Date(0) })

/**
 * One run in memory. Mutable; records are built when read. A placeholder (no history) waits for a
 * subscriber to a run not created yet.
 * @internal
 */
export class MemoryRun {
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
  /** Forgotten by a store that keeps only its newest finished runs, or pruned. */
  forgotten = false
  /** The run this one reruns (`rerun`). */
  rerunOf: string | undefined = undefined
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
      leaseExpiresAt: this.leaseExpiresAt === undefined ? undefined : new Date(this.leaseExpiresAt),
      rerunOf: this.rerunOf
    }
  }
  /** When the run was created, in milliseconds (its first state's time). */
  createdAt(): number {
    return (this.first ?? this.state).timestamp.getTime()
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

  /** A run not created yet, held for its subscribers: its state is never read. */
  static placeholder(): MemoryRun {
    return new MemoryRun(undefined, placeholderState)
  }

  /** The run as a claim returns it; `scheduledAt` is the time of the Scheduled state the claim took. */
  toClaimed(scheduledAt: Date): RunStore_.ClaimedRun {
    const record = this.toRecord()
    return {
      id: record.id,
      kind: record.kind,
      name: record.name,
      flowRunId: record.flowRunId,
      parentTaskRunId: record.parentTaskRunId,
      parameters: Either.right(record.parameters),
      runCount: record.runCount,
      retries: record.retries,
      state: record.state,
      traceContext: this.run!.traceContext,
      scheduledAt
    }
  }
}
