/**
 * Subscriptions of a SQL store: pushed in this process (from the writer fiber), from other
 * processes (by each dialect's following: PostgreSQL's LISTEN, SQLite's change poll), with a
 * polling safety net.
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { AnyState } from "../../core/state.js"
import { subscribeTo } from "../rules.js"
import type { Followers } from "./dialect.js"
import { decodedOrCrashed, stateRowOf } from "./rows.js"
import type { RunRow } from "./statements.js"

type Listener = (state: AnyState) => void

/**
 * Logs from outside the store's fibers (a driver's callback, a subscriber's call), on the runtime
 * the store was built in, so the user's Logger hears them. Captured once, when the store is built.
 */
export const logOnStoreRuntime: Effect.Effect<(log: Effect.Effect<void>) => void> = Effect.map(
  Effect.runtime<never>(),
  (runtime) => {
    const runFork = Runtime.runFork(runtime)
    return (log) => {
      runFork(log)
    }
  }
)

/**
 * A run created here that nobody follows yet: the newest state number heard of, and its state when
 * carried, decoded only when someone follows the run (with the Schemas registered by then).
 */
interface Created {
  seq: number
  /** The state as created here. */
  state: AnyState | undefined
  /** The newest state heard of, to decode. */
  decode: (() => AnyState) | undefined
}

const CREATED_LIMIT = 100_000

/**
 * What this process knows of the runs it follows, so that each change is pushed once and read only
 * when it must be, by run id:
 * - `listeners`: the subscribers of each run;
 * - `pushedSeq`: per subscribed run, the state number its subscribers last got;
 * - `toRead`: subscribed runs to read again (a notification without the state, a poll saw them
 *   change, a new subscriber), by the refresh fiber, which `wakeRefresh` wakes;
 * - `toPush`: states known without a read, pushed to new subscribers by the refresh fiber;
 * - `createdHere`: runs this process created (or is creating) and nobody has subscribed to yet, with
 *   the newest state heard of. A subscriber to one of them needs no read: `mapDelay` of 10,000 runs
 *   then costs no 10,000-row read back, and a `delay` → `result` round trip no query before the
 *   final one. Kept only while changes by other processes are sure to be heard (the LISTEN session
 *   is up, or SQLite's change poll), and bounded: an entry dropped costs one read at subscription.
 */
const makeFollowedRuns = (refreshSignal: Queue.Queue<void>) => {
  const listeners = new Map<string, Set<Listener>>()
  const toRead = new Set<string>()
  const createdHere = new Map<string, Created>()
  let hearing = false
  /** Counts hearing sessions: a run created while one session was up is only known if it still is. */
  let session = 0
  const wakeRefresh = () => Queue.unsafeOffer(refreshSignal, undefined)
  return {
    refreshSignal,
    listeners,
    pushedSeq: new Map<string, number>(),
    toRead,
    toPush: new Map<string, { readonly seq: number; readonly state: AnyState }>(),
    createdHere,
    wakeRefresh,
    markToRead: (runId: string) => {
      if (!listeners.has(runId)) return
      toRead.add(runId)
      wakeRefresh()
    },
    /** The hearing session a create starts in (-1: none). */
    creatingIn: () => hearing ? session : -1,
    /** Remembers a run this process creates, from before its statement is sent, if it was created in this session. */
    remember: (runId: string, state: AnyState, createdIn: number) => {
      if (!hearing || createdIn !== session || listeners.has(runId) || createdHere.has(runId)) return
      if (createdHere.size >= CREATED_LIMIT) createdHere.delete(createdHere.keys().next().value!)
      createdHere.set(runId, { seq: 1, state, decode: undefined })
    },
    /** From now on, every change by another process is sure to be heard. */
    startHearing: () => {
      hearing = true
      session++
    },
    /** Changes by other processes may go unheard: what was created here is read when followed. */
    stopHearing: () => {
      hearing = false
      session++
      createdHere.clear()
    }
  }
}

type FollowedRuns = ReturnType<typeof makeFollowedRuns>

