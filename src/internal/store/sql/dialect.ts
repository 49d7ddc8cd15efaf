/**
 * What differs between the SQL stores' databases, as one record per dialect (sqlite.ts,
 * postgres.ts), in the way @effect/sql keeps one compiler per dialect: the shared code (store.ts
 * and the files it assembles) asks the record, never which database it is.
 * @internal
 */
import type { Statement } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { NoticeReader } from "./notices.js"
import type { NewRunRow } from "./rows.js"
import type { WriteBatch, WriteLogs } from "./writer.js"

/** What differs between SQLite and PostgreSQL: one record each (sqlite.ts, postgres.ts). @internal */
export interface Dialect {
  /** The store's `kind`. */
  readonly kind: "sqlite" | "postgres"
  /** Sets the connection up, before the migrations run. */
  readonly setUp: Effect.Effect<void>
  /**
   * The store's clock, in milliseconds since the epoch, as SQL: leases are set and judged by it,
   * never by the clocks of the workers' machines (see STORE_NOW_PG).
   */
  readonly storeNow: string
  /**
   * Inserts new runs (500 at most) with their first history row, and tells the workers of other
   * processes where it can; an insert tried again after a lost answer finds its own rows.
   */
  readonly insertRuns: (rows: ReadonlyArray<NewRunRow>) => Effect.Effect<unknown, SqlError>
  /** The condition a heartbeat renews the leases of: the runs among `ids` that `workerId` holds. */
  readonly heldBy: (workerId: string, ids: ReadonlyArray<string>) => Statement.Fragment
  /**
   * The runs of `names` a claim would take, looked for before it queues for the write lock (an idle
   * worker's claim then costs no lock): none, and no claim is sent. Absent: the claim itself looks.
   */
  readonly claimable?: (names: ReadonlyArray<string>, limit: number) => Effect.Effect<ReadonlyArray<unknown>, SqlError>
  /** Writes a batch of the group commit: state changes and at most one claim (writer.ts). */
  readonly writeBatch: WriteBatch
  /** Writes a batch of run log lines (logs.ts), and tells other processes which runs logged where it can. */
  readonly writeLogs: WriteLogs
  /** Whether final states reach other processes as notification lines (notices.ts), built as each change is queued. */
  readonly finalNotices: boolean
  /** Follows the changes of other processes, for as long as the scope is open. */
  readonly follow: (followers: Followers) => Effect.Effect<Following, never, Scope.Scope>
}

/** What a dialect's following of other processes tells the store's subscriptions (follow.ts). */
export interface Followers extends NoticeReader {
  /** Whether anyone here follows a run. */
  readonly anyFollowed: () => boolean
  /** Whether a task worker here follows cancels. */
  readonly anyFollowingCancels: () => boolean
  /** Runs were scheduled (of the task or flow `name`, where known). */
  readonly pushScheduled: (name?: string) => void
  /** Run `runId` was asked to cancel. */
  readonly pushCancelling: (runId: string) => void
  /** Whether anyone here follows a run's logs. */
  readonly anyFollowingLogs: () => boolean
  /** Lines of these runs were written (undefined: of any run). */
  readonly pushLogs: (runIds: Iterable<string> | undefined) => void
  /** Reads every followed run's state number again: the changes missed are read and pushed. */
  readonly readAllAgain: Effect.Effect<void, SqlError>
  /** From now on, every change by another process is sure to be heard. */
  readonly startHearing: () => void
  /** Changes by other processes may go unheard (until `startHearing`). */
  readonly stopHearing: () => void
}

/** A dialect's following, running. */
export interface Following {
  /** Someone subscribed to a run. */
  readonly subscribed?: () => void
}

/** The slowest the polling fallback gets: `SqlOptions.maxPollInterval`, 1 second by default. @internal */
export const maxPollIntervalOf = (options: { readonly maxPollInterval?: number | undefined }): number =>
  options.maxPollInterval ?? 1000
