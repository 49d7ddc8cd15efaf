import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as RunStore_ from "../../RunStore.js"
import type { MaybeClaimThen } from "../store/runStore.js"
import { ClaimThenKey } from "../store/runStore.js"
import { type HeldRuns, monotonicMillis } from "./heldRuns.js"
import type { StartRun } from "./startRun.js"

/** What wakes the claim loop, and whether a claim is worth sending. */
export class ClaimSignal {
  /**
   * Whether a claim may find runs the last one did not: that one came back full, or runs became
   * Scheduled since it was sent (a push, a recovery, the polling fallback). A slot that frees does
   * not make it so: after a short claim, claiming again as each run ends finds nothing.
   */
  mayHaveMore = true
  private readonly wake: Queue.Queue<void>
  private readonly served: ReadonlySet<string>

  constructor(wake: Queue.Queue<void>, served: Iterable<string>) {
    this.wake = wake
    this.served = new Set(served)
  }

  /** Wakes the claim loop (a slot freed, or runs may be claimable). */
  readonly signal = (): void => {
    Queue.unsafeOffer(this.wake, undefined)
  }

  /** Runs may be claimable: of `name` (a push for a name this worker does not serve wakes nothing), or of any name. */
  readonly scheduled = (name?: string): void => {
    if (name !== undefined && !this.served.has(name)) return
    this.mayHaveMore = true
    this.signal()
  }

  /** Waits for the next wake-up. */
  get woken(): Effect.Effect<void> {
    return Queue.take(this.wake)
  }
}

/** A claim signal for a worker serving `names`, with a wake-up queue that holds one pending wake. */
export const makeClaimSignal = (names: Iterable<string>) =>
  Effect.map(Queue.sliding<void>(1), (wake) => new ClaimSignal(wake, names))

/** What the claim loop needs of the worker. */
export interface ClaimLoopOptions {
  readonly store: RunStore_.Service
  readonly held: HeldRuns
  readonly signal: ClaimSignal
  readonly startRun: StartRun
  readonly workerId: string
  readonly names: ReadonlyArray<string>
  readonly concurrency: number
  readonly lease: number
  readonly maxPoll: number
  /** A claim answered later than this after it was sent renews its runs' leases before starting them. */
  readonly heartbeatEvery: number
}

/**
 * A claim answered late (a store that kept it through an outage): its runs' leases may be nearly
 * over, so they are renewed before anything starts, and only those still this worker's start.
 * (A store offering `ClaimThenKey` tells when the try that claimed them was sent: no renewal needed.)
 */
const renewLate = (
  store: RunStore_.Service,
  options: Parameters<RunStore_.Service["claimRuns"]>[0],
  runs: ReadonlyArray<RunStore_.ClaimedRun>
) =>
  Effect.gen(function*() {
    const renewSentAt = yield* monotonicMillis
    const answer = yield* store.heartbeat(options.workerId, runs.map((run) => run.id), options.lease)
    const lost = new Set(answer.lost)
    return { kept: runs.filter((run) => !lost.has(run.id)), renewSentAt }
  })

/**
 * Claims runs and starts them in one uninterruptible step: a worker stopped while its claim is on
 * its way holds the claim's runs (it gives them back) rather than leaving them, claimed in the
 * store and unknown to it, until their leases end. Only that step: with a store that offers it
 * (`ClaimThenKey`, the SQL stores), its waits to try again while the store is out of reach (up to
 * `reconnectFor`) are interruptible, so a worker stopped then stops at once.
 */
const claimAndStart = (
  store: RunStore_.Service & MaybeClaimThen,
  options: Parameters<RunStore_.Service["claimRuns"]>[0],
  claimSentAt: number,
  lateAfter: number,
  start: (runs: ReadonlyArray<RunStore_.ClaimedRun>, sentAt: number) => void,
  giveBackUnstarted: (runIds: ReadonlyArray<string>) => void
) => {
  const offered = store[ClaimThenKey]
  // (Not a wrapper's: one that replaced `claimRuns` is claimed from through it.)
  return offered !== undefined && offered.claimRuns === store.claimRuns
    ? offered.claimThen(options, start)
    : Effect.uninterruptible(Effect.gen(function*() {
      const runs = yield* store.claimRuns(options)
      if (runs.length === 0 || (yield* monotonicMillis) - claimSentAt <= lateAfter) {
        start(runs, claimSentAt)
        return runs
      }
      // Not renewed: they are held, unstarted, and given back at the next heartbeat.
      const { kept, renewSentAt } = yield* renewLate(store, options, runs).pipe(
        Effect.tapError(() => Effect.sync(() => giveBackUnstarted(runs.map((run) => run.id))))
      )
      start(kept, renewSentAt)
      return kept
    }))
}

/** Claims runs for free slots and starts them, for as long as the worker serves. */
export const claimLoop = (options: ClaimLoopOptions): Effect.Effect<never> =>
  Effect.gen(function*() {
    const { concurrency, held, lease, names, signal, startRun, store, workerId } = options
    // The polling fallback's wait: 10 ms after runs were claimed, doubling up to `maxPoll`. Not a Schedule:
    // a driver sleeps itself, adding its own steps to each idle wait, which a round trip pays per run.
    let idle = 10
    while (true) {
      // A slot frees when its run's final state is queued: the claim for it then rides in the same
      // write as that state (the store's writer lets this fiber queue it first).
      const free = held.freeSlots(concurrency)
      if (free > 0 && signal.mayHaveMore) {
        // Cleared before the claim is sent: a push that arrives while it is on its way sets it again.
        signal.mayHaveMore = false
        const claimSentAt = yield* monotonicMillis
        const claimed = yield* claimAndStart(
          store,
          { workerId, names, limit: free, lease, knows: held.knows },
          claimSentAt,
          options.heartbeatEvery,
          (runs, sentAt) => runs.forEach((run) => startRun(run, sentAt)),
          (runIds) => held.giveBackUnstarted(runIds)
        ).pipe(
          Effect.catchAll((error) => {
            signal.mayHaveMore = true
            return Effect.as(
              Effect.logWarning(`Task worker ${workerId}: claiming runs failed, trying again`, error),
              []
            )
          })
        )
        if (claimed.length > 0) {
          idle = 10
          if (claimed.length === free) {
            signal.mayHaveMore = true
            continue
          }
        }
      }
      if (held.freeSlots(concurrency) <= 0) {
        // No room: only a signal frees a slot. A plain take resumes this fiber in one step, before
        // the store's writer takes the finished runs' states, so the next claim rides with them.
        yield* signal.woken
        continue
      }
      // Nothing to claim: wait for a push, a finished run, or the polling fallback.
      const woken = yield* signal.woken.pipe(Effect.timeoutOption(Duration.millis(idle)))
      if (Option.isNone(woken)) signal.mayHaveMore = true
      idle = Math.min(options.maxPoll, idle * 2)
    }
  })
