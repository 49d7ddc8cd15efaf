/**
 * The PostgreSQL store: its dialect record (hot statements prepared, final states and schedules
 * pushed to every process by NOTIFY, heard on a LISTEN session of its own) and its layer.
 * @internal
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import pg from "pg"
import type * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import { RunStore } from "../runStore.js"
import type { Dialect, Followers, Following } from "./dialect.js"
import { logNoticeIds, LOGS_CHANNEL, pgLogParameters, WRITE_LOGS_PG } from "./logs.js"
import { noticeChunks, readFinalNotice } from "./notices.js"
import type { Prepared } from "./prepared.js"
import { makePrepared } from "./prepared.js"
import { openFailed } from "./retry.js"
import type { NewRunRow } from "./rows.js"
import { CANCELLING_CHANNEL, FINAL_CHANNEL, SCHEDULED_CHANNEL } from "./schema.js"
import type { RunRow } from "./statements.js"
import {
  CLAIM_RUNS,
  CREATE_COLUMNS,
  CREATE_RUNS,
  CREATE_RUNS_ALIKE,
  SHARED_COLUMNS,
  STORE_NOW_PG,
  WRITE_STATES,
  WRITE_STATES_AND_CLAIM
} from "./statements.js"
import { makeStore } from "./store.js"
import { logOnStoreRuntime } from "./subscriptions.js"
import type { QueuedClaim, QueuedMove, Written } from "./writer.js"
import { noneWritten } from "./writer.js"

/** @internal */
export const postgresLayer = (
  options: { readonly url: string; readonly maxConnections?: number } & RunStore_.SqlOptions
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
      return yield* Effect.flatMap(postgresDialect(pool, options.url), (dialect) => makeStore(dialect, options)).pipe(
        Effect.provide(client)
      )
    })
  ).pipe(Layer.catchAllCause(openFailed("PostgreSQL")))

/**
 * PostgreSQL's record: the store at `url`, whose hot statements (create, claim, state changes) have
 * fixed texts (arrays in place of VALUES lists) and run as named prepared statements on `pool`,
 * parsed and planned once per connection (see PLANNER_SETTINGS).
 */
export const postgresDialect = (pool: pg.Pool, url: string): Effect.Effect<Dialect, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const log = yield* logOnStoreRuntime
    const prepared = makePrepared(pool, (error) => {
      log(
        Effect.logWarning(
          "A run store connection refused a planner setting: it plans with the server's defaults",
          error
        )
      )
    })
    return {
      kind: "postgres",
      setUp: Effect.void,
      storeNow: STORE_NOW_PG,
      insertRuns: (chunk) => insertRuns(prepared, chunk),
      // Rows another statement of this worker is writing right now (their final state) are skipped,
      // not waited for: waiting on them in another order could deadlock.
      heldBy: (workerId, ids) =>
        sql`id IN (SELECT id FROM taskflow_runs WHERE worker_id = ${workerId} AND ${sql.in("id", ids)}
          FOR UPDATE SKIP LOCKED)`,
      writeBatch: (batch, claim) => writeBatch(prepared, batch, claim),
      // Its own statement, before the batch's: a line that fails never fails a state change.
      writeLogs: (lines) => prepared("taskflow_write_logs", WRITE_LOGS_PG, pgLogParameters(lines)),
      finalNotices: true,
      follow: (followers) => listen(url, followers)
    }
  })

/** Whether the rows differ only in their ids and parameters (CREATE_RUNS_ALIKE). */
const alike = (rows: ReadonlyArray<NewRunRow>) =>
  rows.length > 1 && rows.every((row) => SHARED_COLUMNS.every((column) => row[column] === rows[0][column]))

const insertRuns = (prepared: Prepared, chunk: ReadonlyArray<NewRunRow>) =>
  alike(chunk)
    ? prepared("taskflow_create_runs_alike", CREATE_RUNS_ALIKE, [
      chunk.map((row) => row.id),
      chunk.map((row) => row.parameters),
      ...SHARED_COLUMNS.map((column) => chunk[0][column])
    ])
    : prepared("taskflow_create_runs", CREATE_RUNS, CREATE_COLUMNS.map((column) => chunk.map((row) => row[column])))

