/**
 * Leases of a SQL store's in-process runs: the runs this process runs itself (submitted, called
 * inline, flow runs) are held by the store's holder under a lease, which one renewal per interval
 * keeps for all of them, as a task worker's heartbeat does for its runs. A process that dies leaves
 * runs whose leases end, and any live process or worker recovers them (Crashed: see `recoveredState`).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { hostname } from "node:os"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import { decodeDuration, monotonicMillis } from "../../core/duration.js"
import { makeRunId } from "../../core/runId.js"
import type { AnyState } from "../../core/state.js"
import { RecoveryGate, recoveryGrace } from "../recoveryGate.js"
import type { InProcessLeases } from "../runStore.js"
import { PROCESS_HOLDER_PREFIX } from "../runStore.js"
import { isNotReady, overInProcess } from "./rows.js"

/** The default lease of an in-process run: a task worker's default (30 s). */
const DEFAULT_LEASE = 30_000
/** The shortest lease allowed: below it renewals (a third of it) would be a write load for nothing. */
const SHORTEST_LEASE = 1_000

/**
 * The lease of in-process runs in ms, and how often it is renewed: a third of it (every 10 s by
 * default), not every second as a task worker's heartbeat: a renewal rewrites every held row, queued
 * ones too, and cancels reach the runs by the store's notices, not by renewals. Recovery of others'
 * expired leases runs with each renewal (once the gate allows it): a dead process's runs end Crashed
 * within about its lease and a third of it. A lease under a second is refused.
 */
export const inProcessTiming = (option: Duration.DurationInput | undefined) => {
  const decoded = decodeDuration("inProcessLease", option)
  const lease = decoded === undefined ? DEFAULT_LEASE : Duration.toMillis(decoded)
  if (lease < SHORTEST_LEASE) {
    throw new Cause.IllegalArgumentException(
      `'inProcessLease' must be at least 1 second (renewed every third of it), got ${lease} ms`
    )
  }
  return { lease, renewEvery: lease / 3 }
}

/** What the leases need of their store. */
export interface InProcessParts {
  readonly lease: number
  readonly renewEvery: number
  /** Renews the held runs' leases: lost are those not renewed unless `settling` (see `makeRenewInProcess`). */
  readonly heartbeat: (
    holder: string,
    runIds: ReadonlyArray<string>,
    lease: number,
    settling: (runId: string) => boolean
  ) => Effect.Effect<RunStore_.Heartbeat, Errors.RunStoreError>
  readonly recoverExpired: RunStore_.Service["recoverExpired"]
  readonly subscribeCancelling: (listener: (runId: string) => void) => () => void
  /**
   * Ends Cancelled a held run asked to cancel that nothing here runs (created through the store by
   * hand, or not started yet): nothing else would ever finish it.
   */
  readonly cancelUnattached: (runId: string) => Effect.Effect<void, unknown>
}

/** A store's in-process leases, with what the store's writes ask of them. */
export interface InProcessHolds extends InProcessLeases {
  /** These runs were created here, held by `holder`: renew their leases from now on. */
  readonly track: (runIds: ReadonlyArray<string>) => void
  /**
   * The guard of a state change of run `runId` written without a worker's id: the holder, when this
   * process holds the run (a recovered run then refuses it), and whether the write releases the run
   * (NotReady). A change that ends the hold is marked in flight until `settled`: a renewal meanwhile
   * does not count the run lost.
   */
  readonly guard: (
    runId: string,
    state: AnyState
  ) => { readonly workerId: string; readonly release: boolean } | undefined
  /** Whether something here runs the held run (it registered with `onCancel`). */
  readonly attached: (runId: string) => boolean
  /** The change the guard was asked for is over (written, refused or failed): a final one ends the hold. */
  readonly settled: (runId: string, state: AnyState) => void
}

/** Whether a change ends the hold: the run is over here (final, or NotReady: it never starts). */
const endsHold = overInProcess

