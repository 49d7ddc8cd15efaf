/**
 * The SQLite store: its dialect record (one file shared by the processes of one machine, which
 * follow each other's changes by polling, woken by a watch on the WAL file) and its layer.
 * @internal
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import { RunStore } from "../runStore.js"
import type { Dialect, Followers, Following } from "./dialect.js"
import { maxPollIntervalOf } from "./dialect.js"
import { sqliteLogParameter, WRITE_LOGS_SQLITE } from "./logs.js"
import { openFailed } from "./retry.js"
import { decodedOrCrashed } from "./rows.js"
import type { CancelRow, ChangeRow, RunRow } from "./statements.js"
import {
  CANCELS_SQLITE,
  CHANGES_SQLITE,
  CLAIM_HISTORY_SQLITE,
  claimSqliteText,
  KEEP_RESULTS_SQLITE,
  pickParameters,
  pickSqlite,
  RECORD_STATES_SQLITE,
  STORE_NOW_SQLITE,
  WRITE_STATES_SQLITE
} from "./statements.js"
import { makeStore } from "./store.js"
import type { QueuedClaim, QueuedMove } from "./writer.js"
import { noneWritten } from "./writer.js"

/** @internal */
export const sqliteLayer = (
  options: { readonly filename: string } & RunStore_.SqlOptions
): Layer.Layer<RunStore, Errors.RunStoreError> =>
  Layer.scoped(RunStore, Effect.flatMap(sqliteDialect(options), (dialect) => makeStore(dialect, options))).pipe(
    Layer.provide(
      Layer.unwrapEffect(Effect.sync(() => {
        if (options.filename !== ":memory:") fs.mkdirSync(path.dirname(options.filename), { recursive: true })
        return SqliteClient.layer({ filename: options.filename })
      }))
    ),
    // A new file: another process may be switching it to WAL mode or migrating it at this very
    // moment, and SQLite refuses some of that at once ("database is locked") rather than waiting.
    // Open it again.
    Layer.catchAllCause((cause): Layer.Layer<RunStore, unknown> => {
      const busy = findBusy(cause)
      return busy === undefined ? Layer.failCause(cause) : Layer.fail(busy)
    }),
    Layer.retry(openAgainWhileBusy),
    Layer.catchAllCause(openFailed("SQLite"))
  )

/** SQLite's record: `filename`'s store, whose processes follow each other's changes by polling. */
export const sqliteDialect = (
  options: { readonly filename: string; readonly maxPollInterval?: number }
): Effect.Effect<Dialect, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => ({
    kind: "sqlite",
    // WAL with synchronous=NORMAL: commits do not wait for fsync; the database cannot be corrupted
    // by a crash, and only a power loss can drop the last commits. Several processes share one file.
    setUp: Effect.orDie(sql`PRAGMA synchronous = NORMAL`),
    storeNow: STORE_NOW_SQLITE,
    insertRuns: (chunk) =>
      Effect.gen(function*() {
        // A run of this process carries its lease in ms (rows.ts): set by the store's clock below.
        const lease = chunk.find((row) => row.lease_expires_at !== null)?.lease_expires_at
        const rows = lease === undefined ? chunk : chunk.map((row) => ({ ...row, lease_expires_at: null }))
        const inserted = yield* sql<{ id: string }>`INSERT INTO taskflow_runs ${sql.insert(rows)}
          ON CONFLICT (id) DO NOTHING RETURNING id`
        if (inserted.length === 0) return
        if (lease !== undefined) {
          yield* sql`UPDATE taskflow_runs SET lease_expires_at = ${sql.literal(STORE_NOW_SQLITE)} + ${lease}
            WHERE worker_id IS NOT NULL AND ${sql.in("id", inserted.map((row) => row.id))}`
        }
        yield* sql`INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
          SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause
          FROM taskflow_runs WHERE ${sql.in("id", inserted.map((row) => row.id))}`
      }).pipe(sql.withTransaction),
    heldBy: (workerId, ids) => sql`worker_id = ${workerId} AND ${sql.in("id", ids)}`,
    // Look before queuing for the write lock: an idle worker's claim then costs no lock at all.
    claimable: (names, limit) => sql.unsafe<{ id: string }>(pickSqlite(names.length), pickParameters(names, limit)),
    writeBatch: (batch, claim) => writeBatch(sql, batch, claim),
    // One statement, numbered inside it: SQLite has one writer at a time, across processes too.
    writeLogs: (lines) => sql.unsafe(WRITE_LOGS_SQLITE, [sqliteLogParameter(lines)]),
    finalNotices: false,
    follow: (followers) => followChanges(sql, options.filename, maxPollIntervalOf(options), followers)
  }))