/** The pushes to a store's subscribers. */
const makePushes = (listeners: FollowedRuns["listeners"], log: (log: Effect.Effect<void>) => void) => {
  const scheduledListeners = new Set<(name?: string) => void>()
  const cancellingListeners = new Set<(runId: string) => void>()
  const logListeners = new Map<string, Set<() => void>>()
  /**
   * Calls a subscriber. Subscribers are called from the store's own fibers (the writer, the
   * refresh) and its LISTEN connection: one that throws is reported, and stops nothing else.
   */
  const callSubscriber = (call: () => void) => {
    try {
      call()
    } catch (error) {
      log(Effect.logError("A run store subscriber threw", error))
    }
  }
  return {
    scheduledListeners,
    cancellingListeners,
    logListeners,
    pushLogs: (runIds: Iterable<string> | undefined) => {
      if (logListeners.size === 0) return
      if (runIds === undefined) {
        logListeners.forEach((set) => set.forEach((listener) => callSubscriber(listener)))
        return
      }
      for (const runId of runIds) logListeners.get(runId)?.forEach((listener) => callSubscriber(listener))
    },
    push: (runId: string, state: AnyState) => {
      listeners.get(runId)?.forEach((listener) => callSubscriber(() => listener(state)))
    },
    /** `name`: the scheduled runs' task or flow, where known (a worker that serves other names sleeps on). */
    pushScheduled: (name?: string) => {
      scheduledListeners.forEach((listener) => callSubscriber(() => listener(name)))
    },
    pushCancelling: (runId: string) => {
      cancellingListeners.forEach((listener) => callSubscriber(() => listener(runId)))
    }
  }
}

type Push = (runId: string, state: AnyState) => void

/** A store's subscriptions, as the store and its dialect's following use them. */
export interface Subscriptions extends Followers {
  /** A change written by this process. */
  readonly push: Push
  /** The hearing session a create starts in (-1: none); see `remember`. */
  readonly creatingIn: () => number
  /** A run this process creates, remembered from before its statement is sent (created in session `createdIn`). */
  readonly remember: (runId: string, state: AnyState, createdIn: number) => void
  /** A run not created after all (or not known to be): read at subscription, as any other. */
  readonly forget: (runId: string) => void
  readonly subscribe: (runId: string, onChange: Listener) => () => void
  readonly subscribeScheduled: (listener: (name?: string) => void) => () => void
  readonly subscribeCancelling: (listener: (runId: string) => void) => () => void
  /** Calls `listener` when lines of the run may have been written (here, or heard of from another process). */
  readonly subscribeLogs: (runId: string, listener: () => void) => () => void
}

/**
 * A store's subscriptions, with their refresh fiber and the safety net: every subscribed run is read
 * again every `maxPoll` ms, so a lost notification (or a missed change) never hangs a wait for
 * longer than that.
 */
export const makeSubscriptions = (
  sql: SqlClient.SqlClient,
  maxPoll: number
): Effect.Effect<Subscriptions, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runs = makeFollowedRuns(yield* Queue.sliding<void>(1))
    const { listeners } = runs
    const pushes = makePushes(listeners, yield* logOnStoreRuntime)
    const { push } = pushes
    const readAll = readAllAgain(sql, runs)
    yield* Queue.take(runs.refreshSignal).pipe(
      Effect.zipRight(
        Effect.catchAll(refresh(sql, runs, push), (error) => Effect.logDebug("run store refresh failed", error))
      ),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.ignore(readAll).pipe(
      Effect.when(() => listeners.size > 0),
      Effect.schedule(Schedule.spaced(Duration.millis(maxPoll))),
      Effect.forkScoped
    )
    return {
      push,
      pushScheduled: pushes.pushScheduled,
      pushCancelling: pushes.pushCancelling,
      pushLogs: pushes.pushLogs,
      anyFollowingLogs: () => pushes.logListeners.size > 0,
      subscribeLogs: (runId, listener) => subscribeLogs(pushes.logListeners, runId, listener),
      anyFollowed: () => listeners.size > 0,
      anyFollowingCancels: () => pushes.cancellingListeners.size > 0,
      wants: (runId) => listeners.has(runId) || runs.createdHere.has(runId),
      heard: (runId, seq, state) => heard(runs, push, runId, seq, state),
      readAllAgain: readAll,
      startHearing: runs.startHearing,
      stopHearing: runs.stopHearing,
      creatingIn: runs.creatingIn,
      remember: runs.remember,
      forget: (runId) => {
        runs.createdHere.delete(runId)
      },
      subscribe: (runId, onChange) => subscribe(runs, runId, onChange),
      subscribeScheduled: subscribeTo(pushes.scheduledListeners),
      subscribeCancelling: subscribeTo(pushes.cancellingListeners)
    }
  })

