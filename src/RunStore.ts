/**
 * The run store records every task and flow run with its full state history, so that the state of
 * any run id can be read. One interface, three layers: `RunStore.memory`, `RunStore.sqlite` (embedded,
 * the default for the examples) and `RunStore.postgres` (for many machines).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Errors from "./Errors.js"
import * as memoryStore from "./internal/store/memory/memoryStore.js"
import * as internal from "./internal/store/runStore.js"
import type * as State from "./State.js"

/**
 * What kind of run a record is.
 *
 * @since 0.1.0
 * @category models
 */
export type RunKind = "task" | "flow"

/**
 * A run as the store keeps it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunRecord {
  /** The run's id (a future's `taskRunId`). */
  readonly id: string
  /** A task run or a flow run. */
  readonly kind: RunKind
  /** The task's or flow's name (its key). */
  readonly name: string
  /** The flow run this run belongs to, if any. */
  readonly flowRunId: string | undefined
  /** The task run that submitted this run, if any. */
  readonly parentTaskRunId: string | undefined
  /** The arguments the run was given. */
  readonly parameters: ReadonlyArray<unknown>
  /** The task's or flow's tags. */
  readonly tags: ReadonlyArray<string>
  /** How many times the run's body was started (1 + retries used). */
  readonly runCount: number
  /** How many retries the run may use (a worker that dies mid-run uses one). */
  readonly retries: number
  /** The run's current state (a Completed state carries the decoded result). */
  readonly state: State.State<unknown, unknown>
  /** When the run was created. */
  readonly createdAt: Date
  /**
   * The task worker holding the run, while one does; for a run a process runs itself on a SQL store,
   * that process (`process:<host>:<pid>:<random>`, see `SqlOptions.inProcessLease`).
   */
  readonly workerId: string | undefined
  /** When the holder's lease ends unless it renews it. */
  readonly leaseExpiresAt: Date | undefined
  /**
   * Set only on a Scheduled run that has waited at least the store's `unclaimedAfter` (30 seconds by
   * default) while no live task worker serves its task or flow name: how long it has waited. Such a
   * run stays Scheduled until a worker serving the name starts (`TaskWorker.serve`); a future waiting
   * on it logs a warning once. A worker is live while its heartbeats reach the store.
   */
  readonly unclaimedFor?: Duration.Duration
  /**
   * Set only by `listRuns`, on a run whose row in a SQL store does not read (tags that are not a JSON
   * array of strings, a state type no library writes, a result or failure that does not decode): what
   * is wrong, naming the run and the column. Such a record's `state` is Crashed named "Corrupt" with
   * the same message, so the listing still shows every other run. `getRun` fails on the same row with a
   * `SerializationError` (its `runId` set); a future on it reads it Crashed and its `result` fails
   * with `CrashedRun`.
   */
  readonly corrupt?: { readonly message: string }
  /** The run this one is a rerun of (`rerun`), if any. */
  readonly rerunOf: string | undefined
}

/**
 * A run to create.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewRun {
  /** The run's id, unique in the store. */
  readonly id: string
  /** A task run or a flow run. */
  readonly kind: RunKind
  /** The task's or flow's name: workers claim runs by it, SQL stores pick its Schemas by it. */
  readonly name: string
  /** The flow run this run belongs to, if any. */
  readonly flowRunId?: string | undefined
  /** The task run that submitted this run, if any. */
  readonly parentTaskRunId?: string | undefined
  /** The run's arguments (default none). */
  readonly parameters?: ReadonlyArray<unknown>
  /** Tags recorded with the run (default none). */
  readonly tags?: ReadonlyArray<string>
  /** Retries a task worker may use when the run's worker dies (default 0). */
  readonly retries?: number
  /** The run's first state: Scheduled for a task worker to claim, Pending for a run in this process. */
  readonly state: State.State<unknown, unknown>
  /**
   * The trace the run continues when a task worker starts it (`delay`, `mapDelay` and `flow.delay`
   * set it when a tracer is installed). A `traceparent` that is not W3C-shaped refuses the run with a
   * SerializationError naming it, as arguments that cannot be stored do: a run is never created with a
   * trace context a worker could not read.
   */
  readonly traceContext?: RunTraceContext | undefined
}