/** The store's holder and its renewal fiber, for as long as the scope is open. */
export const makeInProcessHolds = (parts: InProcessParts): Effect.Effect<InProcessHolds, never, Scope.Scope> =>
  Effect.gen(function*() {
    const holder = `${PROCESS_HOLDER_PREFIX}${hostname()}:${process.pid}:${makeRunId().slice(-12)}`
    /** The runs held, each with the function that stops it when it is asked to cancel (once registered). */
    const held = new Map<string, (() => void) | undefined>()
    const wake = yield* Queue.sliding<void>(1)
    let unsubscribe: (() => void) | undefined
    // Closed with the store's scope: an end still being written then is interrupted, not left behind.
    const runFork = yield* FiberSet.makeRuntime<never>()
    /**
     * Held runs with a change of ours that ends the hold being written (guarded, not settled): a
     * renewal that finds one not renewed does not count it lost.
     */
    const settling = new Set<string>()
    /** Held runs being ended Cancelled by the store itself (see `cancelUnattached`): asked once. */
    const ending = new Set<string>()
    /**
     * Stops a held run; one that nothing here runs is ended Cancelled if `orEnd` (it was asked to
     * cancel a renewal ago, and is not lost).
     */
    const stop = (runId: string, orEnd = true) => {
      if (!held.has(runId)) return
      const stopRun = held.get(runId)
      if (stopRun !== undefined) return stopRun()
      if (!orEnd || ending.has(runId)) return
      ending.add(runId)
      runFork(
        parts.cancelUnattached(runId).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning(`The run store could not end run ${runId}, asked to cancel, Cancelled`, cause)
          ),
          Effect.ensuring(Effect.sync(() => ending.delete(runId)))
        )
      )
    }
    /**
     * A held run taken from this holder (recovered, or ended by hand): stopped if something here runs
     * it (its writes are then refused: they carry the holder), else let go of, not renewed again.
     */
    const lose = (runId: string) => {
      const stopRun = held.get(runId)
      return stopRun !== undefined ? stopRun() : forget(runId)
    }
    /** No longer held: the last one's end stops the listening for cancels. */
    const forget = (runId: string) => {
      if (!held.delete(runId) || held.size > 0) return
      unsubscribe?.()
      unsubscribe = undefined
    }
    const holds: InProcessHolds = {
      holder,
      holds: (runId) => held.has(runId),
      attached: (runId) => held.get(runId) !== undefined,
      onCancel: (runId, stopRun) => {
        if (!held.has(runId)) return () => {}
        held.set(runId, stopRun)
        return () => {
          if (held.get(runId) === stopRun) held.set(runId, undefined)
        }
      },
      track: (runIds) => {
        if (runIds.length === 0) return
        const first = held.size === 0
        for (const runId of runIds) held.set(runId, undefined)
        if (!first) return
        // Only while runs are held: on SQLite a cancel listener makes the store look for cancels
        // after every change of the file.
        unsubscribe = parts.subscribeCancelling((runId) => stop(runId, false))
        Queue.unsafeOffer(wake, undefined)
      },
      guard: (runId, state) => {
        if (!held.has(runId)) return undefined
        if (endsHold(state)) settling.add(runId)
        return { workerId: holder, release: isNotReady(state) }
      },
      settled: (runId, state) => {
        settling.delete(runId)
        if (endsHold(state)) forget(runId)
      }
    }
    yield* Effect.forkScoped(renewForever(parts, holds, held, wake, { settling, stop, lose }))
    return holds
  })

/**
 * Renews the held runs' leases every `renewEvery` ms while there are any, in one statement for all
 * (`heartbeat`, which also says which were asked to cancel or were lost), and recovers other
 * holders' expired leases after each renewal, once the gate allows it.
 */
const renewForever = (
  { heartbeat, lease, recoverExpired, renewEvery }: InProcessParts,
  { holder }: InProcessHolds,
  held: Map<string, (() => void) | undefined>,
  wake: Queue.Queue<void>,
  { lose, settling, stop }: {
    readonly stop: (runId: string, orEnd?: boolean) => void
    readonly lose: (runId: string) => void
    readonly settling: ReadonlySet<string>
  }
): Effect.Effect<never> =>
  Effect.gen(function*() {
    const gate = new RecoveryGate(recoveryGrace(renewEvery, lease))
    /**
     * Held runs that nothing here runs, seen Cancelling by the last renewal: ended Cancelled if the
     * next one sees them so too (a caller driving such a run by hand gets an interval to end it).
     */
    let unattachedCancelling = new Set<string>()
    while (true) {
      while (held.size === 0) yield* Queue.take(wake)
      yield* Effect.sleep(renewEvery)
      if (held.size === 0) continue
      const sentAt = yield* monotonicMillis
      const answer = yield* Effect.either(
        heartbeat(holder, Array.from(held.keys()), lease, (runId) => settling.has(runId))
      )
      if (answer._tag === "Left") {
        gate.failed()
        yield* Effect.logWarning(`The run store could not renew the leases of process ${holder}'s runs`, answer.left)
        continue
      }
      const answeredAt = yield* monotonicMillis
      const mayRecover = gate.answered(answeredAt, answeredAt - sentAt > renewEvery)
      const seen = new Set<string>()
      for (const runId of answer.right.cancelling) {
        if (held.get(runId) !== undefined || unattachedCancelling.has(runId)) stop(runId)
        else seen.add(runId)
      }
      unattachedCancelling = seen
      for (const runId of answer.right.lost) lose(runId)
      if (!mayRecover) continue
      const recovered = yield* Effect.either(recoverExpired())
      if (recovered._tag === "Right" && recovered.right.length > 0) {
        yield* Effect.logWarning(
          `Process ${holder} recovered ${recovered.right.length} run(s) of stopped processes or workers: ` +
            recovered.right.join(", ")
        )
      }
    }
  })
