/**
 * A SQL store's calls for task workers: claims, heartbeats (leases timed by the store's clock),
 * give-backs, and the recovery of runs whose worker stopped.
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type * as State from "../../../State.js"
import { monotonicMillis } from "../../core/duration.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import { countCrashesRecovered, recoveredState, releasedState, unleasedState } from "../rules.js"
import type { ClaimThen, MaybeClaimThen } from "../runStore.js"
import { ClaimThenKey } from "../runStore.js"
import type { Dialect } from "./dialect.js"
import type { Call } from "./retry.js"
import { claimedRun } from "./rows.js"
import { FINAL, UNLEASED_PREDICATE } from "./schema.js"
import type { RunRow } from "./statements.js"
import type { Writer } from "./writer.js"
import type { Transition } from "./writes.js"

/** What the workers' calls are made of. */
export interface WorkerCallParts {
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect
  readonly call: Call
  readonly writer: Writer
  readonly transition: Transition
}

type WorkerCalls = Pick<RunStore_.Service, "claimRuns" | "heartbeat" | "releaseRuns" | "recoverExpired">

/** The calls a task worker makes: claims, heartbeats, give-backs and recovery. @internal */
export const makeWorkerCalls = (parts: WorkerCallParts): WorkerCalls & MaybeClaimThen => {
  const claimThen = makeClaimThen(parts)
  const claimRuns: WorkerCalls["claimRuns"] = (options) => claimThen(options, () => {})
  return {
    claimRuns,
    [ClaimThenKey]: { claimRuns, claimThen },
    heartbeat: makeHeartbeat(parts),
    releaseRuns: makeReleaseRuns(parts),
    recoverExpired: makeRecoverExpired(parts)
  }
}

/**
 * Gives back the runs of `runIds` that `workerId` still holds, in one read and one write batch per
 * 500 runs: the read and every move are fenced on the holder, so a run another worker has taken
 * over since (its lease expired and it was recovered) is left alone. A give-back is not an attempt:
 * a Running run's count goes back to what it was before its claim (see `givenBackRunCount`),
 * computed in SQL on the row as it is when the move is written (see `Condition.givenBack`): an
 * attempt's AwaitingRetry queued before the give-back may land between its read and its write.
 */
const makeReleaseRuns =
  ({ call, sql, transition }: WorkerCallParts): WorkerCalls["releaseRuns"] => (workerId, runIds, message) =>
    call(
      () => `give back ${runIds.length} run(s) of task worker ${workerId}`,
      Effect.gen(function*() {
        const timestamp = new Date(yield* Clock.currentTimeMillis)
        for (let i = 0; i < runIds.length; i += 500) {
          const rows = yield* sql<Pick<RunRow, "id" | "name" | "state_type">>`SELECT id, name,
          state_type FROM taskflow_runs
          WHERE worker_id = ${workerId} AND ${sql.in("id", runIds.slice(i, i + 500))}
          AND state_type NOT IN ${sql.in(FINAL)}`
          // Queued together: the writer commits them in one batch. A refusal (the run finished or
          // was taken over meanwhile) leaves it as it is; a failure to write fails the give-back.
          yield* Effect.forEach(rows, (row) => {
            const current = state_.make(row.state_type as State.StateType) as AnyState
            return transition(
              row.id,
              releasedState(current, workerId, timestamp, message),
              { name: row.name },
              { workerId, release: true, givenBack: true }
            ).pipe(Effect.catchTags({ RunNotFound: () => Effect.void, InvalidTransition: () => Effect.void }))
          }, { concurrency: "unbounded", discard: true })
        }
      })
    )

/**
 * Claims runs, and calls `onClaimed` with them in the same uninterruptible try as the statements
 * (`call` makes each try uninterruptible, and the waits between tries not).
 */