/**
 * Where the span of a run a task worker starts hangs: the W3C trace context of the span that
 * delayed it, and whether the run is that span's child (`"parent"`) or a new trace linked to it
 * (`"link"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunTraceContext {
  /** A W3C `traceparent`: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
  readonly traceparent: string
  /** `"parent"`: the run's span is a child of that span; `"link"`: a new trace with a link to it. */
  readonly join: "parent" | "link"
}

/**
 * Options of `setState`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetStateOptions {
  /** Replaces the run's run count. */
  readonly runCount?: number
  /** Only write if this task worker still holds the run (its lease was not lost). */
  readonly workerId?: string
  /**
   * Only write if the run's count is still this: the attempt the writer ran. With `workerId`, the
   * fence of a late write: a run taken over and claimed again (even by the same worker) has moved on.
   */
  readonly attempt?: number
  /** The run's task or flow name, when the caller knows it (saves SQL stores a read to pick the Schemas). */
  readonly name?: string
}

/**
 * A run a task worker claimed: it holds the run until its lease expires.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimedRun {
  /** The run's id. */
  readonly id: string
  /** A task run or a flow run. */
  readonly kind: RunKind
  /** The task's or flow's name: the worker runs the task or flow of this name. */
  readonly name: string
  /** The flow run this run belongs to, if any. */
  readonly flowRunId: string | undefined
  /** The task run that submitted this run, if any. */
  readonly parentTaskRunId: string | undefined
  /** The arguments, decoded with the task's `parameters` Schema (or the reason they could not be). */
  readonly parameters: Either.Either<ReadonlyArray<unknown>, Errors.SerializationError>
  /** The attempt this claim starts (the run's count, already incremented). */
  readonly runCount: number
  /** How many retries the run may use. */
  readonly retries: number
  /** Running (or Retrying): the claim records Pending and Running at once. */
  readonly state: State.State<unknown, unknown>
  /** The trace context the run was created with (`NewRun.traceContext`), if any. */
  readonly traceContext: RunTraceContext | undefined
  /**
   * When the run was Scheduled (the timestamp of the Scheduled state this claim took): the claim's
   * time minus this is how long the run waited.
   */
  readonly scheduledAt: Date
}

/**
 * What a worker's heartbeat learns about the runs it holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Heartbeat {
  /** Runs someone asked to cancel: the worker interrupts them. */
  readonly cancelling: ReadonlyArray<string>
  /** Runs the worker no longer holds (its lease expired and the run was recovered): it stops them. */
  readonly lost: ReadonlyArray<string>
}

/**
 * Filters for `listRuns` and `listRunsPage`: runs that match all of those given, in the order they
 * were created (by creation time, then id). Every filter is served by an index on the SQL stores.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunFilter {
  /** Only task runs, or only flow runs. */
  readonly kind?: RunKind
  /** Only the runs of this flow run. */
  readonly flowRunId?: string
  /** Only the runs of the task or flow of this name. */
  readonly name?: string
  /** Only runs whose current state is of this type, or of one of these. */
  readonly stateType?: State.StateType | ReadonlyArray<State.StateType>
  /** Only runs whose current state has this name ("TimedOut", "Retrying", …), or one of these. */
  readonly stateName?: string | ReadonlyArray<string>
  /** Only runs carrying this tag. */
  readonly tag?: string
  /** Only runs whose id starts with this (the command line resolves a unique prefix of 6 or more). */
  readonly idPrefix?: string
  /** Only runs created at or after this time. */
  readonly createdAfter?: Date
  /** Only runs created before this time. */
  readonly createdBefore?: Date
  /** Only finished runs that ended (reached their final state) at or after this time. */
  readonly endedAfter?: Date
  /** Only finished runs that ended before this time (a run not final has no end). */
  readonly endedBefore?: Date
  /** Oldest first (the default) or newest first. */
  readonly order?: "oldest" | "newest"
  /** At most this many runs (a whole number, 0 or more), the first in `order`. */
  readonly limit?: number
  /**
   * Where to go on from: a page's `next` (see `listRunsPage`), with the same filter and `order`.
   * Runs created meanwhile never shift a page: each page starts after the last run of the one before.
   */
  readonly cursor?: string
}

/**
 * One page of a listing (`listRunsPage`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunPage {
  /** The page's runs, in the filter's `order`. */
  readonly runs: ReadonlyArray<RunRecord>
  /** The cursor of the next page (an opaque string for `RunFilter.cursor`); undefined on the last page. */
  readonly next: string | undefined
}

