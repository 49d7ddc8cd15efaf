import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { SqlError } from "@effect/sql/SqlError"
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  identity,
  Layer,
  Option,
  Queue,
  Runtime,
  Schedule
} from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type * as State from "../../../State.js"
import type { StateRow } from "../../codec/storeCodec.js"
import { decodeState } from "../../codec/storeCodec.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import { checkTransition, listingOf, notHeld, recoveredState, releasedState, subscribeTo } from "../rules.js"
import { RunStore } from "../runStore.js"
import { readFinalNotice } from "./notices.js"
import { makePrepared } from "./prepared.js"
import { makeCall, openFailed } from "./retry.js"
import type { NewRunRow } from "./rows.js"
import { claimedRun, decodedOrCrashed, makeNewRow, stateRowOf, toRecord } from "./rows.js"
import { CANCELLING_CHANNEL, FINAL, FINAL_CHANNEL, runMigrations, SCHEDULED_CHANNEL } from "./schema.js"
import type { CancelRow, ChangeRow, RunRow } from "./statements.js"
import {
  CANCELS_SQLITE,
  CHANGES_SQLITE,
  CREATE_COLUMNS,
  CREATE_RUNS,
  CREATE_RUNS_ALIKE,
  pickParameters,
  pickSqlite,
  SHARED_COLUMNS,
  STORE_NOW_PG,
  STORE_NOW_SQLITE
} from "./statements.js"
import type { Condition } from "./writer.js"
import { makeWriter } from "./writer.js"

type Dialect = "sqlite" | "pg"

export { makePrepared } from "./prepared.js"

// ---------------------------------------------------------------------------------------------
// Subscriptions: pushed in this process and by NOTIFY, with a polling safety net
// ---------------------------------------------------------------------------------------------

type Listener = (state: AnyState) => void

type SqlOptions = RunStore_.SqlOptions