const makeClaimThen = ({ call, dialect, sql, writer }: WorkerCallParts): ClaimThen => {
  /**
   * Workers with a claim sent and its answer not read (the connection dropped, or the store went
   * away): it may have committed. Their next claim attempt (the same call trying again, or the
   * next call) first takes the runs they hold and do not know of.
   */
  const claimsUnanswered = new Set<string>()
  const storeNow = sql.literal(dialect.storeNow)
  /**
   * The Running runs `workerId` holds and does not know of (see `claimRuns`' `knows`), at most
   * `limit`, their leases renewed first: they were taken by a claim sent long ago, perhaps before an
   * outage, and must not start on a lease that is about to end (or has).
   */
  const heldUnknown = (workerId: string, knows: (runId: string) => boolean, limit: number, lease: number) =>
    Effect.gen(function*() {
      const held = yield* sql<{ id: string }>`SELECT id FROM taskflow_runs
        WHERE worker_id = ${workerId} AND state_type = 'RUNNING'`
      const ids = held.map((row) => row.id).filter((id) => !knows(id)).slice(0, limit)
      if (ids.length === 0) return []
      const rows = yield* sql<RunRow>`UPDATE taskflow_runs SET lease_expires_at = ${storeNow} + ${lease}
        WHERE ${dialect.heldBy(workerId, ids)} AND state_type = 'RUNNING' RETURNING *`
      return rows.map((row) => claimedRun(row, Number(row.state_timestamp)))
    })
  return ({ knows, lease, limit, names, workerId }, onClaimed) =>
    call(
      "claim runs",
      Effect.gen(function*() {
        // Each try's own: its leases run from when it was sent, not from the call's first try.
        const sentAt = yield* monotonicMillis
        const claimed = yield* claimTry(workerId, names, limit, lease, knows)
        onClaimed(claimed, sentAt)
        return claimed
      })
    )

  function claimTry(
    workerId: string,
    names: ReadonlyArray<string>,
    limit: number,
    lease: number,
    knows: ((runId: string) => boolean) | undefined
  ) {
    return Effect.gen(function*() {
      if (names.length === 0 || limit <= 0) return []
      // The last claim's answer was lost: its runs are held by this worker, which does not
      // know them. They are this claim's first.
      const unanswered = claimsUnanswered.has(workerId) && knows !== undefined
        ? yield* heldUnknown(workerId, knows, limit, lease)
        : []
      claimsUnanswered.delete(workerId)
      const room = limit - unanswered.length
      if (room <= 0) return unanswered
      const millis = yield* Clock.currentTimeMillis
      if (dialect.claimable !== undefined && (yield* dialect.claimable(names, room)).length === 0) return unanswered
      // Through the write queue: it rides with the moves of this worker's finished runs.
      claimsUnanswered.add(workerId)
      const rows = yield* writer.claim({ names, limit: room, workerId, lease, millis })
      claimsUnanswered.delete(workerId)
      if (rows.length === 0) return unanswered
      const claimed = rows.map((row) => claimedRun(row, millis))
      return unanswered.length === 0 ? claimed : unanswered.concat(claimed)
    })
  }
}

/** How long after a worker's presence ends its rows are deleted (by any worker's presence write). */
const FORGET_WORKERS_AFTER = 60_000

/**
 * Records that `workerId` is live and serves `names` for `lease` ms by the store's clock, at most
 * every third of `lease` per worker (not at every heartbeat: a write a second per worker and name
 * would be load for nothing), and deletes the rows of workers gone for a minute.
 */
const makePresence = ({ dialect, sql }: WorkerCallParts) => {
  const storeNow = sql.literal(dialect.storeNow)
  const writtenAt = new Map<string, number>()
  return (workerId: string, names: ReadonlyArray<string>, lease: number) =>
    Effect.gen(function*() {
      const millis = yield* Clock.currentTimeMillis
      const last = writtenAt.get(workerId)
      if (last !== undefined && millis - last < lease / 3) return
      for (const name of names) {
        yield* sql`INSERT INTO taskflow_workers (name, worker_id, live_until)
          VALUES (${name}, ${workerId}, ${storeNow} + ${lease})
          ON CONFLICT (name, worker_id) DO UPDATE SET live_until = excluded.live_until`
      }
      yield* sql`DELETE FROM taskflow_workers WHERE live_until < ${storeNow} - ${FORGET_WORKERS_AFTER}`
      writtenAt.set(workerId, millis)
    })
}

/** Renews `workerId`'s leases of the runs of `runIds` it holds: their states, by id. */
const renewLeases = ({ dialect, sql }: WorkerCallParts) => {
  const storeNow = sql.literal(dialect.storeNow)
  return (workerId: string, runIds: ReadonlyArray<string>, lease: number) =>
    Effect.gen(function*() {
      const held = new Map<string, string>()
      for (let i = 0; i < runIds.length; i += 500) {
        const rows = yield* sql<{ id: string; state_type: string }>`UPDATE taskflow_runs
          SET lease_expires_at = ${storeNow} + ${lease}
          WHERE ${dialect.heldBy(workerId, runIds.slice(i, i + 500))}
          RETURNING id, state_type`
        for (const row of rows) held.set(row.id, row.state_type)
      }
      return held
    })
}

