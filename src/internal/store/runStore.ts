import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import type { AnyState } from "../core/state.js"

/** @internal */
export class RunStore extends Context.Tag("effect-taskflow/RunStore")<RunStore, RunStore_.Service>() {}

/**
 * A store that can also write without an Effect, synchronously (the memory store). The engine
 * uses it on the hot path: one run's three state writes then cost no fiber steps.
 * @internal
 */
export interface SyncWrites {
  /** Returns the run's handle, which `unsafeSetStateOf` takes to skip the look-up by id. */
  readonly unsafeCreateRun: (run: RunStore_.NewRun) => SyncRunHandle
  /** Returns the refusal, or undefined when the state was written. */
  readonly unsafeSetState: (
    runId: string,
    state: AnyState,
    runCount: number | undefined
  ) => Errors.RunNotFound | Errors.InvalidTransition | undefined
  /** `unsafeSetState` for a run this store created with `unsafeCreateRun`. */
  readonly unsafeSetStateOf: (
    run: SyncRunHandle,
    state: AnyState,
    runCount: number | undefined
  ) => Errors.InvalidTransition | undefined
}

/** A run of a synchronous store, as its `unsafeCreateRun` returned it. @internal */
export interface SyncRunHandle {
  readonly [SyncRunHandleTypeId]: typeof SyncRunHandleTypeId
}
declare const SyncRunHandleTypeId: unique symbol

/**
 * The key a store offers its synchronous writes under. A wrapper that must see every write (a task
 * worker's guard on held runs) spreads the store and sets this to `undefined`.
 * @internal
 */
export const SyncWritesKey: unique symbol = Symbol.for("effect-taskflow/RunStore/SyncWrites")

/** A store that may offer synchronous writes. @internal */
export interface MaybeSyncWrites {
  readonly [SyncWritesKey]?: SyncWrites | undefined
}

/** @internal */
export const syncWrites = (store: RunStore_.Service & MaybeSyncWrites): SyncWrites | undefined => store[SyncWritesKey]

/**
 * The key a store offers under it a claim that starts the runs it claims itself: `onClaimed` is
 * called with them in the same uninterruptible step as the statement that claimed them, while the
 * waits between tries (the store out of reach) stay interruptible. A task worker stopped meanwhile
 * then stops at once, yet holds every run a claim of it took. A store without it is claimed from
 * uninterruptibly, retries and all.
 * @internal
 */
export const ClaimThenKey: unique symbol = Symbol.for("effect-taskflow/RunStore/ClaimThen")

/** A claim that starts its runs (see `ClaimThenKey`). @internal */
export type ClaimThen = (
  options: Parameters<RunStore_.Service["claimRuns"]>[0],
  /**
   * Called with the claimed runs and when (monotonic ms) the try that claimed them was sent: their
   * leases run from then, not from the first try (a claim tried again through an outage).
   */
  onClaimed: (runs: ReadonlyArray<RunStore_.ClaimedRun>, sentAt: number) => void
) => ReturnType<RunStore_.Service["claimRuns"]>

/**
 * A store that may offer a claim that starts its runs, with the `claimRuns` it stands for: a
 * wrapper that spreads the store and replaces `claimRuns` keeps the key, and must still be called.
 * @internal
 */
export interface MaybeClaimThen {
  readonly [ClaimThenKey]?: {
    readonly claimRuns: RunStore_.Service["claimRuns"]
    readonly claimThen: ClaimThen
  } | undefined
}

/**
 * The key a SQL store offers its count of the Scheduled runs of some names under (a task worker's
 * `runsScheduled` gauge): one grouped count over the claim's partial index of Scheduled runs, which
 * reads only those names' entries (`countRuns` reads every Scheduled run, and each one's row).
 * @internal
 */
export const CountScheduledKey: unique symbol = Symbol.for("effect-taskflow/RunStore/CountScheduled")

/** A store that may count Scheduled runs by name (see `CountScheduledKey`). @internal */
export interface MaybeCountScheduled {
  readonly [CountScheduledKey]?:
    | ((names: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, number>, Errors.RunStoreError>)
    | undefined
}

/**
 * The key a store offers its `unclaimedAfter` under, in milliseconds: a future following a run waits
 * that long before it asks the store whether the run is unclaimed (see `RunRecord.unclaimedFor`).
 * @internal
 */
export const UnclaimedAfterKey: unique symbol = Symbol.for("effect-taskflow/RunStore/UnclaimedAfter")

/** A store that may say how long a run waits unclaimed before it is reported. @internal */
export interface MaybeUnclaimedAfter {
  readonly [UnclaimedAfterKey]?: number | undefined
}

/** The default of `unclaimedAfter`: 30 seconds. @internal */
export const DEFAULT_UNCLAIMED_AFTER = 30_000

/** A store's `unclaimedAfter` in milliseconds (the default for a store that does not say). @internal */
export const unclaimedAfterOf = (store: RunStore_.Service & MaybeUnclaimedAfter): number =>
  store[UnclaimedAfterKey] ?? DEFAULT_UNCLAIMED_AFTER

/**
 * The key a SQL store offers its leases of in-process runs under: runs of this process (submitted,
 * called inline, flow runs; not claimed by a task worker) are held by the store's holder under a
 * lease its renewal loop keeps, so a process that dies leaves nothing Running for ever.
 * @internal
 */
export const InProcessLeasesKey: unique symbol = Symbol.for("effect-taskflow/RunStore/InProcessLeases")

/** What the engine needs of a store's in-process leases. @internal */
export interface InProcessLeases {
  /** The holder of this store's in-process runs: `process:<host>:<pid>:<random>`. */
  readonly holder: string
  /** Whether the store holds this run for this process (it created it, and it is not over). */
  readonly holds: (runId: string) => boolean
  /**
   * Calls `stop` once when the run is asked to cancel (its Cancelling heard, or seen by a renewal).
   * Returns the function that stops listening.
   */
  readonly onCancel: (runId: string, stop: () => void) => () => void
}

/** A store that may hold its in-process runs under leases. @internal */
export interface MaybeInProcessLeases {
  readonly [InProcessLeasesKey]?: InProcessLeases | undefined
}

/** A store's in-process leases, if it keeps them (the SQL stores). @internal */
export const inProcessLeases = (store: RunStore_.Service & MaybeInProcessLeases): InProcessLeases | undefined =>
  store[InProcessLeasesKey]

/** The prefix of an in-process holder's id: recovery ends such runs Crashed, never Scheduled again. @internal */
export const PROCESS_HOLDER_PREFIX = "process:"