/** Pushes the states known without a read, then reads the runs to read in batches and pushes each state its subscribers have not seen. */
const refresh = (sql: SqlClient.SqlClient, runs: FollowedRuns, push: Push) =>
  Effect.gen(function*() {
    for (const [runId, { seq, state }] of runs.toPush) {
      runs.toPush.delete(runId)
      if (runs.pushedSeq.get(runId) === seq) push(runId, state)
    }
    while (runs.toRead.size > 0) {
      const ids = Array.from(runs.toRead).slice(0, 500)
      for (const id of ids) runs.toRead.delete(id)
      const rows = yield* Effect.uninterruptible(sql<RunRow>`SELECT r.*, res.value AS result FROM taskflow_runs r
        LEFT JOIN taskflow_results res ON res.run_id = r.id WHERE ${sql.in("r.id", ids)}`)
      for (const row of rows) {
        if (!runs.listeners.has(row.id)) continue
        const last = runs.pushedSeq.get(row.id)
        if (last !== undefined && last >= Number(row.state_seq)) continue
        runs.pushedSeq.set(row.id, Number(row.state_seq))
        push(row.id, decodedOrCrashed(row.name, row.id, stateRowOf(row), row.result))
      }
    }
  })

/** Every subscribed run's state number, read again: the changes its subscribers have not seen are to read. */
const readAllAgain = (sql: SqlClient.SqlClient, runs: FollowedRuns): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const ids = Array.from(runs.listeners.keys())
    for (let i = 0; i < ids.length; i += 500) {
      const rows = yield* Effect.uninterruptible(sql<{ id: string; state_seq: number }>`SELECT id, state_seq
        FROM taskflow_runs WHERE ${sql.in("id", ids.slice(i, i + 500))}`)
      for (const row of rows) {
        const last = runs.pushedSeq.get(row.id)
        if (last === undefined || last < Number(row.state_seq)) runs.markToRead(row.id)
      }
    }
  })

/**
 * Another process changed a run to state number `seq` (undefined: unknown); `state` decodes the new
 * state when the notification carried it.
 */
const heard = (
  runs: FollowedRuns,
  push: Push,
  runId: string,
  seq: number | undefined,
  state: (() => AnyState) | undefined
) => {
  if (runs.listeners.has(runId)) {
    const last = runs.pushedSeq.get(runId)
    if (seq !== undefined && last !== undefined && last >= seq) return
    if (seq !== undefined && state !== undefined) {
      runs.pushedSeq.set(runId, seq)
      push(runId, state())
    } else {
      runs.markToRead(runId)
    }
    return
  }
  const entry = runs.createdHere.get(runId)
  if (entry === undefined || (seq !== undefined && seq <= entry.seq)) return
  entry.seq = seq ?? Number.MAX_SAFE_INTEGER
  entry.state = undefined
  entry.decode = state
}

/** Adds a subscriber to a run's changes; returns the function that removes it. */
const subscribe = (runs: FollowedRuns, runId: string, onChange: Listener) => {
  let set = runs.listeners.get(runId)
  if (set === undefined) {
    set = new Set()
    runs.listeners.set(runId, set)
  }
  set.add(onChange)
  const entry = runs.createdHere.get(runId)
  runs.createdHere.delete(runId)
  const known = entry?.decode?.() ?? entry?.state
  if (entry !== undefined && set.size === 1 && known !== undefined) {
    // Known without a read (created here, every later change heard): pushed soon, not now.
    runs.pushedSeq.set(runId, entry.seq)
    runs.toPush.set(runId, { seq: entry.seq, state: known })
    runs.wakeRefresh()
  } else {
    // The current state is read (batched with other new subscribers) and pushed: a change
    // between a caller's read and this subscription is never missed.
    runs.pushedSeq.delete(runId)
    runs.markToRead(runId)
  }
  const listeners = set
  return () => {
    listeners.delete(onChange)
    if (listeners.size === 0 && runs.listeners.get(runId) === listeners) {
      runs.listeners.delete(runId)
      runs.pushedSeq.delete(runId)
    }
  }
}

/** Adds a follower of a run's lines; returns the function that removes it. */
const subscribeLogs = (logListeners: Map<string, Set<() => void>>, runId: string, listener: () => void) => {
  let set = logListeners.get(runId)
  if (set === undefined) logListeners.set(runId, set = new Set())
  set.add(listener)
  const listeners = set
  return () => {
    listeners.delete(listener)
    if (listeners.size === 0 && logListeners.get(runId) === listeners) logListeners.delete(runId)
  }
}
