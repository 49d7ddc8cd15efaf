/**
 * The SQL stores' group commit: every state change and every task worker's claim of this process
 * goes through one write queue, written a batch at a time.
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Errors from "../../../Errors.js"
import { encodeState } from "../../codec/storeCodec.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import type { LogLine } from "../runLogs.js"
import { noNotice, noticeOf } from "./notices.js"
import type { RunRow } from "./statements.js"

/** The guards of a state change: it is written only if they hold. */
export interface Condition {
  readonly workerId?: string | undefined
  /** Only if no worker holds the run. */
  readonly unheld?: boolean
  /** Only if the holder's lease expired before this time. */
  readonly leaseExpiredBefore?: number
  /** The worker gives the run back. */
  readonly release?: boolean
  /**
   * A give-back, which is not an attempt: a run Running when the change is written has its count
   * taken back one (in SQL, on the row as it is then; see `moveSet` in statements.ts).
   */
  readonly givenBack?: boolean
  /** Only if the run's count is still this: the attempt its holder ran (a run taken over and claimed again has a new one). */
  readonly attempt?: number | undefined
}

/** One guarded state change, waiting in the write queue. */
export interface Move {
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

/** A state change waiting in the writer's queue for the next batch. @internal */
export interface QueuedMove extends Move {
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

/** A claim waiting in the writer's queue, to ride in the next batch. @internal */
export interface QueuedClaim extends ClaimRequest {
  readonly _tag: "Claim"
  /** Resumes the claiming fiber with the claimed rows, or the write's failure. */
  readonly resume: (outcome: Exit.Exit<ReadonlyArray<RunRow>, SqlError>) => void
}

/** What a batch did: the ids it moved, and the rows it claimed. */
export interface Written {
  readonly moved: ReadonlySet<string>
  readonly claimed: ReadonlyArray<RunRow>
}

/** A batch that wrote nothing. @internal */
export const noneWritten: Written = { moved: new Set(), claimed: [] }

/** Writes a batch of moves and at most one claim, in one statement or transaction (see the dialects). */
export type WriteBatch = (
  batch: ReadonlyArray<QueuedMove>,
  claim: QueuedClaim | undefined
) => Effect.Effect<Written, SqlError>

/** A log line with its place among its run's lines in this batch (from 1): the store adds the run's last seq. */
export interface BatchLine extends LogLine {
  readonly ordinal: number
}

/** Writes a batch of log lines, each numbered after its run's last line in the store. */
export type WriteLogs = (lines: ReadonlyArray<BatchLine>) => Effect.Effect<void, SqlError>

/** What the writer needs from its store. */
export interface WriterOptions {
  readonly writeBatch: WriteBatch
  readonly writeLogs: WriteLogs
  /** Lines of these runs were written. Called from the writer fiber. */
  readonly onLogsWritten: (runIds: ReadonlySet<string>) => void
  /** Whether final states carry a notification line (PostgreSQL's NOTIFY to other processes). */
  readonly finalNotices: boolean
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
  /**
   * Queues a run's log line: written with the next batch, before its state changes, so a run's
   * lines are in the store before its final state. Nobody waits for it.
   */
  readonly log: (line: LogLine) => void
}

/**
 * Group commit: state changes from every fiber of this process queue up, and one writer fiber
 * writes each batch in one statement (PostgreSQL) or one transaction (SQLite). A busy worker then
 * pays one round trip for many runs' Running or Completed writes, and its next claim rides in the
 * same statement. A run appears at most once per batch, and a batch has at most one claim; a
 * second change of a run (or a second claim) waits for the next batch, so changes keep their order.
 *
 * A plain array and a callback per write rather than an Effect Queue and a Deferred: this is a
 * step of every run a worker executes, and those cost several fiber steps each.
 *
 * Starts the writer fiber, for as long as the scope is open.
 */
export const makeWriter = (options: WriterOptions): Effect.Effect<Writer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = makeWriteQueue(yield* Queue.sliding<void>(1))
    yield* Effect.forkScoped(writeForever(queue, options))
    return {
      move: makeMove(queue.enqueue, options.finalNotices),
      claim: (claim) =>
        Effect.async((resume) => {
          queue.enqueue({ ...claim, _tag: "Claim", resume })
        }),
      log: queue.enqueueLog
    }
  })

/** The most log lines written in one batch. */
const LOG_BATCH = 2_000
/** How many times a batch of lines is tried before it is dropped (a store that refuses it). */
const LOG_TRIES = 20
/** The most lines waiting: past it new lines are dropped rather than grow the heap while the store is away. */
const MAX_QUEUED_LINES = 200_000

interface QueuedLine {
  readonly line: LogLine
  tries: number
}

type Queued = QueuedMove | QueuedClaim