/**
 * How many runs of one task or flow are in one state type (`countRuns`): what a page of counts per
 * state, or a flow run's summary of its task runs, adds up.
 *
 * @example
 * ```ts
 * import type { RunStore } from "effect-taskflow"
 *
 * const running = (counts: ReadonlyArray<RunStore.RunCount>) =>
 *   counts.filter((c) => c.stateType === "RUNNING").reduce((n, c) => n + c.count, 0)
 * ```
 * @since 0.1.0
 * @category models
 */
export interface RunCount {
  /** The task or flow name. */
  readonly name: string
  /** Task runs or flow runs. */
  readonly kind: RunKind
  /** The current state type of the runs counted. */
  readonly stateType: State.StateType
  /** How many such runs match the filter (1 or more; with `CountOptions.cap`, of the runs counted). */
  readonly count: number
  /** When the first of them (of those counted) was created. */
  readonly firstCreatedAt: Date
  /** When the last of them ended (of those counted); undefined for a state type that is not final. */
  readonly lastEndedAt: Date | undefined
}

/**
 * Options of `countRuns`. With `cap`, each state type counts at most `cap + 1` runs: a count of the
 * runs of one state type (summed over names) above `cap` means "more than `cap`", and reads no more
 * than that many runs, however many match (what a page of counts per state shows as "10,000+").
 *
 * @example
 * ```ts
 * import type { RunStore } from "effect-taskflow"
 *
 * const options: RunStore.CountOptions = { cap: 10_000 }
 * const shown = (counts: ReadonlyArray<RunStore.RunCount>, type: string) => {
 *   const n = counts.filter((c) => c.stateType === type).reduce((sum, c) => sum + c.count, 0)
 *   return n > options.cap! ? `${options.cap!.toLocaleString("en")}+` : String(n)
 * }
 * ```
 * @since 0.1.0
 * @category models
 */
export interface CountOptions {
  /** Count at most this many runs of each state type, and one more (a whole number, 0 or more). */
  readonly cap?: number
}

/**
 * Options of `prune` and `countPrunable`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PruneOptions {
  /** Prune runs that ended longer ago than this ("30 days", milliseconds, a Duration). */
  readonly olderThan: Duration.DurationInput
  /** Only runs that ended in one of these final state types (default all four). */
  readonly states?: ReadonlyArray<State.StateType>
}

/**
 * What a `prune` deleted.
 *
 * @since 0.1.0
 * @category models
 */
export interface PruneReport {
  /** Runs deleted. */
  readonly runs: number
  /** State history rows deleted (every state of those runs). */
  readonly states: number
  /** Kept results deleted. */
  readonly results: number
  /** Run log lines deleted (every line of those runs). */
  readonly logs: number
}

/**
 * A line a task or flow run logged with Effect's `Logger` (`Effect.log`, `Effect.logWarning`, …)
 * while it ran, as the store keeps it: numbered from 1 in the order logged (`seq`), with its level
 * (`LogLevel`'s tag: "Info", "Warning", …), its message rendered as Effect's own loggers render it (each part with
 * `Inspectable.toStringUnknown`, then the cause, if any), the time it was logged, the fiber's log
 * annotations (their values as text; a run's lines carry `taskflow.run_id`, and inside a flow run
 * `taskflow.flow_run_id`) and its log spans. A message longer than 8 KiB is cut, with a marker; a
 * run keeps at most 10,000 lines, then one line says how many were dropped.
 *
 * The Schema encodes a line as JSON (dates as ISO strings), the shape `-o json` prints.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { RunStore } from "effect-taskflow"
 *
 * const toJson = (line: RunStore.RunLog) => Schema.encodeSync(RunStore.RunLog)(line)
 * ```
 * @since 0.1.0
 * @category models
 */
export const RunLog = Schema.Struct({
  /** The run that logged the line. */
  runId: Schema.String,
  /** The line's place among the run's lines, from 1. */
  seq: Schema.Number,
  /** Effect's `LogLevel`, by its tag. */
  level: Schema.Literal("Fatal", "Error", "Warning", "Info", "Debug", "Trace", "All", "None"),
  /** The message as Effect's loggers render it (parts joined by a space, then the cause). */
  message: Schema.String,
  /** When it was logged. */
  timestamp: Schema.Date,
  /** The fiber's log annotations, their values as text. */
  annotations: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The fiber's log spans, innermost first, with when each began. */
  spans: Schema.Array(Schema.Struct({ label: Schema.String, startTime: Schema.Date }))
}).annotations({ identifier: "RunLog" })