const make = (
  dialect: Dialect,
  options: SqlOptions & { readonly url?: string; readonly filename?: string },
  pool?: pg.Pool
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Logs from outside the store's fibers (a driver's callback, a subscriber's call) go through the
    // runtime the store was built in, so the user's Logger hears them.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    /**
     * The hot PostgreSQL statements (create, claim, state changes) have a fixed text (arrays in place
     * of VALUES lists) and run as named prepared statements on the pool: parsed and planned once per
     * connection, not once per call, and no statement compiled per call (see PLANNER_SETTINGS).
     */
    const prepared = makePrepared(pool!, (error) => {
      runFork(
        Effect.logWarning(
          "A run store connection refused a planner setting: it plans with the server's defaults",
          error
        )
      )
    })
    if (dialect === "sqlite") {
      // WAL with synchronous=NORMAL: commits do not wait for fsync; the database cannot be corrupted
      // by a crash, and only a power loss can drop the last commits. Several processes share one file.
      yield* Effect.orDie(sql`PRAGMA synchronous = NORMAL`)
    }
    yield* runMigrations.pipe(
      Effect.mapError((error) =>
        new Errors.RunStoreError({ message: `The run store's migrations failed: ${error.message}`, cause: error })
      )
    )
    const maxPoll = options.maxPollInterval ?? 1000
    const call = makeCall(options.reconnectFor)

    const listeners = new Map<string, Set<Listener>>()
    /** The last state sequence number each subscriber saw, so polling pushes each change once. */
    const seen = new Map<string, number>()
    const scheduledListeners = new Set<(name?: string) => void>()
    const cancellingListeners = new Set<(runId: string) => void>()
    let pollInterval = 10

    /**
     * Calls a subscriber. Subscribers are called from the store's own fibers (the writer, the
     * refresh) and its LISTEN connection: one that throws is reported, and stops nothing else.
     */
    const callSubscriber = (call: () => void) => {
      try {
        call()
      } catch (error) {
        runFork(Effect.logError("A run store subscriber threw", error))
      }
    }
    const push = (runId: string, state: AnyState) => {
      listeners.get(runId)?.forEach((listener) => callSubscriber(() => listener(state)))
    }
    /** `name`: the scheduled runs' task or flow, where known (a worker that serves other names sleeps on). */
    const pushScheduled = (name?: string) => {
      scheduledListeners.forEach((listener) => callSubscriber(() => listener(name)))
    }
    const pushCancelling = (runId: string) => {
      cancellingListeners.forEach((listener) => callSubscriber(() => listener(runId)))
    }

    const notFound = (runId: string) =>
      new Errors.RunNotFound({ runId, message: `Run ${runId} was not found in the run store.` })

    const readRun = (runId: string) =>
      Effect.map(
        sql<RunRow>`SELECT r.*, res.value AS result FROM taskflow_runs r
          LEFT JOIN taskflow_results res ON res.run_id = r.id WHERE r.id = ${runId}`,
        (rows) => rows[0] as RunRow | undefined
      )

    const getRun = (runId: string) =>
      call(
        `read run ${runId}`,
        Effect.flatMap(
          readRun(runId),
          (row): Effect.Effect<RunStore_.RunRecord, Errors.RunNotFound | Errors.SerializationError> =>
            row === undefined ? Effect.fail(notFound(runId)) : toRecord(row)
        )
      )

    /** Subscribed runs to read again: a notification arrived, a poll saw them change, or they are new. */
    const dirty = new Set<string>()
    /** States known without a read (a run this process created), to push to new subscribers. */
    const known = new Map<string, { readonly seq: number; readonly state: AnyState }>()
    const flushSignal = yield* Queue.sliding<void>(1)
    const markDirty = (runId: string) => {
      if (!listeners.has(runId)) return
      dirty.add(runId)
      Queue.unsafeOffer(flushSignal, undefined)
    }

    /**
     * Runs this process created (or is creating) and nobody has subscribed to yet, with the newest
     * state number heard of (and the state, when a notification carried it). A subscriber to one of
     * them needs no read of the run: `mapDelay` of 10,000 runs then costs no 10,000-row read back,
     * and a `delay` → `result` round trip no query before the final one. Only kept while changes by
     * other processes are sure to be heard (the LISTEN session is up, or SQLite's change poll), and
     * bounded: an entry dropped costs one read at subscription.
     */
    const fresh = new Map<string, { seq: number; state: AnyState | undefined }>()
    let hearing = dialect === "sqlite"
    /** Counts LISTEN sessions: a run created while one session was up is only known if it still is. */
    let listenSession = 0
    const FRESH_LIMIT = 100_000
    const remember = (runId: string, state: AnyState, createdIn: number) => {
      if (!hearing || createdIn !== listenSession || listeners.has(runId) || fresh.has(runId)) return
      if (fresh.size >= FRESH_LIMIT) fresh.delete(fresh.keys().next().value!)
      fresh.set(runId, { seq: 1, state })
    }
    /**
     * Another process changed a run to state number `seq` (undefined: unknown); `state` is the new
     * state when the notification carried it.
     */
    const heard = (runId: string, seq: number | undefined, state: AnyState | undefined) => {
      if (listeners.has(runId)) {
        const last = seen.get(runId)
        if (seq !== undefined && last !== undefined && last >= seq) return
        if (seq !== undefined && state !== undefined) {
          seen.set(runId, seq)
          push(runId, state)
        } else {
          markDirty(runId)
        }
        return
      }
      const entry = fresh.get(runId)
      if (entry === undefined || (seq !== undefined && seq <= entry.seq)) return
      entry.seq = seq ?? Number.MAX_SAFE_INTEGER
      entry.state = state
    }
    const wants = (runId: string) => listeners.has(runId) || fresh.has(runId)
    /** Pushes the states known without a read, then reads the dirty runs in batches and pushes each state its subscribers have not seen. */
    const flush = Effect.gen(function*() {
      for (const [runId, { seq, state }] of known) {
        known.delete(runId)
        if (seen.get(runId) === seq) push(runId, state)
      }
      while (dirty.size > 0) {
        const ids = Array.from(dirty).slice(0, 500)
        for (const id of ids) dirty.delete(id)
        const rows = yield* Effect.uninterruptible(sql<RunRow>`SELECT r.*, res.value AS result FROM taskflow_runs r
          LEFT JOIN taskflow_results res ON res.run_id = r.id WHERE ${sql.in("r.id", ids)}`)
        for (const row of rows) {
          if (!listeners.has(row.id)) continue
          const last = seen.get(row.id)
          if (last !== undefined && last >= Number(row.state_seq)) continue
          seen.set(row.id, Number(row.state_seq))
          push(row.id, decodedOrCrashed(row.name, row.id, stateRowOf(row), row.result))
        }
      }
    })
    yield* Queue.take(flushSignal).pipe(
      Effect.zipRight(Effect.catchAll(flush, (error) => Effect.logDebug("run store refresh failed", error))),
      Effect.forever,
      Effect.forkScoped
    )

    /** Every subscribed run's state number, read again: changes the reader has not seen are refreshed. */
    const pollAll = Effect.gen(function*() {
      const ids = Array.from(listeners.keys())
      for (let i = 0; i < ids.length; i += 500) {
        const rows = yield* Effect.uninterruptible(sql<{ id: string; state_seq: number }>`SELECT id, state_seq
          FROM taskflow_runs WHERE ${sql.in("id", ids.slice(i, i + 500))}`)
        for (const row of rows) {
          const last = seen.get(row.id)
          if (last === undefined || last < Number(row.state_seq)) markDirty(row.id)
        }
      }
    })

    if (dialect === "sqlite") {
      // SQLite has no notifications between processes, so polling is how other processes' changes
      // arrive: one cheap query for the history rows written since the last look (SQLite commits one
      // writer at a time, so rowids grow in commit order), 10 ms after a change, backing off to
      // `maxPollInterval` while nothing changes.
      let cursor = Number(
        (yield* Effect.orDie(sql<{ last: number | null }>`SELECT MAX(rowid) AS last FROM taskflow_run_states`))[0]
          .last ?? 0
      )
      const pollChanges = Effect.gen(function*() {
        const rows = yield* Effect.uninterruptible(sql.unsafe<ChangeRow>(CHANGES_SQLITE, [cursor]))
        // Only each followed run's newest state in this look (a claim writes Pending and Running at
        // once): the states in between are not decoded or pushed.
        const newest = new Map<string, ChangeRow>()
        for (const row of rows) {
          cursor = Math.max(cursor, Number(row.rowid))
          if (listeners.has(row.run_id) || fresh.has(row.run_id)) newest.set(row.run_id, row)
        }
        for (const [runId, row] of newest) {
          // The state itself: no read of the run. A result too large to carry in every poll is read
          // for its subscribers alone.
          const state = row.has_result && row.result === null
            ? undefined
            : decodedOrCrashed(row.run_name, runId, row, row.result)
          heard(runId, Number(row.seq), state)
        }
        pollInterval = rows.length > 0 ? 10 : Math.min(maxPoll, pollInterval * 2)
      })
      // Another process's commit on this machine writes the WAL file: watching it (inotify) wakes the
      // poll at once, and tells local workers a run may be claimable. The timer stays as the fallback
      // (a file system without change events, a missed event).
      const walChanged = yield* Queue.sliding<void>(1)
      if (options.filename !== undefined && options.filename !== ":memory:") {
        const wal = `${options.filename}-wal`
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            try {
              return fs.watch(wal, { persistent: false }, () => {
                Queue.unsafeOffer(walChanged, undefined)
                pushScheduled()
              })
            } catch {
              return undefined
            }
          }),
          (watcher) => Effect.sync(() => watcher?.close())
        )
      }
      // Cancels asked for in other processes, for a task worker here (it subscribes to them): nothing
      // is pushed between processes on SQLite, so after another process's commit this one looks for
      // new Cancelling states, at most every CANCEL_LOOK_MS, rather than leaving them to the worker's
      // next heartbeat. Cancels asked here are pushed by the writer (and may be pushed again here:
      // stopping a run twice does nothing more).
      let cancelCursor = cursor
      let cancelsDue = false
      let lastCancelLook = 0
      const lookForCancels = Effect.gen(function*() {
        const rows = yield* Effect.uninterruptible(sql.unsafe<CancelRow>(CANCELS_SQLITE, [cancelCursor]))
        for (const row of rows) {
          cancelCursor = Math.max(cancelCursor, Number(row.rowid))
          if (row.type === "CANCELLING") pushCancelling(row.run_id)
        }
      })
      yield* Effect.gen(function*() {
        while (true) {
          // With no subscriber, the timer only backs up the WAL watch for cancels.
          const timer = listeners.size > 0 ? pollInterval : maxPoll
          const sinceCancelLook = (yield* Clock.currentTimeMillis) - lastCancelLook
          const wait = cancelsDue ? Math.min(timer, Math.max(0, CANCEL_LOOK_MS - sinceCancelLook)) : timer
          const walWritten = yield* Effect.raceFirst(
            Effect.as(Effect.sleep(Duration.millis(wait)), false),
            Effect.as(Queue.take(walChanged), true)
          )
          if (listeners.size > 0) yield* Effect.ignore(pollChanges)
          if (cancellingListeners.size === 0) continue
          const now = yield* Clock.currentTimeMillis
          // Without change events from the file system, the timer alone: every `maxPollInterval`.
          if (walWritten || now - lastCancelLook >= maxPoll) cancelsDue = true
          if (cancelsDue && now - lastCancelLook >= CANCEL_LOOK_MS) {
            cancelsDue = false
            lastCancelLook = now
            yield* Effect.ignore(lookForCancels)
          }
        }
      }).pipe(Effect.forkScoped)
    }
    // The safety net on every store: all subscribed runs are read again every `maxPollInterval`, so
    // a lost notification (or a missed change) never hangs a wait for longer than that.
    yield* Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(Duration.millis(maxPoll))
        if (listeners.size > 0) yield* Effect.ignore(pollAll)
      }
    }).pipe(Effect.forkScoped)

    if (dialect === "pg" && options.url !== undefined) {
      // LISTEN on a connection of its own. A dropped connection (server restart) is noticed at once
      // and replaced with backoff; on each reconnect every subscribed run is read again, since
      // notifications sent while it was away are gone. (sql-pg's `listen` does not notice a dead
      // connection, so it is not used.)
      const url = options.url
      /** Done once the first LISTEN session is up. */
      const listening = yield* Deferred.make<void>()
      const session = Effect.gen(function*() {
        const lost = yield* Deferred.make<never, Error>()
        const client = yield* Effect.acquireRelease(
          Effect.tryPromise(async () => {
            const client = new pg.Client({ connectionString: url })
            client.on("error", (error) => Deferred.unsafeDone(lost, Exit.fail(error)))
            client.on("end", () => Deferred.unsafeDone(lost, Exit.fail(new Error("connection ended"))))
            await client.connect()
            return client
          }),
          (client) => Effect.promise(() => client.end().catch(() => undefined)).pipe(Effect.timeoutOption("1 second"))
        )
        client.on("notification", (message) => {
          if (message.payload === undefined) return
          if (message.channel === FINAL_CHANNEL) readFinalNotice(message.payload, { wants, heard })
          else if (message.channel === SCHEDULED_CHANNEL) pushScheduled(message.payload)
          else if (message.channel === CANCELLING_CHANNEL) pushCancelling(message.payload)
        })
        yield* Effect.tryPromise(() =>
          client.query(`LISTEN ${FINAL_CHANNEL}; LISTEN ${SCHEDULED_CHANNEL}; LISTEN ${CANCELLING_CHANNEL}`)
        )
        hearing = true
        listenSession++
        Deferred.unsafeDone(listening, Exit.void)
        yield* Effect.ignore(pollAll)
        pushScheduled()
        return yield* Deferred.await(lost)
      }).pipe(
        // Notifications sent while no session listens are gone: what was created meanwhile is read.
        Effect.ensuring(Effect.sync(() => {
          hearing = false
          listenSession++
          fresh.clear()
        })),
        Effect.scoped
      )
      yield* session.pipe(
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.either(Schedule.spaced("2 seconds")))),
        Effect.forkScoped
      )
      // The store is ready once it hears other processes: runs created before that are read back
      // when followed (a `mapDelay` right after opening read its whole batch back). Not for long: a
      // session that cannot come up is tried again in the background, and the store works without.
      yield* Deferred.await(listening).pipe(Effect.timeoutOption("2 seconds"))
    }

    // State changes and claims go through the group-commit write queue (sqlWriter.ts); what it
    // writes is pushed to this process's subscribers from there.

    /** Why a guarded update changed nothing. */
    const refusal = (runId: string, stored: AnyState, condition: Condition) =>
      Effect.map(readRun(runId), (current): Errors.RunNotFound | Errors.InvalidTransition => {
        if (current === undefined) return notFound(runId)
        if (condition.workerId !== undefined && current.worker_id !== condition.workerId) {
          return notHeld(runId, condition.workerId)
        }
        const currentState = state_.make(current.state_type as State.StateType) as AnyState
        return checkTransition(runId, currentState, stored) ?? new Errors.InvalidTransition({
          runId,
          message: `Run ${runId} changed while it was being moved to ${stored.type}.`
        })
      })

    const writer = yield* makeWriter({
      dialect,
      sql,
      prepared,
      refusal,
      onWritten: (runId, stored, condition) => {
        push(runId, stored)
        if (stored.type === "SCHEDULED" && condition.release === true) pushScheduled()
        // (On PostgreSQL, other processes hear it from the statement's NOTIFY; so may this one.)
        else if (stored.type === "CANCELLING") pushCancelling(runId)
      }
    })

    const transition = (
      runId: string,
      state: AnyState,
      setOptions: { readonly runCount?: number | undefined; readonly name?: string | undefined },
      condition: Condition
    ): Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | SqlError> =>
      // A worker's writes name the task: no read first (the hot path, without a generator).
      setOptions.name !== undefined
        ? writer.move(runId, setOptions.name, state, setOptions.runCount, condition)
        : Effect.flatMap(
          readRun(runId),
          (row) =>
            row === undefined
              ? Effect.fail(notFound(runId))
              : writer.move(runId, row.name, state, setOptions.runCount, condition)
        )

    const now = Clock.currentTimeMillis
    /** The store's clock, which times leases (see STORE_NOW_PG). */
    const storeNow = sql.literal(dialect === "pg" ? STORE_NOW_PG : STORE_NOW_SQLITE)

    const newRow = makeNewRow()

    /** Whether the rows differ only in their ids and parameters (CREATE_RUNS_ALIKE). */
    const alike = (rows: ReadonlyArray<NewRunRow>) =>
      rows.length > 1 && rows.every((row) => SHARED_COLUMNS.every((column) => row[column] === rows[0][column]))

    /** Many runs in few statements (500 a statement): how `mapDelay` schedules thousands at once. */
    const createRuns = (runs: ReadonlyArray<RunStore_.NewRun>) =>
      Effect.gen(function*() {
        const createdIn = hearing ? listenSession : -1
        // A plain loop, not a fiber step per run: `mapDelay` creates thousands at once.
        const rows: Array<NewRunRow> = new Array(runs.length)
        for (let i = 0; i < runs.length; i++) {
          const row = newRow(runs[i])
          if (Either.isLeft(row)) return yield* Effect.fail(row.left)
          rows[i] = row.right
        }
        const scheduled = Array.from(
          new Set(runs.filter((run) => run.state.type === "SCHEDULED").map((run) => run.name))
        )
        for (let i = 0; i < rows.length; i += 500) {
          const chunk = rows.slice(i, i + 500)
          // Known before the statement is sent: a worker can claim and finish a run, and its final
          // state be heard, before this process reads the statement's answer (or sends the batch's
          // next statement). Heard before the run was known, that state was dropped, and the run's
          // future waited for the polling fallback (up to `maxPollInterval`).
          for (let j = i; j < i + chunk.length; j++) remember(runs[j].id, runs[j].state, createdIn)
          yield* call(
            `create ${chunk.length === 1 ? `run ${chunk[0].id}` : `${chunk.length} runs`}`,
            // A retried insert after a lost reply finds its own rows: nothing is created twice.
            dialect === "pg"
              ? alike(chunk)
                ? prepared("taskflow_create_runs_alike", CREATE_RUNS_ALIKE, [
                  chunk.map((row) => row.id),
                  chunk.map((row) => row.parameters),
                  ...SHARED_COLUMNS.map((column) => chunk[0][column])
                ])
                : prepared(
                  "taskflow_create_runs",
                  CREATE_RUNS,
                  CREATE_COLUMNS.map((column) => chunk.map((row) => row[column]))
                )
              : Effect.gen(function*() {
                const inserted = yield* sql<{ id: string }>`INSERT INTO taskflow_runs ${sql.insert(chunk)}
                  ON CONFLICT (id) DO NOTHING RETURNING id`
                if (inserted.length === 0) return
                yield* sql`INSERT INTO taskflow_run_states (run_id, seq, type, name, message, timestamp, cause)
                  SELECT id, state_seq, state_type, state_name, state_message, state_timestamp, state_cause
                  FROM taskflow_runs WHERE ${sql.in("id", inserted.map((row) => row.id))}`
              }).pipe(sql.withTransaction)
          ).pipe(
            // Not created (or not known to be): read at subscription, as any run not created here.
            Effect.tapError(() =>
              Effect.sync(() => {
                for (let j = i; j < i + chunk.length; j++) fresh.delete(runs[j].id)
              })
            ),
            i === 0 ? identity : Effect.mapError(partlyCreated(i, rows.length))
          )
        }
        for (const run of runs) push(run.id, run.state)
        scheduled.forEach((name) => pushScheduled(name))
      })

    /** The Running runs `workerId` holds and does not know of (see `claimRuns`' `knows`). */
    const heldUnknown = (workerId: string, knows: (runId: string) => boolean) =>
      Effect.map(
        sql<RunRow>`SELECT * FROM taskflow_runs WHERE worker_id = ${workerId} AND state_type = 'RUNNING'`,
        (rows) => rows.filter((row) => !knows(row.id)).map((row) => claimedRun(row, Number(row.state_timestamp)))
      )

    /**
     * Workers with a claim sent and its answer not read (the connection dropped, or the store went
     * away): it may have committed. Their next claim attempt (the same call trying again, or the
     * next call) first takes the runs they hold and do not know of.
     */
    const claimsUnanswered = new Set<string>()

    const service: RunStore_.Service = {
      kind: dialect === "pg" ? "postgres" : "sqlite",
      createRun: (run) => createRuns([run]),
      createRuns,
      setState: (runId, state, setOptions) =>
        call(
          () => `move run ${runId} to ${state.type}`,
          transition(runId, state, { runCount: setOptions?.runCount, name: setOptions?.name }, {
            workerId: setOptions?.workerId
          })
        ),
      getRun,
      getHistory: (runId) =>
        call(
          `read the history of run ${runId}`,
          Effect.gen(function*() {
            const run = yield* readRun(runId)
            if (run === undefined) return yield* Effect.fail(notFound(runId))
            const rows = yield* sql<StateRow & { seq: number }>`SELECT * FROM taskflow_run_states
              WHERE run_id = ${runId} ORDER BY seq`
            return yield* Effect.forEach(rows, (row) =>
              Either.match(decodeState(run.name, runId, row, row.type === "COMPLETED" ? run.result : null), {
                onLeft: Effect.fail,
                onRight: Effect.succeed
              }))
          })
        ),
      listRuns: (filter) =>
        call(
          "list runs",
          Effect.gen(function*() {
            const listing = listingOf(filter)
            if (listing.stateTypes?.length === 0 || listing.limit === 0) return []
            const clauses = [
              ...(filter?.kind === undefined ? [] : [sql`r.kind = ${filter.kind}`]),
              ...(filter?.flowRunId === undefined ? [] : [sql`r.flow_run_id = ${filter.flowRunId}`]),
              ...(filter?.name === undefined ? [] : [sql`r.name = ${filter.name}`]),
              ...(listing.stateTypes === undefined ? [] : [sql.in("r.state_type", listing.stateTypes)])
            ]
            const direction = sql.literal(listing.newestFirst ? "DESC" : "ASC")
            const rows = yield* sql<RunRow>`SELECT r.*, res.value AS result FROM taskflow_runs r
              LEFT JOIN taskflow_results res ON res.run_id = r.id
              ${clauses.length === 0 ? sql`` : sql`WHERE ${sql.and(clauses)}`}
              ORDER BY r.created_at ${direction}, r.id ${direction}
              ${listing.limit === undefined ? sql`` : sql`LIMIT ${listing.limit}`}`
            return yield* Effect.forEach(
              rows,
              (row) => Either.match(toRecord(row), { onLeft: Effect.fail, onRight: Effect.succeed })
            )
          })
        ),
      cancelRun: (runId) =>
        Effect.gen(function*() {
          while (true) {
            const run = yield* getRun(runId)
            if (state_.isFinal(run.state) || run.state.type === "CANCELLING") return run.state
            const timestamp = new Date(yield* now)
            const unheld = run.workerId === undefined
            const next = unheld
              ? state_.cancelled({ timestamp, message: "Cancelled before a task worker started it." })
              : state_.cancelling({ timestamp })
            const moved = yield* call(
              `cancel run ${runId}`,
              Effect.either(
                transition(runId, next, { name: run.name }, unheld ? { unheld } : { workerId: run.workerId })
              )
            )
            // Refused: a worker claimed or finished it meanwhile. Read again and decide again.
            if (Either.isRight(moved)) return next
          }
        }),
      claimRuns: ({ knows, lease, limit, names, workerId }) =>
        call(
          "claim runs",
          Effect.gen(function*() {
            if (names.length === 0 || limit <= 0) return []
            // The last claim's answer was lost: its runs are held by this worker, which does not
            // know them. They are this claim's first.
            const unanswered = claimsUnanswered.has(workerId) && knows !== undefined
              ? (yield* heldUnknown(workerId, knows)).slice(0, limit)
              : []
            claimsUnanswered.delete(workerId)
            const room = limit - unanswered.length
            if (room <= 0) return unanswered
            const millis = yield* now
            if (dialect === "sqlite") {
              // Look before queuing for the write lock: an idle worker's claim then costs no lock at all.
              const candidates = yield* sql.unsafe<{ id: string }>(
                pickSqlite(names.length),
                pickParameters(names, room)
              )
              if (candidates.length === 0) return unanswered
            }
            // Through the write queue: it rides with the moves of this worker's finished runs.
            claimsUnanswered.add(workerId)
            const rows = yield* writer.claim({ names, limit: room, workerId, lease, millis })
            claimsUnanswered.delete(workerId)
            if (rows.length === 0) return unanswered
            const claimed = rows.map((row) => claimedRun(row, millis))
            return unanswered.length === 0 ? claimed : unanswered.concat(claimed)
          })
        ),
      heartbeat: (workerId, runIds, lease) =>
        call(
          "renew leases",
          Effect.gen(function*() {
            if (runIds.length === 0) return { cancelling: [], lost: [] }
            const held = new Map<string, string>()
            for (let i = 0; i < runIds.length; i += 500) {
              const ids = runIds.slice(i, i + 500)
              // PostgreSQL: rows another statement of this worker is writing right now (their final
              // state) are skipped, not waited for: waiting on them in another order could deadlock.
              const rows = yield* sql<{ id: string; state_type: string }>`UPDATE taskflow_runs
                SET lease_expires_at = ${storeNow} + ${lease}
                WHERE ${
                dialect === "pg"
                  ? sql`id IN (SELECT id FROM taskflow_runs WHERE worker_id = ${workerId} AND ${sql.in("id", ids)}
                      FOR UPDATE SKIP LOCKED)`
                  : sql`worker_id = ${workerId} AND ${sql.in("id", ids)}`
              }
                RETURNING id, state_type`
              for (const row of rows) held.set(row.id, row.state_type)
            }
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
        ),
      releaseRuns: (workerId, runIds, message) =>
        Effect.forEach(runIds, (runId) =>
          Effect.gen(function*() {
            const run = yield* Effect.either(getRun(runId))
            if (Either.isLeft(run) || run.right.workerId !== workerId || state_.isFinal(run.right.state)) return
            const next = releasedState(run.right.state, workerId, new Date(yield* now), message)
            yield* call(
              `release run ${runId}`,
              Effect.ignore(transition(runId, next, { name: run.right.name }, { workerId, release: true }))
            )
          }), { discard: true }),
      recoverExpired: () =>
        call(
          "recover runs of stopped workers",
          Effect.gen(function*() {
            const millis = yield* now
            // Expired by the store's clock; the time read is the guard of every recovery below.
            const rows = yield* sql<RunRow & { readonly store_now: number }>`SELECT *, ${storeNow} AS store_now
              FROM taskflow_runs WHERE worker_id IS NOT NULL AND lease_expires_at < ${storeNow}`
            const recovered: Array<string> = []
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
              if (Either.isRight(moved)) recovered.push(row.id)
            }
            return recovered
          })
        ),
      unsafeSubscribe: (runId, onChange) => {
        let set = listeners.get(runId)
        if (set === undefined) {
          set = new Set()
          listeners.set(runId, set)
        }
        set.add(onChange)
        const entry = fresh.get(runId)
        fresh.delete(runId)
        if (entry !== undefined && set.size === 1 && entry.state !== undefined) {
          // Known without a read (created here, every later change heard): pushed soon, not now.
          seen.set(runId, entry.seq)
          known.set(runId, { seq: entry.seq, state: entry.state })
          Queue.unsafeOffer(flushSignal, undefined)
        } else {
          // The current state is read (batched with other new subscribers) and pushed: a change
          // between a caller's read and this subscription is never missed.
          seen.delete(runId)
          markDirty(runId)
        }
        pollInterval = 10
        return () => {
          set.delete(onChange)
          if (set.size === 0 && listeners.get(runId) === set) {
            listeners.delete(runId)
            seen.delete(runId)
          }
        }
      },
      unsafeSubscribeScheduled: subscribeTo(scheduledListeners),
      unsafeSubscribeCancelling: subscribeTo(cancellingListeners)
    }
    return service
  })