const makeHeartbeat = (parts: WorkerCallParts): WorkerCalls["heartbeat"] => {
  const { call, sql } = parts
  const presence = makePresence(parts)
  const renew = renewLeases(parts)
  return (workerId, runIds, lease, served) =>
    call(
      "renew leases",
      Effect.gen(function*() {
        if (served !== undefined) yield* presence(workerId, served, lease)
        if (runIds.length === 0) return { cancelling: [], lost: [] }
        const held = yield* renew(workerId, runIds, lease)
        // Not renewed: lost only if it is unfinished and no longer ours (a run whose final state
        // was just written, or is being written, must not be interrupted as lost).
        const notHeldIds = runIds.filter((id) => !held.has(id))
        const lost: Array<string> = []
        for (let i = 0; i < notHeldIds.length; i += 500) {
          const ids = notHeldIds.slice(i, i + 500)
          // Still ours or finished: not lost. Unfinished and someone else's, or unknown: lost.
          const rows = yield* sql<{ id: string }>`SELECT id FROM taskflow_runs WHERE ${sql.in("id", ids)}
            AND (state_type IN ${sql.in(FINAL)} OR worker_id = ${workerId})`
          const kept = new Set(rows.map((row) => row.id))
          for (const id of ids) if (!kept.has(id)) lost.push(id)
        }
        return { cancelling: runIds.filter((id) => held.get(id) === "CANCELLING"), lost }
      })
    )
}

/**
 * The heartbeat of a process's own runs (inProcess.ts): as a task worker's, but a run not renewed is
 * lost unless `settling` says a change of ours that ends the hold (final, or NotReady) is being
 * written. A run that became final with no such write (recovered Crashed while it stalled, or ended
 * by hand) is lost, and stopped: it must not run on, creating children, until a write of its own is
 * refused. @internal
 */
export const makeRenewInProcess = (parts: WorkerCallParts) => {
  const renew = renewLeases(parts)
  return (
    holder: string,
    runIds: ReadonlyArray<string>,
    lease: number,
    settling: (runId: string) => boolean
  ): Effect.Effect<RunStore_.Heartbeat, Errors.RunStoreError> =>
    parts.call(
      "renew leases",
      Effect.gen(function*() {
        const held = yield* renew(holder, runIds, lease)
        const notRenewed = runIds.filter((id) => !held.has(id) && !settling(id))
        // Not renewed is not yet lost: PostgreSQL's renewal skips rows locked by a write in flight
        // (SKIP LOCKED), so read them again; an unfinished row still ours is kept.
        const lost: Array<string> = []
        for (let i = 0; i < notRenewed.length; i += 500) {
          const ids = notRenewed.slice(i, i + 500)
          const rows = yield* parts.sql<{ id: string }>`SELECT id FROM taskflow_runs WHERE ${parts.sql.in("id", ids)}
            AND worker_id = ${holder} AND state_type NOT IN ${parts.sql.in(FINAL)}`
          const kept = new Set(rows.map((row) => row.id))
          for (const id of ids) if (!kept.has(id) && !settling(id)) lost.push(id)
        }
        return { cancelling: runIds.filter((id) => held.get(id) === "CANCELLING"), lost }
      })
    )
}

/**
 * The Scheduled runs of `names`, counted by name (a task worker's `runsScheduled` gauge): over the
 * claim's partial index of Scheduled runs, whose predicate this repeats as a literal (a planner uses
 * a partial index only for a WHERE that implies it), reading those names' entries alone. @internal
 */
export const scheduledCountStatement = (sql: SqlClient.SqlClient, names: ReadonlyArray<string>) =>
  sql<{ readonly name: string; readonly count: number | string }>`SELECT name, COUNT(*) AS count
    FROM taskflow_runs WHERE state_type = 'SCHEDULED' AND ${sql.in("name", names)} GROUP BY name`

