import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as RunStore_ from "../../RunStore.js"
import * as state_ from "../core/state.js"
import type { MaybeSyncWrites } from "../store/runStore.js"
import { SyncWritesKey } from "../store/runStore.js"

export { monotonicMillis } from "../core/duration.js"

/**
 * The runs a task worker holds, from their claim until their fiber is over (for an interrupted task
 * run, until its Cancelled state is written): what the claims, the heartbeats and shutdown share.
 */
export class HeldRuns {
  /** The fibers of the held runs; FiberMap drops each as it ends and interrupts the rest when the worker stops. */
  private readonly running: FiberMap.FiberMap<string>
  /**
   * The task name of each held run: the runs this worker holds. An interrupted task run leaves
   * `running` when its fiber ends, but is held until its Cancelled state is written.
   */
  private readonly names = new Map<string, string>()
  /**
   * Held runs whose body is over and whose final state is being written: their slots count as free,
   * so the next claim can ride in the same write as those final states.
   */
  private readonly finishing = new Set<string>()
  /**
   * The attempt (run count) each held run is on, as this worker last wrote it: its writes are fenced
   * on it, so a late write of a run taken over and claimed again (here too) cannot land.
   */
  private readonly attempts = new Map<string, number>()
  /** Runs given back (lease lost, or released at shutdown): their late writes are dropped. */
  private readonly released = new Set<string>()
  /**
   * When each held run's lease was last known renewed: when the claim or the heartbeat that renewed
   * it was sent (monotonic ms). The store's lease runs from a moment after that.
   */
  private readonly renewedAt = new Map<string, number>()
  /** Runs stopped because their lease could not be renewed: given back once the store answers again. */
  private readonly stoppedUnrenewed = new Set<string>()
  /**
   * Claims of runs whose earlier claim by this worker is not over yet (it lost the run, which was
   * recovered and claimed here again, before its old fiber ended): each starts once that one ends,
   * so the old claim's end cannot clear the new one's bookkeeping.
   */
  private readonly startsAfterEnd = new Map<string, (renewedAt: number | undefined) => void>()
  /** Called when a slot frees: a run's final state is queued, or its fiber is over. */
  private readonly slotFreed: () => void
  /**
   * The store as the held runs see it: a held run's own writes carry the worker's id, so a lost
   * lease refuses them. One object for all runs (a run's flow may write other runs: those go as they are).
   */
  readonly store: RunStore_.Service & MaybeSyncWrites

  constructor(
    running: FiberMap.FiberMap<string>,
    store: RunStore_.Service,
    workerId: string,
    slotFreed: () => void,
    /** How long to wait between tries of a final state the store could not take. */
    retryFinalEvery = 1_000
  ) {
    this.running = running
    this.slotFreed = slotFreed
    // Built on `store` as its prototype: every other call is the store's own, whatever its shape (a
    // user's store may be a class instance). The memory store's synchronous writes would go around the guard.
    const guarded: Pick<RunStore_.Service, "setState"> & MaybeSyncWrites = {
      [SyncWritesKey]: undefined,
      setState: (id, state, setOptions) => {
        const name = this.names.get(id)
        if (name === undefined) return store.setState(id, state, setOptions)
        if (this.released.has(id)) return Effect.void
        const attempt = this.attempts.get(id)
        const options = { ...setOptions, workerId, name, ...(attempt === undefined ? {} : { attempt }) }
        const runCount = setOptions?.runCount
        if (runCount !== undefined) {
          // A new attempt is fenced on once it is written. Refused (a cancel overtook it, or the
          // answer to a try that landed was lost), the attempt is unknown: only the holder is fenced on.
          return store.setState(id, state, options).pipe(
            Effect.tap(() => this.attempts.set(id, runCount)),
            Effect.tapError(() => Effect.sync(() => this.attempts.delete(id)))
          )
        }
        if (!state_.isFinal(state)) return store.setState(id, state, options)
        if (!this.finishing.has(id)) {
          this.finishing.add(id)
          this.slotFreed()
        }
        // Suspended: each try calls the store again (a store may build its answer when called).
        return this.keepOutcome(id, workerId, Effect.suspend(() => store.setState(id, state, options)), retryFinalEvery)
      }
    }
    this.store = Object.assign(Object.create(store) as RunStore_.Service, guarded)
  }

  /**
   * A finished run's outcome is kept until the store takes it, however long the store is out of
   * reach (not only `reconnectFor`) while the worker runs: the body is not run again for want of a
   * write (a worker stopped first gives the run back, and it runs again). It stops when the
   * run is no longer this worker's (lost to another, or at shutdown), or on any other failure (a full
   * disk would fail every try); the store's fence on holder and attempt refuses it if the run was
   * taken over meanwhile.
   */
  private keepOutcome(
    runId: string,
    workerId: string,
    write: ReturnType<RunStore_.Service["setState"]>,
    every: number
  ): ReturnType<RunStore_.Service["setState"]> {
    return write.pipe(
      Effect.tapErrorTag(
        "RunStoreError",
        (error) =>
          this.released.has(runId) || error.unreachable !== true ? Effect.void : Effect.logWarning(
            `Task worker ${workerId} keeps the outcome of run ${runId} and tries again: the store did not take it`,
            error
          )
      ),
      Effect.retry({
        while: (error) => error._tag === "RunStoreError" && error.unreachable === true && !this.released.has(runId),
        schedule: Schedule.spaced(every)
      }),
      Effect.catchTag("RunStoreError", (error) => this.released.has(runId) ? Effect.void : Effect.fail(error))
    )
  }