/**
 * A line a run logged (see the `RunLog` Schema).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunLog extends Schema.Schema.Type<typeof RunLog> {}

/**
 * The store's interface. Orchestration rules are enforced here, not by callers: no transition
 * out of a final state, a Cancelling run only moves to a final state, a run is held by one task
 * worker at a time, and every change is time-stamped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** "memory", "sqlite" or "postgres". */
  readonly kind: string
  /**
   * Creates a run. Every store (memory included) encodes a Scheduled run's parameters with the
   * task's `parameters` Schema (found by name), or as tagged JSON that carries Date, Map, Set,
   * bigint, typed arrays and undefined exactly; parameters that cannot be stored exactly fail with
   * `SerializationError` naming the argument, and nothing is created.
   */
  readonly createRun: (run: NewRun) => Effect.Effect<void, Errors.RunStoreError | Errors.SerializationError>
  /**
   * Creates many runs at once, in as few statements as the store allows (SQL stores: 500 runs a
   * statement, each committed on its own). If the store goes away for good part-way, the
   * `RunStoreError` says how many of the batch's runs were created (they will run) and how many not.
   */
  readonly createRuns: (
    runs: ReadonlyArray<NewRun>
  ) => Effect.Effect<void, Errors.RunStoreError | Errors.SerializationError>
  /** Appends a state to the run's history; `runCount` replaces the run count when given. */
  readonly setState: (
    runId: string,
    state: State.State<unknown, unknown>,
    options?: SetStateOptions
  ) => Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | Errors.RunStoreError>
  /**
   * Reads a run, with its current state (a Completed state carries the decoded result). A result or
   * failure that does not decode with the task's Schemas fails with `SerializationError`.
   */
  readonly getRun: (
    runId: string
  ) => Effect.Effect<RunRecord, Errors.RunNotFound | Errors.RunStoreError | Errors.SerializationError>
  /**
   * Every state the run went through, oldest first (its current state last). Fails with
   * `RunNotFound` for an id the store does not know.
   */
  readonly getHistory: (
    runId: string
  ) => Effect.Effect<
    ReadonlyArray<State.State<unknown, unknown>>,
    Errors.RunNotFound | Errors.RunStoreError | Errors.SerializationError
  >
  /**
   * The runs that match `filter` (every run without one), with their current states. A `limit` that
   * is not a whole number of 0 or more is a defect (`IllegalArgumentException`). With a `limit`, the
   * first page of `listRunsPage` (and `cursor` goes on from a page); keep one on large stores.
   */
  readonly listRuns: (
    filter?: RunFilter
  ) => Effect.Effect<ReadonlyArray<RunRecord>, Errors.RunStoreError | Errors.SerializationError>
  /**
   * One page of the runs that match `filter`: at most `limit` of them (all when no limit), and the
   * cursor of the next page. A cursor that does not decode, an invalid Date or a bad `limit` is a
   * defect (`IllegalArgumentException`) that says what to pass instead.
   */
  readonly listRunsPage: (
    filter?: RunFilter
  ) => Effect.Effect<RunPage, Errors.RunStoreError | Errors.SerializationError>
  /**
   * How many runs match `filter`, by name, kind and current state type (one group for each that has
   * runs; `order`, `limit` and `cursor` are ignored), with when the first was created and the last
   * ended. SQL stores count in one grouped statement over the filter's indexes. Uncapped, a count
   * reads every matching run's index entry: give `options.cap` to bound it on a large store. Bad
   * filters (and a bad cap) are defects, as for `listRunsPage`.
   */
  readonly countRuns: (
    filter?: RunFilter,
    options?: CountOptions
  ) => Effect.Effect<ReadonlyArray<RunCount>, Errors.RunStoreError>
  /**
   * Deletes finished runs (Completed, Failed, Crashed, Cancelled) that ended longer ago than
   * `olderThan`, with their state history and results, 1,000 runs a transaction; never a run that is
   * not final. A flow run goes whole: with every run in it (its subflows' too), and only once those
   * are all final; a run inside a flow run is pruned only with it. `states` picks flow runs and runs
   * outside flows by their own state. A bad `olderThan` or a `states` entry that is not final is a
   * defect (`IllegalArgumentException`).
   */
  readonly prune: (options: PruneOptions) => Effect.Effect<PruneReport, Errors.RunStoreError>
  /** How many runs `prune(options)` would delete now (what the command line asks about first). */
  readonly countPrunable: (options: PruneOptions) => Effect.Effect<number, Errors.RunStoreError>
  /**
   * Schedules a new run of the same task or flow: same kind, name, parameters (copied as stored),
   * tags and retries, in no flow run, with `rerunOf` set to `runId`. A task worker serving the name
   * claims it as any run. Returns the new run. (A run of this process, not `delay`ed, keeps arguments
   * it could not store exactly as descriptions, `"<not stored: …>"`: its rerun gets those.)
   */
  readonly rerun: (runId: string) => Effect.Effect<RunRecord, Errors.RunNotFound | Errors.RunStoreError>
  /**
   * Asks for a run to be cancelled, from anywhere: a run no worker holds yet ends Cancelled at once;
   * a running one moves to Cancelling, and the worker holding it interrupts it (it ends Cancelled),
   * as does the process running it for a run of its own on a SQL store.
   * A finished run is left as it is. Returns the run's state after the request.
   */
  readonly cancelRun: (
    runId: string
  ) => Effect.Effect<
    State.State<unknown, unknown>,
    Errors.RunNotFound | Errors.RunStoreError | Errors.SerializationError
  >
  /**
   * Claims up to `limit` Scheduled runs of the given names for a task worker, oldest first, each at
   * most once: they move through Pending to Running (or Retrying), held by `workerId` until `lease`
   * ms from now. SQL stores time leases by the database's clock (see `heartbeat`, `recoverExpired`):
   * workers on machines whose clocks disagree neither lose their runs early nor keep them late.
   */
  readonly claimRuns: (options: {
    readonly workerId: string
    readonly names: ReadonlyArray<string>
    readonly limit: number
    readonly lease: number
    /**
     * Whether the worker knows of (holds) a run. A SQL store that sends a claim again, because the
     * connection dropped before the answer came, first returns the Running runs `workerId` holds
     * that the worker does not know of: the lost answer's runs, committed before the drop. So does
     * the next claim of a worker whose last claim failed outright. Without this they would wait for
     * their lease to end and be recovered (retried, or Crashed) though they never ran.
     */
    readonly knows?: (runId: string) => boolean
  }) => Effect.Effect<ReadonlyArray<ClaimedRun>, Errors.RunStoreError>
  /**
   * Extends the leases of the runs `workerId` holds, to `lease` ms from now by the store's clock.
   * With `served`, also records that the worker is live and serves those task and flow names for
   * `lease` ms (what `RunRecord.unclaimedFor` is judged by; SQL stores write it at most every third
   * of `lease`).
   */
  readonly heartbeat: (
    workerId: string,
    runIds: ReadonlyArray<string>,
    lease: number,
    served?: ReadonlyArray<string>
  ) => Effect.Effect<Heartbeat, Errors.RunStoreError>
  /**
   * Gives back runs `workerId` still holds (a worker that stops): unfinished ones are Scheduled again
   * for another worker, with `message` (default "Released by task worker <id>, which stopped."); a
   * Cancelling one ends Cancelled. Runs it no longer holds are left as they are. A give-back is not
   * an attempt: a Running run's `runCount` goes back to what it was before its claim.
   */
  readonly releaseRuns: (
    workerId: string,
    runIds: ReadonlyArray<string>,
    message?: string
  ) => Effect.Effect<void, Errors.RunStoreError>
  /**
   * Recovers runs whose worker's lease expired (the worker died): each is Scheduled again
   * (AwaitingRetry) while it has retries left, else it ends Crashed; a Cancelling one ends
   * Cancelled. A run a process ran itself (held by `process:…`) ends Crashed, never Scheduled
   * again. SQL stores also end Crashed the unfinished runs nothing holds (Pending, Running or
   * Cancelling with no worker and no lease: written by an older version, or corrupt) whose state is
   * 10 minutes old, at most 500 a call and one such look a minute per store handle. Returns the ids
   * recovered.
   */
  readonly recoverExpired: () => Effect.Effect<ReadonlyArray<string>, Errors.RunStoreError>
  /**
   * The lines the run logged, oldest first: those after `after` (a `seq`; default 0, from the
   * first), at most `limit` of them (default all). A run's lines are written before its final
   * state, so once `getRun` reads a run final, this reads every line it logged. Fails with
   * `RunNotFound` for an id the store does not know.
   */
  readonly getLogs: (
    runId: string,
    options?: { readonly after?: number; readonly limit?: number }
  ) => Effect.Effect<ReadonlyArray<RunLog>, Errors.RunNotFound | Errors.RunStoreError>
  /**
   * The lines the run logged after `after` (default 0: all of them), then each new line as it is
   * written, from this process or another (PostgreSQL `NOTIFY`; on SQLite, the database file's
   * change events), ending once the run is final and its last lines are out. Fails with
   * `RunNotFound` for an id the store does not know.
   */
  readonly followLogs: (
    runId: string,
    options?: { readonly after?: number }
  ) => Stream.Stream<RunLog, Errors.RunNotFound | Errors.RunStoreError>
  /**
   * Calls `onChange` with the run's current state (soon after subscribing, once the run exists) and
   * with its later states. In this process every state is pushed; from other
   * processes final states are pushed (PostgreSQL `NOTIFY`) and a polling fallback with backoff
   * catches anything a lost notification missed. Returns the function that stops listening.
   */
  readonly unsafeSubscribe: (runId: string, onChange: (state: State.State<unknown, unknown>) => void) => () => void
  /**
   * Calls `onScheduled` when a run may have become claimable, with the run's task or flow name where
   * the store knows it (without a name, runs of any name may have). Returns the function that stops
   * listening.
   */
  readonly unsafeSubscribeScheduled: (onScheduled: (name?: string) => void) => () => void
  /**
   * Calls `onCancelling` with the id of a run someone asked to cancel (moved to Cancelling): from
   * this process on every store; from other processes on PostgreSQL (`NOTIFY`) and on SQLite (a
   * look for new Cancelling states after each change of the database file, at most every 50 ms, or
   * every `maxPollInterval` where the file system sends no change events). Task workers stop the run
   * at once, and learn of anything missed at their next heartbeat. Returns the function that stops
   * listening.
   */
  readonly unsafeSubscribeCancelling: (onCancelling: (runId: string) => void) => () => void
}