/** A batch in one transaction: three statements for all the moves (passed as one JSON array), then the claim. */
const writeBatch = (sql: SqlClient.SqlClient, batch: ReadonlyArray<QueuedMove>, claim: QueuedClaim | undefined) =>
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
        move.releases,
        move.condition.givenBack === true,
        move.condition.attempt ?? null
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
    const claimed = claim === undefined ? noneWritten.claimed : yield* claimRuns(sql, claim)
    return { moved, claimed }
  }).pipe(sql.withTransaction)

/** A claim, inside the batch's transaction: the claimed runs' rows, with their history. */
const claimRuns = (sql: SqlClient.SqlClient, claim: QueuedClaim) =>
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

/**
 * The least time between two looks for cancels asked in other processes: a busy store's file
 * changes at every commit, and each look reads the history rows written since the last one.
 */
const CANCEL_LOOK_MS = 50

/**
 * SQLite has no notifications between processes, so polling is how other processes' changes
 * arrive: one cheap query for the history rows written since the last look (SQLite commits one
 * writer at a time, so rowids grow in commit order), 10 ms after a change, backing off to
 * `maxPoll` while nothing changes. Another process's commit on this machine writes the WAL file:
 * watching it wakes the poll at once. After such a commit a task worker here also hears of
 * cancels asked elsewhere, at most every CANCEL_LOOK_MS, rather than at its next heartbeat.
 */
const followChanges = (
  sql: SqlClient.SqlClient,
  filename: string,
  maxPoll: number,
  followers: Followers
): Effect.Effect<Following, never, Scope.Scope> =>
  Effect.gen(function*() {
    followers.startHearing()
    const start = Number(
      (yield* Effect.orDie(sql<{ last: number | null }>`SELECT MAX(rowid) AS last FROM taskflow_run_states`))[0]
        .last ?? 0
    )
    const changes = changePoll(sql, start, maxPoll, followers)
    const lookForCancels = cancelLook(sql, start, followers)
    const walChanged = yield* Queue.sliding<void>(1)
    if (filename !== ":memory:") yield* watchWal(`${filename}-wal`, walChanged, followers)
    let cancelsDue = false
    let lastCancelLook = 0
    yield* Effect.gen(function*() {
      while (true) {
        // With no subscriber, the timer only backs up the WAL watch for cancels.
        const timer = followers.anyFollowed() ? changes.interval() : maxPoll
        const sinceCancelLook = (yield* Clock.currentTimeMillis) - lastCancelLook
        const wait = cancelsDue ? Math.min(timer, Math.max(0, CANCEL_LOOK_MS - sinceCancelLook)) : timer
        const walWritten = yield* Effect.raceFirst(
          Effect.as(Effect.sleep(Duration.millis(wait)), false),
          Effect.as(Queue.take(walChanged), true)
        )
        if (followers.anyFollowed()) yield* Effect.ignore(changes.poll)
        // Another process may have written lines of a followed run: its followers read them.
        if (walWritten && followers.anyFollowingLogs()) followers.pushLogs(undefined)
        if (!followers.anyFollowingCancels()) continue
        const now = yield* Clock.currentTimeMillis
        // Without change events from the file system, the timer alone: every `maxPoll`.
        if (walWritten || now - lastCancelLook >= maxPoll) cancelsDue = true
        if (cancelsDue && now - lastCancelLook >= CANCEL_LOOK_MS) {
          cancelsDue = false
          lastCancelLook = now
          yield* Effect.ignore(lookForCancels)
        }
      }
    }).pipe(Effect.forkScoped)
    return { subscribed: changes.reset }
  })