/** The writes waiting for the writer fiber, which `wake` wakes when the first one arrives. */
const makeWriteQueue = (wake: Queue.Queue<void>) => {
  let pending: Array<Queued> = []
  let lines: Array<QueuedLine> = []
  return {
    enqueue: (item: Queued) => {
      pending.push(item)
      if (pending.length === 1 && lines.length === 0) Queue.unsafeOffer(wake, undefined)
    },
    enqueueLog: (line: LogLine) => {
      if (lines.length >= MAX_QUEUED_LINES) return
      lines.push({ line, tries: 0 })
      if (lines.length === 1 && pending.length === 0) Queue.unsafeOffer(wake, undefined)
    },
    isEmpty: () => pending.length === 0 && lines.length === 0,
    /**
     * The lines to write before the batch's moves: every line queued so far (so each move's earlier
     * lines go first), or, past LOG_BATCH, the first LOG_BATCH alone, and `movesToo` false: the
     * moves wait for the next turn, behind the lines queued before them.
     */
    takeLines: (): { readonly taken: Array<QueuedLine>; readonly movesToo: boolean } => {
      if (lines.length <= LOG_BATCH) {
        const taken = lines
        lines = []
        return { taken, movesToo: true }
      }
      const taken = lines.slice(0, LOG_BATCH)
      lines = lines.slice(LOG_BATCH)
      return { taken, movesToo: false }
    },
    /** Lines whose write failed: first in the next batch, until they were tried LOG_TRIES times. */
    giveBackLines: (failed: Array<QueuedLine>) => {
      const kept = failed.filter((queued) => ++queued.tries < LOG_TRIES)
      if (kept.length > 0) lines = kept.concat(lines)
      return failed.length - kept.length
    },
    /** Taken once the first write is queued. */
    wake,
    /**
     * The next batch: up to 500 writes, each run at most once and at most one claim. The writes
     * left out are carried: first in the next batch, before anything queued after them.
     */
    takeBatch: () => {
      const taken = pending.length <= 500 ? pending : pending.slice(0, 500)
      pending = pending.length <= 500 ? [] : pending.slice(500)
      const batch: Array<QueuedMove> = []
      let claim: QueuedClaim | undefined
      const ids = new Set<string>()
      const carried: Array<Queued> = []
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
      if (carried.length > 0) pending = carried.concat(pending)
      return { batch, claim }
    }
  }
}

const noBatch: { readonly batch: ReadonlyArray<QueuedMove>; readonly claim: QueuedClaim | undefined } = {
  batch: [],
  claim: undefined
}

/** The writer fiber: a batch at a time, each write's fiber resumed with its outcome. */
const writeForever = (
  queue: ReturnType<typeof makeWriteQueue>,
  options: WriterOptions
): Effect.Effect<never> =>
  Effect.gen(function*() {
    const { onWritten, refusal, writeBatch } = options
    while (true) {
      while (queue.isEmpty()) yield* Queue.take(queue.wake)
      // One turn for the fibers woken with this batch: a task worker whose runs just finished
      // queues its next claim, which then rides in the same write as their final states.
      yield* Effect.yieldNow()
      // Lines and moves are taken at once: a line queued while the lines are written is behind
      // the moves queued after it, and must not be left for the next turn while they go now.
      const { movesToo, taken } = queue.takeLines()
      const { batch, claim } = movesToo ? queue.takeBatch() : noBatch
      if (taken.length > 0) yield* writeLines(queue, taken, options)
      if (batch.length === 0 && claim === undefined) continue
      const outcome = yield* Effect.exit(Effect.uninterruptible(writeBatch(batch, claim)))
      if (Exit.isFailure(outcome)) {
        const failed = Exit.failCause(outcome.cause)
        for (const move of batch) move.resume(failed)
        claim?.resume(failed)
        continue
      }
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
    }
  })

/**
 * Writes log lines, numbered per run in the order queued. A failed write (the store away) is tried
 * again with the next batches; the state changes go on meanwhile: logs never hold up a run.
 */
const writeLines = (
  queue: ReturnType<typeof makeWriteQueue>,
  taken: Array<QueuedLine>,
  { onLogsWritten, writeLogs }: WriterOptions
) => {
  const ordinals = new Map<string, number>()
  const lines = taken.map(({ line }): BatchLine => {
    const ordinal = (ordinals.get(line.runId) ?? 0) + 1
    ordinals.set(line.runId, ordinal)
    return { ...line, ordinal }
  })
  return Effect.matchCauseEffect(Effect.uninterruptible(writeLogs(lines)), {
    onSuccess: () => Effect.sync(() => onLogsWritten(new Set(ordinals.keys()))),
    onFailure: (cause) => {
      const dropped = queue.giveBackLines(taken)
      const tries = taken.reduce((most, queued) => Math.max(most, queued.tries), 0)
      // Not at once: a store that refuses connections fails each try in a millisecond, and all
      // tries would be spent before it is back. 100 ms doubling to 2 s: about 30 s in all.
      const wait = Effect.sleep(Math.min(100 * 2 ** (tries - 1), 2_000))
      return dropped === 0 ? wait : Effect.zipRight(
        Effect.logWarning(
          `The run store could not write ${dropped} run log line(s) after ${LOG_TRIES} tries; they were dropped.`,
          cause
        ),
        wait
      )
    }
  })
}

/** Queues a guarded state change of run `runId` of task `name`; resumes once it is written or refused. */
const makeMove = (enqueue: (item: Queued) => void, finalNotices: boolean): Writer["move"] =>
(
  runId,
  name,
  state,
  runCount,
  condition
) => {
  let stored = state
  let encoded = encodeState(name, runId, state)
  if (Either.isLeft(encoded)) {
    // A value its Schema rejects fails the run with the reason, rather than losing it.
    stored = state_.failed(Cause.die(encoded.left), { timestamp: state.timestamp })
    encoded = encodeState(name, runId, stored)
  }
  const { cause, result } = Either.getOrThrow(encoded)
  const final = state_.isFinal(stored)
  const { notice, noticeBytes } = final && finalNotices ? noticeOf(name, stored, cause, result) : noNotice
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