/**
 * The run store service.
 *
 * @since 0.1.0
 * @category tags
 */
export const RunStore: typeof internal.RunStore = internal.RunStore

/**
 * The run store service's type: what `delay`, `TaskWorker.serve` and stored futures require, and
 * what `RunStore.memory`, `RunStore.sqlite(...)` and `RunStore.postgres(...)` provide.
 *
 * @since 0.1.0
 * @category tags
 */
export type RunStore = internal.RunStore

/**
 * A store in this process's memory: every run and its history, until the layer is released. A
 * long-lived process keeps a bound with `memoryWith({ keepFinished })`. It keeps values as the SQL
 * stores do (copies through the same encoding) and refuses what they refuse, so a test on memory
 * fails where production would.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { RunStore, Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-store-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   const future = yield* double.submit(21)
 *   yield* future.wait()
 *   const store = yield* RunStore.RunStore
 *   const history = yield* store.getHistory(future.taskRunId)
 *   return history.map((state) => state.name) // ["Pending", "Running", "Completed"]
 * }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(RunStore.memory))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const memory: Layer.Layer<RunStore> = memoryStore.memoryLayer

/**
 * Options of the memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * How many finished runs (Completed, Failed, Crashed, Cancelled) to keep, newest last: past it,
   * the oldest finished run is forgotten (a run id then reads as unknown: `RunNotFound`). Unfinished
   * runs are always kept. A whole number of 0 or more; default `Infinity` (keep every run).
   */
  readonly keepFinished?: number
  /**
   * How long a Scheduled run waits with no live task worker serving its name before `getRun` shows
   * `unclaimedFor` and a future waiting on it logs a warning (default 30 seconds).
   */
  readonly unclaimedAfter?: Duration.DurationInput
}

