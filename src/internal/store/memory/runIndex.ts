import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type { AnyState } from "../../core/state.js"
import { isFinal } from "../../core/state.js"
import { checkTransition, notAttempt, notFound, notHeld } from "../rules.js"
import type { SyncRunHandle } from "../runStore.js"
import { exactState } from "./exact.js"
import { MemoryRun } from "./memoryRun.js"

/**
 * The memory store's runs: indexed by id (lazily), kept or forgotten once finished, and moved from
 * state to state with their listeners told. The store's service is a thin Effect layer over this.
 * @internal
 */
export class RunIndex {
  private readonly byId = new Map<string, MemoryRun>()
  /**
   * Runs created and not yet in `byId`, in creation order. Most runs are never looked up by id (an
   * in-process future holds its run's handle), so the Map insertion, the costliest step of a
   * creation, waits for the first look-up by id, which indexes them all.
   */
  private unindexed: Array<MemoryRun> = []
  /** Forgotten runs still in `unindexed`: dropped from it once they are half of it. */
  private unindexedForgotten = 0
  /** Finished runs, oldest first from `finishedHead`, while the store keeps only `keepFinished` of them. */
  private finished: Array<MemoryRun> = []
  private finishedHead = 0
  /** Runs in `finished` after `finishedHead` that were pruned (forgotten already). */
  private finishedPruned = 0
  /** Placeholders made for subscribers to runs not created yet: none, and creation skips a look-up. */
  private placeholders = 0
  /** Run ids in the order they became Scheduled; claims skip those no longer Scheduled. */
  scheduledQueue: Array<string> = []
  readonly scheduledListeners = new Set<(name?: string) => void>()
  readonly cancellingListeners = new Set<(runId: string) => void>()

  /** `exact`: keep what a SQL store would (`exact.ts`); else keep states as given (a runner's own store). */
  constructor(private readonly keepFinished: number, private readonly exact = false) {}

  /** The runs by id, with every run created so far (and placeholders). */
  all(): Map<string, MemoryRun> {
    if (this.unindexed.length > 0) {
      for (const run of this.unindexed) if (!run.forgotten) this.byId.set(run.run!.id, run)
      this.unindexed = []
      this.unindexedForgotten = 0
    }
    return this.byId
  }

  /** A run that exists (not a placeholder), by id. */
  find(runId: string): MemoryRun | undefined {
    const run = this.all().get(runId)
    return run === undefined || run.run === undefined ? undefined : run
  }

  create(newRun: RunStore_.NewRun): SyncRunHandle {
    const run = new MemoryRun(newRun, newRun.state)
    if (this.placeholders === 0) {
      this.unindexed.push(run)
    } else {
      // A subscriber may wait for this id: the run takes its placeholder's place.
      const placeholder = this.all().get(newRun.id)
      this.byId.set(newRun.id, run)
      if (placeholder !== undefined && placeholder.run === undefined) {
        this.placeholders--
        if (placeholder.listeners !== undefined) {
          run.listeners = placeholder.listeners
          run.listeners.forEach((listener) => listener(newRun.state))
        }
      }
    }
    if (newRun.state.type === "SCHEDULED") this.onScheduled(newRun.id, newRun.name)
    else if (isFinal(newRun.state)) this.onFinished(run)
    return run as unknown as SyncRunHandle
  }

  /** Writes a state through a run's handle. Returns the refusal, or undefined when written. */
  setStateOf(handle: SyncRunHandle, state: AnyState, runCount: number | undefined) {
    const run = handle as unknown as MemoryRun
    const refused = checkTransition(run.run!.id, run.state, state)
    if (refused !== undefined) return refused
    this.move(run, this.exact ? exactState(run.run!.name, run.run!.id, state) : state, runCount)
    return undefined
  }

  /** Writes a state by id, for `workerId` when given. Returns the refusal, or undefined when written. */
  setState(
    runId: string,
    state: AnyState,
    runCount: number | undefined,
    workerId?: string,
    attempt?: number
  ): Errors.RunNotFound | Errors.InvalidTransition | undefined {
    const run = this.find(runId)
    if (run === undefined) return notFound(runId)
    if (workerId !== undefined && run.workerId !== workerId) return notHeld(runId, workerId)
    if (attempt !== undefined && run.runCount !== attempt) return notAttempt(runId, attempt, run.runCount)
    const refused = checkTransition(runId, run.state, state)
    if (refused !== undefined) return refused
    this.move(run, this.exact ? exactState(run.run!.name, runId, state) : state, runCount)
    return undefined
  }

  /** Makes `state` the run's current state. `release`: the run is given back (a final state always ends the hold). */
  move(run: MemoryRun, state: AnyState, runCount: number | undefined, release = false): void {
    run.push(state)
    if (runCount !== undefined) run.runCount = runCount
    if (isFinal(state) || release) {
      run.workerId = undefined
      run.leaseExpiresAt = undefined
    }
    run.listeners?.forEach((listener) => listener(state))
    if (state.type === "SCHEDULED" && run.workerId === undefined) this.onScheduled(run.run!.id, run.run!.name)
    else if (state.type === "CANCELLING") this.cancellingListeners.forEach((listener) => listener(run.run!.id))
    else if (isFinal(state) && !run.forgotten) this.onFinished(run)
  }

  /** The listeners of a run, made for it (with a placeholder while it does not exist yet). */
  listenersOf(runId: string): { readonly run: MemoryRun; readonly listeners: Set<(state: AnyState) => void> } {
    let run = this.all().get(runId)
    if (run === undefined) {
      run = MemoryRun.placeholder()
      this.byId.set(runId, run)
      this.placeholders++
    }
    return { run, listeners: run.listeners ??= new Set() }
  }

  private onScheduled(runId: string, name: string): void {
    this.scheduledQueue.push(runId)
    this.scheduledListeners.forEach((listener) => listener(name))
  }

  private onFinished(run: MemoryRun): void {
    if (this.keepFinished === Number.POSITIVE_INFINITY) return
    this.finished.push(run)
    while (this.finished.length - this.finishedHead - this.finishedPruned > this.keepFinished) {
      const oldest = this.finished[this.finishedHead++]
      if (oldest.forgotten) this.finishedPruned--
      else this.forget(oldest)
    }
    if (this.finishedHead > 64 && this.finishedHead * 2 > this.finished.length) {
      this.finished = this.finished.slice(this.finishedHead)
      this.finishedHead = 0
    }
  }

  /** Deletes a finished run (`prune`): its id then reads as unknown. */
  remove(run: MemoryRun): void {
    if (run.forgotten) return
    this.forget(run)
    if (this.keepFinished === Number.POSITIVE_INFINITY) return
    // Dropped from `finished` once they are half of it, as forgotten runs are from `unindexed`.
    if (++this.finishedPruned > 64 && this.finishedPruned * 2 > this.finished.length - this.finishedHead) {
      this.finished = this.finished.slice(this.finishedHead).filter((kept) => !kept.forgotten)
      this.finishedHead = 0
      this.finishedPruned = 0
    }
  }

  private forget(run: MemoryRun): void {
    run.forgotten = true
    run.listeners = undefined
    const id = run.run!.id
    if (this.byId.get(id) === run) {
      this.byId.delete(id)
    } else if (++this.unindexedForgotten * 2 > this.unindexed.length && this.unindexed.length > 64) {
      this.unindexed = this.unindexed.filter((kept) => !kept.forgotten)
      this.unindexedForgotten = 0
    }
  }
}