/**
 * The look for the followed runs' changes since the last one, with its backoff. Hand-written, not a
 * Schedule: a new subscriber resets it from outside the loop, and each wait races the WAL watch.
 */
const changePoll = (sql: SqlClient.SqlClient, start: number, maxPoll: number, followers: Followers) => {
  let cursor = start
  let interval = 10
  const poll = Effect.gen(function*() {
    const rows = yield* Effect.uninterruptible(sql.unsafe<ChangeRow>(CHANGES_SQLITE, [cursor]))
    // Only each followed run's newest state in this look (a claim writes Pending and Running at
    // once): the states in between are not decoded or pushed.
    const newest = new Map<string, ChangeRow>()
    for (const row of rows) {
      cursor = Math.max(cursor, Number(row.rowid))
      if (followers.wants(row.run_id)) newest.set(row.run_id, row)
    }
    for (const [runId, row] of newest) {
      // The state itself: no read of the run. A result too large to carry in every poll is read
      // for its subscribers alone.
      const state = row.has_result && row.result === null
        ? undefined
        : () => decodedOrCrashed(row.run_name, runId, row, row.result)
      followers.heard(runId, Number(row.seq), state)
    }
    interval = rows.length > 0 ? 10 : Math.min(maxPoll, interval * 2)
  })
  return {
    poll,
    interval: () => interval,
    reset: () => {
      interval = 10
    }
  }
}

/**
 * Cancels asked for in other processes, for a task worker here (it subscribes to them). Cancels
 * asked here are pushed by the writer (and may be pushed again here: stopping a run twice does
 * nothing more).
 */
const cancelLook = (sql: SqlClient.SqlClient, start: number, followers: Followers) => {
  let cursor = start
  return Effect.gen(function*() {
    const rows = yield* Effect.uninterruptible(sql.unsafe<CancelRow>(CANCELS_SQLITE, [cursor]))
    for (const row of rows) {
      cursor = Math.max(cursor, Number(row.rowid))
      if (row.type === "CANCELLING") followers.pushCancelling(row.run_id)
    }
  })
}

/**
 * Watches the WAL file (inotify): another process's commit wakes the poll, and tells local workers
 * a run may be claimable. The poll's timer stays as the fallback (a file system without change
 * events, a missed event).
 */
const watchWal = (wal: string, walChanged: Queue.Queue<void>, followers: Followers) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      try {
        return fs.watch(wal, { persistent: false }, () => {
          Queue.unsafeOffer(walChanged, undefined)
          followers.pushScheduled()
        })
      } catch {
        return undefined
      }
    }),
    (watcher) => Effect.sync(() => watcher?.close())
  )

/** Every 50 ms, up to 40 times, while opening fails with SQLITE_BUSY. */
const openAgainWhileBusy: Schedule.Schedule<unknown, unknown> = Schedule.spaced("50 millis").pipe(
  Schedule.intersect(Schedule.recurs(40)),
  Schedule.whileInput((error: unknown) => findBusy(Cause.fail(error)) !== undefined)
)

/** The SQLITE_BUSY error ("database is locked") in a cause, failure or defect, or what it wraps. */
const findBusy = (cause: Cause.Cause<unknown>): unknown =>
  Option.getOrUndefined(Cause.find(cause, (reason) => {
    let error = reason._tag === "Fail" ? reason.error : reason._tag === "Die" ? reason.defect : undefined
    for (let depth = 0; depth < 4 && typeof error === "object" && error !== null; depth++) {
      if ((error as { code?: unknown }).code === "SQLITE_BUSY") return Option.some(error)
      error = (error as { cause?: unknown }).cause
    }
    return Option.none()
  }))