/**
 * A memory store that keeps at most `keepFinished` finished runs: a long-lived process that runs
 * tasks without end uses bounded memory (a TaskRunner's own store, which keeps 10,000, holds about
 * 12 MB however many runs it has seen).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { RunStore, Task, TaskRunner } from "effect-taskflow"
 *
 * const double = Task.make("double-kept-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   for (let n = 0; n < 3; n++) yield* Effect.flatMap(double.submit(n), (future) => future.result())
 *   const store = yield* RunStore.RunStore
 *   return (yield* store.listRuns()).length // 2: the oldest finished run was forgotten
 * }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(RunStore.memoryWith({ keepFinished: 2 })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const memoryWith: (options: MemoryOptions) => Layer.Layer<RunStore> = memoryStore.memoryLayerWith

/**
 * Options of the SQL stores.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlOptions {
  /**
   * The slowest the polling fallback gets (default 1 second): a wait whose notification was lost
   * still ends within about this long.
   */
  readonly maxPollInterval?: number
  /**
   * How long a call keeps trying while the store is out of reach (connection refused or dropped, a
   * server restart, SQLite busy), with exponential backoff, before it fails with `RunStoreError`
   * (default 30 seconds).
   */
  readonly reconnectFor?: Duration.DurationInput
  /**
   * How long a Scheduled run waits with no live task worker serving its name before `getRun` shows
   * `unclaimedFor` and a future waiting on it logs a warning (default 30 seconds).
   */
  readonly unclaimedAfter?: Duration.DurationInput
  /**
   * The lease of the runs this process runs itself on this store (submitted, called inline, flow
   * runs; not those a task worker claims), renewed every third of it (default 30 seconds, a task
   * worker's default lease; at least 1 second, else building the store fails). A process that dies
   * (`kill -9`) leaves its runs Running until their lease ends; then any live process or task worker
   * on the store ends them Crashed, never runs them again (their waiters lived in that process).
   */
  readonly inProcessLease?: Duration.DurationInput
}