/** The single row the batch statements return (see CLAIM_RUNS, WRITE_STATES). */
interface BatchRow {
  readonly moved?: ReadonlyArray<string> | null
  readonly claimed?: ReadonlyArray<RunRow> | null
}

const written = (rows: ReadonlyArray<BatchRow>): Written => ({
  moved: new Set(rows[0]?.moved ?? []),
  claimed: rows[0]?.claimed ?? []
})

const claimParameters = (claim: QueuedClaim) => [claim.names, claim.limit, claim.millis, claim.workerId, claim.lease]

/** A batch in one statement: the moves as one array per column, with the claim when there is one. */
const writeBatch = (
  prepared: Prepared,
  batch: ReadonlyArray<QueuedMove>,
  claim: QueuedClaim | undefined
): Effect.Effect<Written, SqlError> => {
  if (batch.length === 0) {
    return claim === undefined
      ? Effect.succeed(noneWritten)
      : Effect.map(prepared<BatchRow>("taskflow_claim_runs", CLAIM_RUNS, claimParameters(claim)), written)
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
    noticeChunks(batch),
    batch.map((move) => move.condition.givenBack === true),
    batch.map((move) => move.condition.attempt ?? null)
  ]
  return claim === undefined
    ? Effect.map(prepared<BatchRow>("taskflow_write_states", WRITE_STATES, moves), written)
    : Effect.map(
      prepared<BatchRow>("taskflow_write_states_and_claim", WRITE_STATES_AND_CLAIM, [
        ...moves,
        ...claimParameters(claim)
      ]),
      written
    )
}

/**
 * LISTENs on a connection of its own. A dropped connection (server restart) is noticed at once and
 * replaced with backoff; on each reconnect every subscribed run is read again, since notifications
 * sent while it was away are gone. (sql-pg's `listen` does not notice a dead connection.)
 *
 * The store is ready once it hears other processes: runs created before that are read back when
 * followed (a `mapDelay` right after opening read its whole batch back). Not for long: a session
 * that cannot come up is tried again in the background, and the store works without.
 */
const listen = (url: string, followers: Followers): Effect.Effect<Following, never, Scope.Scope> =>
  Effect.gen(function*() {
    /** Done once the first LISTEN session is up. */
    const listening = yield* Deferred.make<void>()
    yield* listenSession(url, followers, listening).pipe(
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.either(Schedule.spaced("2 seconds")))),
      Effect.forkScoped
    )
    yield* Deferred.await(listening).pipe(Effect.timeoutOption("2 seconds"))
    return {}
  })

/** One LISTEN session: up until its connection is lost (it then fails). */
const listenSession = (url: string, followers: Followers, listening: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
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
      if (message.channel === FINAL_CHANNEL) readFinalNotice(message.payload, followers)
      else if (message.channel === SCHEDULED_CHANNEL) followers.pushScheduled(message.payload)
      else if (message.channel === CANCELLING_CHANNEL) followers.pushCancelling(message.payload)
      else if (message.channel === LOGS_CHANNEL) followers.pushLogs(logNoticeIds(message.payload))
    })
    yield* Effect.tryPromise(() =>
      client.query(
        `LISTEN ${FINAL_CHANNEL}; LISTEN ${SCHEDULED_CHANNEL}; LISTEN ${CANCELLING_CHANNEL}; LISTEN ${LOGS_CHANNEL}`
      )
    )
    followers.startHearing()
    Deferred.unsafeDone(listening, Exit.void)
    yield* Effect.ignore(followers.readAllAgain)
    followers.pushScheduled()
    // Lines written while no session listened: their followers read again.
    followers.pushLogs(undefined)
    return yield* Deferred.await(lost)
  }).pipe(
    // Notifications sent while no session listens are gone: what was created meanwhile is read.
    Effect.ensuring(Effect.sync(followers.stopHearing)),
    Effect.scoped
  )
