/**
 * The library's exports must be usable exactly as the API contract (test/contract/api.d.ts) writes
 * them. These are compile-time checks (`npm run check`); the test only keeps the file in the suite.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Effect, Layer } from "effect"
import * as Lib from "effect-taskflow"
import type * as Contract from "effect-taskflow-contract"

type Assignable<T extends U, U> = T

// State
export const stateFunctions: {
  isFinal: typeof Contract.State.isFinal
  isCompleted: typeof Contract.State.isCompleted
  isFailed: typeof Contract.State.isFailed
  isCrashed: typeof Contract.State.isCrashed
  isCancelled: typeof Contract.State.isCancelled
  isPending: typeof Contract.State.isPending
  isRunning: typeof Contract.State.isRunning
  isScheduled: typeof Contract.State.isScheduled
  isPaused: typeof Contract.State.isPaused
  scheduled: typeof Contract.State.scheduled
  pending: typeof Contract.State.pending
  running: typeof Contract.State.running
  completed: typeof Contract.State.completed
  failed: typeof Contract.State.failed
  crashed: typeof Contract.State.crashed
  cancelled: typeof Contract.State.cancelled
  paused: typeof Contract.State.paused
  cancelling: typeof Contract.State.cancelling
  result: typeof Contract.State.result
  schema: typeof Contract.State.schema
} = Lib.State
export type StateTypes = [
  Assignable<Lib.State.State<number, string>, Contract.State.State<number, string>>,
  Assignable<Contract.State.State<number, string>, Lib.State.State<number, string>>,
  Assignable<Lib.State.StateType, Contract.State.StateType>,
  Assignable<Lib.State.StateName, Contract.State.StateName>
]

// Errors
export const errors: {
  WaitTimeoutError: typeof Contract.Errors.WaitTimeoutError
  CancelledRun: typeof Contract.Errors.CancelledRun
  CrashedRun: typeof Contract.Errors.CrashedRun
  UnfinishedRun: typeof Contract.Errors.UnfinishedRun
  MissingResult: typeof Contract.Errors.MissingResult
  UpstreamTaskError: typeof Contract.Errors.UpstreamTaskError
  MappingLengthMismatch: typeof Contract.Errors.MappingLengthMismatch
  MappingMissingIterable: typeof Contract.Errors.MappingMissingIterable
} = Lib.Errors

// Futures
// Generic `make`s are checked at one instantiation: comparing two separately declared generic
// signatures makes TypeScript infer E from `result`'s error union, which is not what users write.
export const distributedMake: (
  taskRunId: string
) => Effect.Effect<Contract.Futures.PrefectDistributedFuture<number, string>, never, Lib.RunStore.RunStore> = Lib
  .Futures.PrefectDistributedFuture.make<number, string>
export const flowRunMake: (
  flowRunId: string
) => Effect.Effect<Contract.Futures.PrefectFlowRunFuture<number, string>, never, Lib.RunStore.RunStore> = Lib.Futures
  .PrefectFlowRunFuture.make<number, string>
export const listMake: (
  futures: Iterable<Contract.Futures.PrefectFuture<number, string>>
) => Contract.Futures.PrefectFutureList<number, string> = Lib.Futures.PrefectFutureList.make<number, string>
export const futures: {
  fromFiber: typeof Contract.Futures.fromFiber
  wait: typeof Contract.Futures.wait
  asCompleted: typeof Contract.Futures.asCompleted
  quote: typeof Contract.Futures.quote
} = Lib.Futures
export type FutureTypes = [
  Assignable<Lib.Futures.PrefectFuture<number, string>, Contract.Futures.PrefectFuture<number, string>>,
  Assignable<Contract.Futures.PrefectFuture<number, string>, Lib.Futures.PrefectFuture<number, string>>,
  Assignable<
    Lib.Futures.PrefectConcurrentFuture<number, string>,
    Contract.Futures.PrefectConcurrentFuture<number, string>
  >,
  Assignable<Lib.Futures.PrefectFutureList<number, string>, Contract.Futures.PrefectFutureList<number, string>>,
  Assignable<Lib.Futures.PrefectFlowRunFuture<number, string>, Contract.Futures.PrefectFlowRunFuture<number, string>>,
  Assignable<
    Lib.Futures.PrefectDistributedFuture<number, string>,
    Contract.Futures.PrefectDistributedFuture<number, string>
  >,
  Assignable<Lib.Futures.DoneAndNotDoneFutures<number>, Contract.Futures.DoneAndNotDoneFutures<number>>,
  Assignable<Lib.Futures.ResultError, Contract.Futures.ResultError>,
  Assignable<
    Lib.Futures.ResolvedResults<
      { a: Lib.Futures.PrefectFuture<number>; b: Map<string, Lib.Futures.PrefectFutureList<string>> }
    >,
    { a: number; b: Map<string, Array<string>> }
  >
]

// The computed resolve types are conditional types, compared at one instantiation.
type Expr = { a: Lib.Futures.PrefectFuture<number, "E">; list: Lib.Futures.PrefectFutureList<string> }
export const resolvedResults: Effect.Effect<{ a: number; list: Array<string> }, "E" | Lib.Futures.ResultError> = Lib
  .Futures.resolveFuturesToResults({} as Expr)
export const resolvedStates: Effect.Effect<
  { a: Contract.State.State<number, "E">; list: Array<Contract.State.State<string, never>> }
> = Lib.Futures.resolveFuturesToStates({} as Expr)

// Task, Flow
export const task: {
  make: typeof Contract.Task.make
  unmapped: typeof Contract.Task.unmapped
  allowFailure: typeof Contract.Task.allowFailure
} = Lib.Task
export const flow: { make: typeof Contract.Flow.make } = Lib.Flow
export type TaskTypes = [
  Assignable<Lib.Task.Task<[number], string, Error>, Contract.Task.Task<[number], string, Error>>,
  Assignable<Lib.Task.TaskOptions, Contract.Task.TaskOptions>,
  Assignable<Lib.Task.WithOptions, Contract.Task.WithOptions>,
  Assignable<Lib.Flow.Flow<[number], string, Error>, Contract.Flow.Flow<[number], string, Error>>,
  Assignable<Omit<Lib.Flow.FlowOptions, "taskRunner">, Omit<Contract.Flow.FlowOptions, "taskRunner">>
]

// TaskRunner, RunStore. The contract's services are `{ kind }` placeholders; the library's have
// more members, so a Layer of the contract's tag (contravariant in its service) is not checked, only
// that the library's services are usable where the contract's are expected.
export const concurrent: (options?: { readonly maxConcurrency?: number }) => Layer.Layer<Lib.TaskRunner.TaskRunner> =
  Lib.TaskRunner.concurrent
export const memory: Layer.Layer<Lib.RunStore.RunStore> = Lib.RunStore.memory
export const runnerTag: Effect.Effect<Contract.TaskRunner.Service, never, Lib.TaskRunner.TaskRunner> =
  Lib.TaskRunner.TaskRunner
export const storeTag: Effect.Effect<Contract.RunStore.Service, never, Lib.RunStore.RunStore> = Lib.RunStore.RunStore
export const workerPool: (options: {
  readonly size: number
  readonly module: URL | string
}) => Layer.Layer<Lib.TaskRunner.TaskRunner, unknown, unknown> = Lib.TaskRunner.workerPool
export const sqlite: (options: { readonly filename: string }) => Layer.Layer<Lib.RunStore.RunStore, unknown> =
  Lib.RunStore.sqlite
export const postgres: (options: { readonly url: string }) => Layer.Layer<Lib.RunStore.RunStore, unknown> =
  Lib.RunStore.postgres
export const taskWorker: { serve: typeof Contract.TaskWorker.serve } = Lib.TaskWorker
export type DeferredTypes = [
  Assignable<Lib.Futures.PrefectDistributedFuture<number, "E">, Contract.Futures.PrefectDistributedFuture<number, "E">>,
  Assignable<Lib.Futures.PrefectFlowRunFuture<number, "E">, Contract.Futures.PrefectFlowRunFuture<number, "E">>
]

describe("API contract", () => {
  it("the exports the contract names exist", () => {
    expect(Object.keys(stateFunctions).length).toBeGreaterThan(0)
    expect(typeof errors.WaitTimeoutError).toBe("function")
    expect(typeof futures.wait).toBe("function")
    expect(typeof task.make).toBe("function")
    expect(typeof flow.make).toBe("function")
    expect(typeof concurrent).toBe("function")
    expect(typeof taskWorker.serve).toBe("function")
    expect(typeof sqlite).toBe("function")
    expect(typeof postgres).toBe("function")
  })
})
