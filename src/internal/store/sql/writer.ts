/**
 * The SQL stores' group commit: every state change and every task worker's claim of this process
 * goes through one write queue, written a batch at a time.
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type { Scope } from "effect"
import { Cause, Effect, Either, Exit, Queue } from "effect"
import type * as Errors from "../../../Errors.js"
import { encodeState } from "../../codec/storeCodec.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import { noNotice, noticeChunks, noticeOf } from "./notices.js"
import type { RunRow } from "./statements.js"
import {
  CLAIM_HISTORY_SQLITE,
  CLAIM_RUNS,
  claimSqliteText,
  KEEP_RESULTS_SQLITE,
  pickParameters,
  RECORD_STATES_SQLITE,
  WRITE_STATES,
  WRITE_STATES_AND_CLAIM,
  WRITE_STATES_SQLITE
} from "./statements.js"

/** The guards of a state change: it is written only if they hold. */
export interface Condition {
  readonly workerId?: string | undefined
  /** Only if no worker holds the run. */
  readonly unheld?: boolean
  /** Only if the holder's lease expired before this time. */
  readonly leaseExpiredBefore?: number
  /** The worker gives the run back. */
  readonly release?: boolean
}

/** One guarded state change, waiting in the write queue. */
interface Move {
  readonly runId: string
  readonly stored: AnyState
  readonly cause: string | null
  readonly result: string | null
  readonly final: boolean
  /** A final state's notification line (JSON), when it fits one; else subscribers read the run. */
  readonly notice: string | null
  /** The notice's size in UTF-8 bytes (0 without one). */
  readonly noticeBytes: number
  readonly releases: boolean
  readonly runCount: number | undefined
  readonly condition: Condition
}
interface QueuedMove extends Move {
  readonly _tag: "Move"
  /** Resumes the writing fiber with the write's outcome: done, or why it was refused or failed. */
  readonly resume: (outcome: Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | SqlError>) => void
}
/** A task worker's claim: it waits in the write queue to ride with the moves of its finished runs. */
export interface ClaimRequest {
  readonly names: ReadonlyArray<string>
  readonly limit: number
  readonly workerId: string
  readonly lease: number
  readonly millis: number
}
interface QueuedClaim extends ClaimRequest {
  readonly _tag: "Claim"
  /** Resumes the claiming fiber with the claimed rows, or the write's failure. */
  readonly resume: (outcome: Exit.Exit<ReadonlyArray<RunRow>, SqlError>) => void
}