  /** How many more runs this worker may claim: a finishing run's slot already counts as free. */
  freeSlots(concurrency: number): number {
    return concurrency - this.names.size + this.finishing.size
  }

  /** How many runs this worker holds. */
  get size(): number {
    return this.names.size
  }

  /** The ids of the held runs. */
  ids(): Array<string> {
    return Array.from(this.names.keys())
  }

  /** The fibers of the held runs still going. */
  fibers(): Array<Fiber.RuntimeFiber<unknown, unknown>> {
    return Array.from(this.running, ([, fiber]) => fiber)
  }

  /**
   * Whether this worker knows of a run the store says it holds: one it holds, or one it stopped and
   * has yet to give back. Any other is a claim whose answer was lost (see `claimRuns`).
   */
  readonly knows = (runId: string): boolean => this.names.has(runId) || this.stoppedUnrenewed.has(runId)

  /** Interrupts a held run's fiber in the background (its observer then records and frees it). */
  readonly interrupt = (runId: string): void => {
    const fiber = FiberMap.unsafeGet(this.running, runId)
    if (Option.isSome(fiber)) fiber.value.unsafeInterruptAsFork(fiber.value.id())
  }

  /** A claimed run is held from now; its lease was renewed when the claim was sent. Call before its fiber starts. */
  claimed(runId: string, name: string, claimSentAt: number, runCount: number): void {
    this.names.set(runId, name)
    this.attempts.set(runId, runCount)
    this.renewedAt.set(runId, claimSentAt)
  }

  /** The fiber of a held run: interrupted if the worker stops first. */
  track(runId: string, fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    FiberMap.unsafeSet(this.running, runId, fiber)
  }

  /**
   * Starts a run claimed again while its earlier claim here is not over (see `startsAfterEnd`): at
   * once if there is none, else once that claim has ended. A deferred start is told when the run's
   * lease was last renewed while it waited (the heartbeats renew the run, held by this worker again,
   * under its id): its lease deadline runs from then, not from the claim.
   */
  startAfterEarlierClaim(runId: string, start: (renewedAt: number | undefined) => void): void {
    if (this.names.has(runId)) this.startsAfterEnd.set(runId, start)
    else start(undefined)
  }

  /** A held run's fiber is over (and its final state recorded): its slot is free. */
  ended(runId: string): void {
    const renewedAt = this.renewedAt.get(runId)
    this.renewedAt.delete(runId)
    this.names.delete(runId)
    this.attempts.delete(runId)
    this.finishing.delete(runId)
    this.released.delete(runId)
    const next = this.startsAfterEnd.get(runId)
    if (next !== undefined) {
      this.startsAfterEnd.delete(runId)
      next(renewedAt)
    }
    this.slotFreed()
  }

  /** A heartbeat sent at `sentAt` renewed the leases of `runIds` but those in `lost`. */
  renewed(runIds: ReadonlyArray<string>, lost: ReadonlyArray<string>, sentAt: number): void {
    const lostSet = new Set(lost)
    for (const runId of runIds) {
      if (!lostSet.has(runId) && this.renewedAt.has(runId)) this.renewedAt.set(runId, sentAt)
    }
  }

  /** The store gave a held run to another worker (its lease expired): stop it and drop its late writes. */
  lost(runId: string): void {
    this.released.add(runId)
    this.interrupt(runId)
  }

  /**
   * The held runs, not yet given back, whose leases have gone unrenewed for `millis` at `now`. Not
   * the finishing ones: their bodies are over, nothing runs to be stopped, and they keep their outcomes.
   */
  unrenewedFor(millis: number, now: number): Array<string> {
    const unrenewed: Array<string> = []
    for (const [runId, at] of this.renewedAt) {
      if (now - at >= millis && !this.released.has(runId) && !this.finishing.has(runId)) unrenewed.push(runId)
    }
    return unrenewed
  }

  /** Stops a run whose lease could not be renewed and drops its late writes; it is given back later. */
  stopUnrenewed(runId: string): void {
    this.released.add(runId)
    this.stoppedUnrenewed.add(runId)
    this.interrupt(runId)
  }

  /** The runs stopped for want of a renewal that are still to be given back. */
  stoppedToGiveBack(): Array<string> {
    return Array.from(this.stoppedUnrenewed)
  }

  /** Those runs were given back: nothing of them is held any more. */
  gaveBack(runIds: ReadonlyArray<string>): void {
    for (const runId of runIds) this.stoppedUnrenewed.delete(runId)
  }

  /**
   * At shutdown: every held run is to be given back, so their late writes are dropped and the
   * claims waiting for an earlier one to end never start. Returns their ids.
   */
  releaseAll(): Array<string> {
    this.startsAfterEnd.clear()
    const runIds = this.ids()
    // A finishing run too (its outcome was not taken all through the grace period): given back, it
    // runs again, which is better than its lease lapsing into Crashed. Delivery is at-least-once.
    for (const runId of runIds) this.released.add(runId)
    return runIds
  }

  /**
   * Runs claimed and not started (a late claim whose leases could not be renewed): held only to be
   * given back at the next heartbeat, as runs stopped unrenewed are.
   */
  giveBackUnstarted(runIds: ReadonlyArray<string>): void {
    for (const runId of runIds) this.stoppedUnrenewed.add(runId)
  }
}