/** @internal */
export const sqliteLayer = (
  options: { readonly filename: string } & SqlOptions
): Layer.Layer<RunStore, Errors.RunStoreError> =>
  Layer.scoped(RunStore, make("sqlite", options)).pipe(
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

/**
 * A batch's failure after its first `created` runs were written (each statement commits its own):
 * those exist and will run, and the error says so, since the caller gets no futures for them.
 */
const partlyCreated = (created: number, total: number) => <E>(error: E): E | Errors.RunStoreError =>
  error instanceof Errors.RunStoreError
    ? new Errors.RunStoreError({
      message: `${error.message} The batch's first ${created} of ${total} runs were created before that, ` +
        `and will run (listRuns finds them); the other ${total - created} were not created.`,
      cause: error.cause
    })
    : error

/**
 * The least time between two looks for cancels asked in other processes (SQLite): a busy store's
 * file changes at every commit, and each look reads the history rows written since the last one.
 */
const CANCEL_LOOK_MS = 50

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

/** @internal */
export const postgresLayer = (
  options: { readonly url: string; readonly maxConnections?: number } & SqlOptions
): Layer.Layer<RunStore, Errors.RunStoreError> =>
  Layer.scoped(
    RunStore,
    Effect.gen(function*() {
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new pg.Pool({
            connectionString: options.url,
            connectionTimeoutMillis: 5_000,
            max: options.maxConnections ?? 10,
            application_name: "effect-taskflow"
          })
          // A server restart or shutdown makes every open connection emit "error", pooled or checked
          // out (sql-pg listens once per query): without these listeners Node treats a second one as
          // an uncaught exception. The calls themselves see the failure and reconnect.
          pool.on("error", () => {})
          pool.on("connect", (client) => client.on("error", () => {}))
          return pool
        }),
        (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeoutOption("1 second"))
      )
      // The same pool serves @effect/sql's client and the prepared hot statements.
      const client = yield* Layer.build(PgClient.layerFromPool({ acquire: Effect.succeed(pool) }))
      return yield* Effect.provide(make("pg", options, pool), client)
    })
  ).pipe(Layer.catchAllCause(openFailed("PostgreSQL")))