/** What the writer needs from its store. */
export interface WriterOptions {
  readonly dialect: "sqlite" | "pg"
  readonly sql: SqlClient.SqlClient
  /** Runs a named prepared statement on PostgreSQL. */
  readonly prepared: <Row>(
    name: string,
    text: string,
    values: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<Row>, SqlError>
  /** Why a guarded change changed nothing, read after its batch. */
  readonly refusal: (
    runId: string,
    stored: AnyState,
    condition: Condition
  ) => Effect.Effect<Errors.RunNotFound | Errors.InvalidTransition, SqlError>
  /** A change was written: `stored` is the state the store keeps. Called from the writer fiber. */
  readonly onWritten: (runId: string, stored: AnyState, condition: Condition) => void
}

/** The write queue of a store. */
export interface Writer {
  /** Writes a guarded state change of run `runId` of task `name` (whose Schemas encode it). */
  readonly move: (
    runId: string,
    name: string,
    state: AnyState,
    runCount: number | undefined,
    condition: Condition
  ) => Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | SqlError>
  /** Claims runs for a task worker, in the next batch. */
  readonly claim: (claim: ClaimRequest) => Effect.Effect<ReadonlyArray<RunRow>, SqlError>
}

/** Starts the writer fiber, for as long as the scope is open. */
export const makeWriter = (
  { dialect, onWritten, prepared, refusal, sql }: WriterOptions
): Effect.Effect<Writer, never, Scope.Scope> =>
  Effect.gen(function*() {
    /**
     * Group commit: state changes from every fiber of this process queue up, and one writer fiber
     * writes each batch in one statement (PostgreSQL) or one transaction (SQLite). A busy worker then
     * pays one round trip for many runs' Running or Completed writes, and its next claim rides in the
     * same statement. A run appears at most once per batch, and a batch has at most one claim; a
     * second change of a run (or a second claim) waits for the next batch, so changes keep their order.
     *
     * A plain array and a callback per write rather than an Effect Queue and a Deferred: this is a
     * step of every run a worker executes, and those cost several fiber steps each.
     */
    let pending: Array<QueuedMove | QueuedClaim> = []
    const writerWake = yield* Queue.sliding<void>(1)
    const enqueue = (item: QueuedMove | QueuedClaim) => {
      pending.push(item)
      if (pending.length === 1) Queue.unsafeOffer(writerWake, undefined)
    }
    const claimInBatch = (claim: ClaimRequest): Effect.Effect<ReadonlyArray<RunRow>, SqlError> =>
      Effect.async((resume) => {
        enqueue({ ...claim, _tag: "Claim", resume })
      })

    /** What a batch did: the ids it moved, and the rows it claimed. */
    interface Written {
      readonly moved: ReadonlySet<string>
      readonly claimed: ReadonlyArray<RunRow>
    }
    const noneWritten: Written = { moved: new Set(), claimed: [] }

    const claimParametersPg = (claim: QueuedClaim) => [
      claim.names,
      claim.limit,
      claim.millis,
      claim.workerId,
      claim.lease
    ]

    /** The single row the batch statements return (see CLAIM_RUNS, WRITE_STATES). */
    interface BatchRow {
      readonly moved?: ReadonlyArray<string> | null
      readonly claimed?: ReadonlyArray<RunRow> | null
    }
    const written = (rows: ReadonlyArray<BatchRow>): Written => ({
      moved: new Set(rows[0]?.moved ?? []),
      claimed: rows[0]?.claimed ?? []
    })

    const writeBatchPg = (batch: ReadonlyArray<QueuedMove>, claim: QueuedClaim | undefined): Effect.Effect<
      Written,
      SqlError
    > => {
      if (batch.length === 0) {
        return claim === undefined
          ? Effect.succeed(noneWritten)
          : Effect.map(prepared<BatchRow>("taskflow_claim_runs", CLAIM_RUNS, claimParametersPg(claim)), written)
      }
      const moves = [
        batch.map((move) => move.runId),
        batch.map((move) => move.stored.type),
        batch.map((move) => move.stored.name),
        batch.map((move) => move.stored.message ?? null),
        batch.map((move) => move.stored.timestamp.getTime()),
        batch.map((move) => move.cause),
        batch.map((move) => move.result),
        batch.map((move) => move.runCount ?? null),
        batch.map((move) => move.condition.workerId ?? null),
        batch.map((move) => move.condition.unheld === true),
        batch.map((move) => move.condition.leaseExpiredBefore ?? null),
        batch.map((move) => move.final),
        batch.map((move) => move.releases),
        batch.map((move) => move.notice),
        noticeChunks(batch)
      ]
      return claim === undefined
        ? Effect.map(prepared<BatchRow>("taskflow_write_states", WRITE_STATES, moves), written)
        : Effect.map(
          prepared<BatchRow>(
            "taskflow_write_states_and_claim",
            WRITE_STATES_AND_CLAIM,
            [...moves, ...claimParametersPg(claim)]
          ),
          written
        )
    }

    /** A claim on SQLite, inside the caller's transaction: the claimed runs' rows, with their history. */
    const claimSqlite = (claim: QueuedClaim) =>
      Effect.gen(function*() {
        const claimed = yield* sql.unsafe<RunRow>(claimSqliteText(claim.names.length), [
          claim.millis,
          claim.workerId,
          claim.lease,
          ...pickParameters(claim.names, claim.limit)
        ])
        if (claimed.length > 0) {
          const ids = JSON.stringify(claimed.map((row) => row.id))
          yield* sql.unsafe(CLAIM_HISTORY_SQLITE, [ids, ids])
        }
        return claimed
      })

    /** The same batch on SQLite, in one transaction: three statements for all the moves (passed as one JSON array), then the claim. */
    const writeBatchSqlite = (batch: ReadonlyArray<QueuedMove>, claim: QueuedClaim | undefined) =>
      Effect.gen(function*() {
        let moved: ReadonlySet<string> = noneWritten.moved
        if (batch.length > 0) {
          const moves = JSON.stringify(batch.map((move) => [
            move.runId,
            move.stored.type,
            move.stored.name,
            move.stored.message ?? null,
            move.stored.timestamp.getTime(),
            move.cause,
            move.runCount ?? null,
            move.condition.workerId ?? null,
            move.condition.unheld === true,
            move.condition.leaseExpiredBefore ?? null,
            move.final,
            move.releases
          ]))
          const rows = yield* sql.unsafe<{ id: string }>(WRITE_STATES_SQLITE, [moves])
          moved = new Set(rows.map((row) => row.id))
          if (moved.size > 0) {
            yield* sql.unsafe(RECORD_STATES_SQLITE, [JSON.stringify(Array.from(moved))])
            const results = batch.filter((move) => move.result !== null && moved.has(move.runId))
            if (results.length > 0) {
              yield* sql.unsafe(KEEP_RESULTS_SQLITE, [JSON.stringify(results.map((move) => [move.runId, move.result]))])
            }
          }
        }
        const claimed = claim === undefined ? noneWritten.claimed : yield* claimSqlite(claim)
        return { moved, claimed }
      }).pipe(sql.withTransaction)

    yield* Effect.gen(function*() {
      while (true) {
        while (pending.length === 0) yield* Queue.take(writerWake)
        // One turn for the fibers woken with this batch: a task worker whose runs just finished
        // queues its next claim, which then rides in the same write as their final states.
        yield* Effect.yieldNow()
        const taken = pending.length <= 500 ? pending : pending.slice(0, 500)
        pending = pending.length <= 500 ? [] : pending.slice(500)
        const batch: Array<QueuedMove> = []
        let claim: QueuedClaim | undefined
        const ids = new Set<string>()
        const carried: Array<QueuedMove | QueuedClaim> = []
        for (const item of taken) {
          if (item._tag === "Claim") {
            if (claim === undefined) claim = item
            else carried.push(item)
          } else if (ids.has(item.runId)) {
            carried.push(item)
          } else {
            ids.add(item.runId)
            batch.push(item)
          }
        }
        // Carried writes go first in the next batch, before anything queued after them.
        if (carried.length > 0) pending = carried.concat(pending)
        const outcome = yield* Effect.exit(
          Effect.uninterruptible(dialect === "pg" ? writeBatchPg(batch, claim) : writeBatchSqlite(batch, claim))
        )
        if (Exit.isSuccess(outcome)) {
          const { claimed, moved } = outcome.value
          for (const move of batch) {
            if (moved.has(move.runId)) {
              // Subscribers here are told what the store keeps (a result its Schema rejected: Failed).
              onWritten(move.runId, move.stored, move.condition)
              move.resume(Effect.void)
            } else {
              move.resume(Effect.flatMap(refusal(move.runId, move.stored, move.condition), Effect.fail))
            }
          }
          claim?.resume(Exit.succeed(claimed))
        } else {
          const failed = Exit.failCause(outcome.cause)
          for (const move of batch) move.resume(failed)
          claim?.resume(failed)
        }
      }
    }).pipe(Effect.forkScoped)

    /** Queues a guarded state change of run `runId` of task `name`; resumes once it is written or refused. */
    const move = (
      runId: string,
      name: string,
      state: AnyState,
      runCount: number | undefined,
      condition: Condition
    ): Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | SqlError> => {
      let stored = state
      let encoded = encodeState(name, runId, state)
      if (Either.isLeft(encoded)) {
        // A value its Schema rejects fails the run with the reason, rather than losing it.
        stored = state_.failed(Cause.die(encoded.left), { timestamp: state.timestamp })
        encoded = encodeState(name, runId, stored)
      }
      const { cause, result } = Either.getOrThrow(encoded)
      const final = state_.isFinal(stored)
      const { notice, noticeBytes } = final && dialect === "pg" ? noticeOf(name, stored, cause, result) : noNotice
      // A final state ends the hold; so does a Scheduled one given back (release, recovery). A
      // retry's AwaitingRetry written by the worker itself keeps the run held by it.
      const releases = final || condition.release === true
      // The queued write is built once, with its callback: the writer resumes this fiber with the
      // outcome, having pushed the state to subscribers (one fiber step per write).
      return Effect.async((resume) => {
        enqueue({
          _tag: "Move",
          runId,
          stored,
          cause,
          result,
          final,
          notice,
          noticeBytes,
          releases,
          runCount,
          condition,
          resume
        })
      })
    }

    return { move, claim: claimInBatch }
  })