// The SQL stores' code, with @effect/sql, pg and better-sqlite3, loads when a SQL store is built:
// not in every worker thread and every program that only uses the memory store (about 25 MB each),
// and only the dialect in use (a SQLite worker does not load pg, a PostgreSQL one not better-sqlite3).
const loadSqlite = Effect.promise(() => import("./internal/store/sql/sqlite.js"))
const loadPostgres = Effect.promise(() => import("./internal/store/sql/postgres.js"))

/**
 * The embedded store: one SQLite file (WAL mode), shared by every process that opens it on this
 * machine. Migrations run when the layer is built. Waits in the same process are pushed; other
 * processes' changes are found by polling with backoff (10 ms up to `maxPollInterval`), woken at
 * once when the file changes. A task worker's store looks for cancels asked in other processes after
 * each change of the file, at most every 50 ms.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { RunStore, Task } from "effect-taskflow"
 *
 * const double = Task.make("double-sqlite-example", (n: number) => Effect.succeed(n * 2))
 *
 * const program = Effect.gen(function*() {
 *   const future = yield* double.delay(21) // a task worker (TaskWorker.serve) runs it
 *   return future.taskRunId
 * }).pipe(Effect.provide(RunStore.sqlite({ filename: ".taskflow/runs.db" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const sqlite: (
  options: { readonly filename: string } & SqlOptions
) => Layer.Layer<RunStore, Errors.RunStoreError> = (options) =>
  Layer.unwrapEffect(Effect.map(loadSqlite, (sql) => sql.sqliteLayer(options)))

/**
 * The store for many machines: PostgreSQL. Migrations run when the layer is built. Final states are
 * pushed to every process with `LISTEN`/`NOTIFY`; a polling fallback with backoff covers lost
 * notifications and dropped connections.
 *
 * @example
 * ```ts
 * import { RunStore } from "effect-taskflow"
 *
 * const store = RunStore.postgres({ url: "postgres://127.0.0.1:5432/test" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const postgres: (
  options: {
    readonly url: string
    /** The size of the connection pool (default 10). */
    readonly maxConnections?: number
  } & SqlOptions
) => Layer.Layer<RunStore, Errors.RunStoreError> = (options) =>
  Layer.unwrapEffect(Effect.map(loadPostgres, (sql) => sql.postgresLayer(options)))

/**
 * Makes a fresh in-memory store (what `memory` provides, or `memoryWith(options)`). Options that
 * are out of range are a defect (`IllegalArgumentException`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions) => Service = memoryStore.makeMemory
