/**
 * The run store records every task and flow run with its full state history, so that the state of
 * any run id can be read. One interface, several layers: `RunStore.memory` here; the SQL stores
 * (SQLite, PostgreSQL) implement the same `Service`.
 *
 * @since 0.1.0
 */
import type { Effect, Layer } from "effect"
import type * as Errors from "./Errors.js"
import * as internal from "./internal/runStore.js"
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
  readonly id: string
  readonly kind: RunKind
  /** The task's or flow's name (its key). */
  readonly name: string
  /** The flow run this run belongs to, if any. */
  readonly flowRunId: string | undefined
  /** The task run that submitted this run, if any. */
  readonly parentTaskRunId: string | undefined
  readonly parameters: ReadonlyArray<unknown>
  readonly tags: ReadonlyArray<string>
  /** How many times the run's body was started (1 + retries used). */
  readonly runCount: number
  readonly state: State.State<unknown, unknown>
  readonly createdAt: Date
}

/**
 * A run to create.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewRun {
  readonly id: string
  readonly kind: RunKind
  readonly name: string
  readonly flowRunId?: string | undefined
  readonly parentTaskRunId?: string | undefined
  readonly parameters?: ReadonlyArray<unknown>
  readonly tags?: ReadonlyArray<string>
  readonly state: State.State<unknown, unknown>
}

/**
 * Filters for `listRuns`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunFilter {
  readonly kind?: RunKind
  readonly flowRunId?: string
  readonly name?: string
}

/**
 * The store's interface. Orchestration rules are enforced here, not by callers: no transition
 * out of a final state, and a Cancelling run only moves to a final state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly kind: string
  readonly createRun: (run: NewRun) => Effect.Effect<void, Errors.RunStoreError>
  /** Appends a state to the run's history; `runCount` replaces the run count when given. */
  readonly setState: (
    runId: string,
    state: State.State<unknown, unknown>,
    options?: { readonly runCount?: number }
  ) => Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | Errors.RunStoreError>
  readonly getRun: (runId: string) => Effect.Effect<RunRecord, Errors.RunNotFound | Errors.RunStoreError>
  readonly getHistory: (
    runId: string
  ) => Effect.Effect<ReadonlyArray<State.State<unknown, unknown>>, Errors.RunNotFound | Errors.RunStoreError>
  readonly listRuns: (filter?: RunFilter) => Effect.Effect<ReadonlyArray<RunRecord>, Errors.RunStoreError>
  /**
   * Calls `onChange` with every later state of the run (in this process). Returns the function that
   * stops listening. Stores shared between processes add a polling fallback on top.
   */
  readonly unsafeSubscribe: (runId: string, onChange: (state: State.State<unknown, unknown>) => void) => () => void
}

/**
 * The run store service.
 *
 * @since 0.1.0
 * @category tags
 */
export const RunStore: typeof internal.RunStore = internal.RunStore

/**
 * @since 0.1.0
 * @category tags
 */
export type RunStore = internal.RunStore

/**
 * A store in this process's memory: every run and its history, until the layer is released.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
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
export const memory: Layer.Layer<RunStore> = internal.memoryLayer

/**
 * Makes a fresh in-memory store (what `memory` provides).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: () => Service = internal.makeMemory
