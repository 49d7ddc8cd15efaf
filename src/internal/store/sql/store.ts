/**
 * A SQL store, assembled from its parts: the dialect's record, the reconnecting call, the
 * subscriptions and the dialect's following of other processes, the group-commit writer, and the
 * reads and writes built on them.
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import * as state_ from "../../core/state.js"
import { unclaimedAfterMillis } from "../rules.js"
import { installRunLogs, RunLogsKey } from "../runLogs.js"
import type { MaybeRunLogs } from "../runLogs.js"
import { followLogs } from "../runLogs.js"
import type { MaybeClaimThen, MaybeCountScheduled, MaybeInProcessLeases, MaybeUnclaimedAfter } from "../runStore.js"
import { CountScheduledKey, DEFAULT_UNCLAIMED_AFTER, InProcessLeasesKey, UnclaimedAfterKey } from "../runStore.js"
import type { Dialect } from "./dialect.js"
import { maxPollIntervalOf } from "./dialect.js"
import { makeFinding } from "./finding.js"
import type { InProcessHolds } from "./inProcess.js"
import { inProcessTiming, makeInProcessHolds } from "./inProcess.js"
import { makeGetLogs } from "./logs.js"
import { makeReads } from "./reads.js"
import { makeCall } from "./retry.js"
import { runMigrations } from "./schema.js"
import { makeSubscriptions } from "./subscriptions.js"
import { makeRenewInProcess, makeWorkerCalls, scheduledCountStatement } from "./workerCalls.js"
import { makeWriter } from "./writer.js"
import { makeCancelRun, makeCreateRuns, makeTransition, refusal } from "./writes.js"

/** The RunStore service of a SQL store, for as long as the scope is open. */
export const makeStore = (
  dialect: Dialect,
  options: RunStore_.SqlOptions
): Effect.Effect<RunStore_.Service, Errors.RunStoreError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* dialect.setUp
    yield* runMigrations.pipe(
      Effect.mapError((error) =>
        new Errors.RunStoreError({ message: `The run store's migrations failed: ${error.message}`, cause: error })
      )
    )
    const call = makeCall(options.reconnectFor)
    const subscriptions = yield* makeSubscriptions(sql, maxPollIntervalOf(options))
    const following = yield* dialect.follow(subscriptions)
    // State changes and claims go through the group-commit write queue; what it writes is pushed
    // to this process's subscribers from there.
    const writer = yield* makeWriter({
      writeBatch: dialect.writeBatch,
      writeLogs: dialect.writeLogs,
      onLogsWritten: subscriptions.pushLogs,
      finalNotices: dialect.finalNotices,
      refusal: refusal(sql),
      onWritten: (runId, stored, condition) => {
        subscriptions.push(runId, stored)
        if (stored.type === "SCHEDULED" && condition.release === true) subscriptions.pushScheduled()
        // (Other processes hear it from the dialect's following, as this one may.)
        else if (stored.type === "CANCELLING") subscriptions.pushCancelling(runId)
      }
    })
    const transition = makeTransition(sql, writer)
    const unclaimedAfter = unclaimedAfterMillis(options.unclaimedAfter, DEFAULT_UNCLAIMED_AFTER)
    const { getHistory, getRun, listRunsPage } = makeReads(sql, call, { storeNow: dialect.storeNow, unclaimedAfter })
    const workerCalls = makeWorkerCalls({ sql, dialect, call, writer, transition })
    const timing = inProcessTiming(options.inProcessLease)
    const holds: InProcessHolds = yield* makeInProcessHolds({
      ...timing,
      heartbeat: makeRenewInProcess({ sql, dialect, call, writer, transition }),
      recoverExpired: workerCalls.recoverExpired,
      subscribeCancelling: subscriptions.subscribeCancelling,
      cancelUnattached: (runId): Effect.Effect<void, unknown> =>
        Effect.flatMap(Clock.currentTimeMillis, (millis) =>
          service.setState(
            runId,
            state_.cancelled({
              timestamp: new Date(millis),
              message: `Cancelled before process ${holds.holder} started it.`
            })
          ))
    })
    const createRuns = makeCreateRuns({
      call,
      dialect,
      subscriptions,
      holds: { holder: holds.holder, lease: timing.lease, track: holds.track }
    })
    const getLogs = makeGetLogs(sql, call)
    const unsafeSubscribe: RunStore_.Service["unsafeSubscribe"] = (runId, onChange) => {
      const unsubscribe = subscriptions.subscribe(runId, onChange)
      following.subscribed?.()
      return unsubscribe
    }
    const followable = { getLogs, unsafeSubscribe, unsafeSubscribeLogs: subscriptions.subscribeLogs }
    const service:
      & RunStore_.Service
      & MaybeUnclaimedAfter
      & MaybeClaimThen
      & MaybeRunLogs
      & MaybeInProcessLeases
      & MaybeCountScheduled = {
        kind: dialect.kind,
        [UnclaimedAfterKey]: unclaimedAfter,
        [CountScheduledKey]: (names) =>
          call("count Scheduled runs", scheduledCountStatement(sql, names)).pipe(
            Effect.map((rows) => new Map(rows.map((row) => [row.name, Number(row.count)])))
          ),
        createRun: (run) => createRuns([run]),
        createRuns,
        setState: (runId, state, setOptions) => {
          const write = (hold: ReturnType<InProcessHolds["guard"]>) =>
            call(
              () => `move run ${runId} to ${state.type}`,
              transition(runId, state, { runCount: setOptions?.runCount, name: setOptions?.name }, {
                workerId: hold?.workerId ?? setOptions?.workerId,
                attempt: setOptions?.attempt,
                ...(hold?.release === true ? { release: true } : {})
              })
            )
          if (setOptions?.workerId !== undefined) return write(undefined)
          // A run of this process: its writes carry its holder, so one after its lease was recovered is
          // refused. Guarded when the write runs, settled however it ends: the guard marks a change that
          // ends the hold until it settles (see `InProcessHolds.guard`).
          return Effect.acquireUseRelease(
            Effect.sync(() => holds.guard(runId, state)),
            write,
            (hold) => hold === undefined ? Effect.void : Effect.sync(() => holds.settled(runId, state))
          )
        },
        getRun,
        getHistory,
        listRuns: (filter) => Effect.map(listRunsPage(filter), (page) => page.runs),
        listRunsPage,
        ...makeFinding({ sql, call, subscriptions }),
        cancelRun: makeCancelRun({ call, getRun, holds, transition }),
        ...workerCalls,
        [InProcessLeasesKey]: holds,
        unsafeSubscribe,
        unsafeSubscribeScheduled: subscriptions.subscribeScheduled,
        unsafeSubscribeCancelling: subscriptions.subscribeCancelling,
        // What runs log goes through the group-commit writer, before their state changes.
        [RunLogsKey]: { append: writer.log },
        getLogs,
        followLogs: (runId, followOptions) => followLogs(followable, runId, followOptions)
      }
    // The store's layer records what runs log into it (runLogs.ts).
    yield* installRunLogs(service)
    return service
    // The store's own fibers (the writer, the following of other processes) inherit this: no spans.
  }).pipe(Effect.withTracerEnabled(false))