/** How old an unleased run's state must be to be recovered (see `makeRecoverUnleased`). @internal */
export const UNLEASED_AFTER = 10 * 60_000
/** How often a process looks for unleased runs at most: the look is for rows an upgrade left. */
const SWEEP_EVERY = 60_000
/** The most unleased runs one look recovers (the next look takes the rest). */
const SWEEP_LIMIT = 500

/**
 * The unleased unfinished runs whose state is older than `before` (ms), at most `limit` (in no
 * order: the next look takes the rest): read by the partial index of migration 6_unleased_sweep,
 * whose predicate this repeats word for word (a planner uses a partial index only for a WHERE that
 * implies it). @internal
 */
export const unleasedStatement = (sql: SqlClient.SqlClient, before: number, limit: number) =>
  sql<Pick<RunRow, "id" | "name" | "state_type">>`SELECT id, name, state_type FROM taskflow_runs
    WHERE ${sql.literal(UNLEASED_PREDICATE)} AND state_timestamp < ${before} LIMIT ${limit}`

/**
 * Ends Crashed the unfinished runs that nothing holds and no lease covers: written by a version that
 * kept no leases for a process's own runs, or corrupt; nothing else would ever finish them. (A run
 * Pending named NotReady is over: it never starts, and holds nothing.) Only runs whose state is older
 * than UNLEASED_AFTER: a process of an older version still running writes such rows for its live
 * runs, and its runs must have ended (see the upgrade note in README.md) before they are taken as
 * dead; a row this version writes is held from its creation, never unleased. At most once every
 * SWEEP_EVERY per store handle (the recovery path runs at every heartbeat of a task worker), and at
 * most SWEEP_LIMIT runs a time, their moves queued together (the writer commits them in batches).
 */
const makeRecoverUnleased = ({ sql, transition }: WorkerCallParts) => {
  let sweptAt = Number.NEGATIVE_INFINITY
  return (timestamp: Date) =>
    Effect.gen(function*() {
      const millis = timestamp.getTime()
      if (millis - sweptAt < SWEEP_EVERY) return []
      sweptAt = millis
      const rows = yield* unleasedStatement(sql, millis - UNLEASED_AFTER, SWEEP_LIMIT)
      const moved = yield* Effect.forEach(rows, (row) => {
        const current = state_.make(row.state_type as State.StateType) as AnyState
        // Guarded on still being unheld: a run claimed or finished meanwhile is left alone.
        return Effect.either(
          transition(row.id, unleasedState(current, timestamp), { name: row.name }, { unheld: true })
        )
      }, { concurrency: "unbounded" })
      return rows.filter((_, i) => Either.isRight(moved[i])).map((row) => row.id)
    })
}

const makeRecoverExpired = (parts: WorkerCallParts): WorkerCalls["recoverExpired"] => {
  const { call, dialect, sql, transition } = parts
  const storeNow = sql.literal(dialect.storeNow)
  const recoverUnleased = makeRecoverUnleased(parts)
  return () =>
    call(
      "recover runs of stopped workers",
      Effect.gen(function*() {
        const millis = yield* Clock.currentTimeMillis
        // Expired by the store's clock; the time read is the guard of every recovery below.
        const rows = yield* sql<RunRow & { readonly store_now: number }>`SELECT *, ${storeNow} AS store_now
          FROM taskflow_runs WHERE worker_id IS NOT NULL AND lease_expires_at < ${storeNow}`
        const recovered: Array<string> = []
        const crashed: Array<RunStore_.RunKind> = []
        for (const row of rows) {
          const current = state_.make(row.state_type as State.StateType) as AnyState
          const next = recoveredState(
            current,
            Number(row.run_count),
            Number(row.retries),
            row.worker_id!,
            new Date(millis)
          )
          // Guarded by the holder and the expired lease: of two recoverers, or a recoverer and a
          // late heartbeat, exactly one wins.
          const moved = yield* Effect.either(
            transition(row.id, next, { name: row.name }, {
              workerId: row.worker_id!,
              leaseExpiredBefore: Number(row.store_now),
              release: true
            })
          )
          if (Either.isRight(moved)) {
            recovered.push(row.id)
            if (next.type === "CRASHED") crashed.push(row.kind as RunStore_.RunKind)
          }
        }
        yield* countCrashesRecovered(crashed)
        for (const runId of yield* recoverUnleased(new Date(millis))) recovered.push(runId)
        return recovered
      })
    )
}
