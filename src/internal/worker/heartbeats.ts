import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as RunStore_ from "../../RunStore.js"
import { RecoveryGate, recoveryGrace } from "../store/recoveryGate.js"
import { type HeldRuns, monotonicMillis } from "./heldRuns.js"

/** What the heartbeat fibers need of the worker. */
export interface HeartbeatOptions {
  readonly store: RunStore_.Service
  readonly held: HeldRuns
  readonly workerId: string
  /** The task and flow names the worker serves: each heartbeat tells the store it is live. */
  readonly names: ReadonlyArray<string>
  readonly lease: number
  readonly heartbeatEvery: number
  /** Runs may be claimable again (some were recovered). */
  readonly scheduled: () => void
}

/** One heartbeat: keep the leases, learn about cancels and lost runs, recover runs of dead workers. */
const beat = (
  { heartbeatEvery, held, lease, names, scheduled, store, workerId }: HeartbeatOptions,
  gate: RecoveryGate
) =>
  Effect.gen(function*() {
    const sentAt = yield* monotonicMillis
    const heldIds = held.ids()
    const answer = yield* store.heartbeat(workerId, heldIds, lease, names)
    const answeredAt = yield* monotonicMillis
    const mayRecover = gate.answered(answeredAt, answeredAt - sentAt > heartbeatEvery)
    held.renewed(heldIds, answer.lost, sentAt)
    answer.cancelling.forEach(held.interrupt)
    for (const runId of answer.lost) held.lost(runId)
    // After the cancels and lost runs, and on its own: a failed give-back must not hold them, or the
    // recovery below, back.
    yield* giveBackStopped(store, held, workerId)
    if (!mayRecover) return
    const recovered = yield* store.recoverExpired()
    if (recovered.length > 0) {
      yield* Effect.logWarning(
        `Task worker ${workerId} recovered ${recovered.length} run(s) of stopped workers: ${recovered.join(", ")}`
      )
      scheduled()
    }
  })

/**
 * The store answers again: what this worker stopped and still holds goes to another worker (or back
 * to this one), rather than waiting for its lease to end and be recovered as Crashed. A failed
 * give-back is tried again at the next beat.
 */
const giveBackStopped = (store: RunStore_.Service, held: HeldRuns, workerId: string) => {
  const stopped = held.stoppedToGiveBack()
  if (stopped.length === 0) return Effect.void
  return store.releaseRuns(
    workerId,
    stopped,
    `Released by task worker ${workerId}, which could not renew its lease in time and stopped the run.`
  ).pipe(
    Effect.tap(() => held.gaveBack(stopped)),
    Effect.catchAll((error) =>
      Effect.logWarning(`Task worker ${workerId}: giving back the runs it stopped failed, trying again`, error)
    )
  )
}

/** The heartbeats, every `heartbeatEvery` ms until the worker's scope closes. */
export const forkHeartbeats = (options: HeartbeatOptions) => {
  const gate = new RecoveryGate(recoveryGrace(options.heartbeatEvery, options.lease))
  return beat(options, gate).pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(
        Effect.sync(() => gate.failed()),
        Effect.logWarning(`Task worker ${options.workerId}: heartbeat failed`, error)
      )
    ),
    Effect.repeat(Schedule.spaced(Duration.millis(options.heartbeatEvery))),
    Effect.forkScoped
  )
}

/**
 * The heartbeats' deadline: when the store stays out of reach of this worker (and only of this
 * worker, perhaps), its leases end and another worker recovers the runs and runs them again. This
 * worker stops them first, a heartbeat's time before their leases can have ended, and drops their
 * late writes: a run never runs twice at once. (The heartbeat itself may be waiting on the store.)
 */
export const forkLeaseDeadline = ({ heartbeatEvery, held, lease, workerId }: HeartbeatOptions) => {
  const stopUnrenewedAfter = lease - Math.min(heartbeatEvery, lease / 2)
  return Effect.gen(function*() {
    const unrenewed = held.unrenewedFor(stopUnrenewedAfter, yield* monotonicMillis)
    if (unrenewed.length === 0) return
    yield* Effect.logWarning(
      `Task worker ${workerId} could not renew its lease of ${unrenewed.length} run(s) for ${stopUnrenewedAfter} ms: ` +
        `stopping them, as another worker may take them once their lease ends: ${unrenewed.join(", ")}`
    )
    unrenewed.forEach((runId) => held.stopUnrenewed(runId))
  }).pipe(
    Effect.repeat(Schedule.spaced(Duration.millis(heartbeatEvery))),
    Effect.forkScoped
  )
}
