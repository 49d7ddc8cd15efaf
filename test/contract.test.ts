/**
 * The library's exports must be usable exactly as the API contract (test/contract/api.d.ts, a copy of
 * shared/api.d.ts) writes them. This is a type test: a drift between `src/` and the contract is a
 * compile error in this file (`npm run check`).
 *
 * - Values: every value each contract module exports is checked by key (`Values<…>`), so a value
 *   the contract adds, or the library drops or retypes, fails to compile without editing this file.
 * - Types cannot be enumerated, so every type the contract's modules export is listed below, module
 *   by module, and checked both ways where users also hand it to the library (options, futures,
 *   states), one way (library to contract) where the library may add members.
 * - `designExamples` is DESIGN.md's code written against the contract's names; it is compiled, never run.
 *
 * The one runtime test checks that every value the contract names is really there when the module
 * loads (a circular import or a cast in `src/` can leave a typed export undefined).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Exit, Fiber } from "effect"
import { Cause, Context, Effect, Layer, Schema, Stream } from "effect"
import * as Lib from "effect-taskflow"
import type * as Contract from "effect-taskflow-contract"

/** Compiles only when `A` is assignable to `B`. */
type Assignable<A extends B, B> = A

/** The names of the values a contract module exports (its `…_base` constants only declare its classes). */
type ValueKeys<M> = Exclude<keyof M, `${string}_base`>

/** The values a contract module exports, all of them, with their contract types. */
type Values<M> = { readonly [K in ValueKeys<M>]: M[K] }

/**
 * `Values<M>` with the types of some keys (each one of M's) given here instead: the contract's
 * service tags are `{ kind }` placeholders, so what mentions them is checked with the library's tag.
 */
type ValuesWith<M, Given extends { readonly [K in ValueKeys<M>]?: unknown }> = {
  readonly [K in ValueKeys<M>]: K extends keyof Given ? Given[K] : M[K]
}

/** `Values<M>` less some keys (each one of M's), which are checked on their own. */
type ValuesExcept<M, K extends ValueKeys<M>> = Omit<Values<M>, K>

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------
export const stateValues: Values<typeof Contract.State> = Lib.State

export type StateTypes = [
  Assignable<Lib.State.State<number, string>, Contract.State.State<number, string>>,
  Assignable<Contract.State.State<number, string>, Lib.State.State<number, string>>,
  Assignable<Lib.State.StateType, Contract.State.StateType>,
  Assignable<Contract.State.StateType, Lib.State.StateType>,
  Assignable<Lib.State.StateName, Contract.State.StateName>,
  Assignable<Contract.State.StateName, Lib.State.StateName>,
  Assignable<Lib.State.Base<"RUNNING">, Contract.State.Base<"RUNNING">>,
  Assignable<Contract.State.Base<"RUNNING">, Lib.State.Base<"RUNNING">>,
  Assignable<Lib.State.Scheduled, Contract.State.Scheduled>,
  Assignable<Contract.State.Scheduled, Lib.State.Scheduled>,
  Assignable<Lib.State.Pending, Contract.State.Pending>,
  Assignable<Contract.State.Pending, Lib.State.Pending>,
  Assignable<Lib.State.Running, Contract.State.Running>,
  Assignable<Contract.State.Running, Lib.State.Running>,
  Assignable<Lib.State.Paused, Contract.State.Paused>,
  Assignable<Contract.State.Paused, Lib.State.Paused>,
  Assignable<Lib.State.Cancelling, Contract.State.Cancelling>,
  Assignable<Contract.State.Cancelling, Lib.State.Cancelling>,
  Assignable<Lib.State.Cancelled, Contract.State.Cancelled>,
  Assignable<Contract.State.Cancelled, Lib.State.Cancelled>,
  Assignable<Lib.State.Completed<number>, Contract.State.Completed<number>>,
  Assignable<Contract.State.Completed<number>, Lib.State.Completed<number>>,
  Assignable<Lib.State.Failed<string>, Contract.State.Failed<string>>,
  Assignable<Contract.State.Failed<string>, Lib.State.Failed<string>>,
  Assignable<Lib.State.Crashed, Contract.State.Crashed>,
  Assignable<Contract.State.Crashed, Lib.State.Crashed>,
  Assignable<Lib.State.ConstructorOptions, Contract.State.ConstructorOptions>,
  Assignable<Contract.State.ConstructorOptions, Lib.State.ConstructorOptions>
]

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------
// The classes as the contract declares them (constructor, `_tag`, Schema statics).
export const errors: Values<typeof Contract.Errors> = Lib.Errors

type ErrorName = ValueKeys<typeof Contract.Errors>
/** Per error class: the library's instances are the contract's, and the class is a Schema of them. */
type ErrorChecks = {
  readonly [K in ErrorName]: [
    InstanceType<(typeof Lib.Errors)[K]> extends InstanceType<(typeof Contract.Errors)[K]> ? true : false,
    InstanceType<(typeof Contract.Errors)[K]> extends InstanceType<(typeof Lib.Errors)[K]> ? true : false,
    Schema.Schema.Type<(typeof Lib.Errors)[K]> extends InstanceType<(typeof Contract.Errors)[K]> ? true : false
  ]
}
export type ErrorTypes = Assignable<ErrorChecks, { readonly [K in ErrorName]: [true, true, true] }>

// ---------------------------------------------------------------------------------------------
// Futures
// ---------------------------------------------------------------------------------------------
// The generic `make`s and resolve functions are checked at one instantiation below: comparing two separately declared
// generic signatures makes TypeScript infer E from `result`'s error union, which is not what users
// write.
export const futuresValues: ValuesExcept<
  typeof Contract.Futures,
  | "PrefectDistributedFuture"
  | "PrefectFlowRunFuture"
  | "PrefectFutureList"
  | "resolveFuturesToStates"
  | "resolveFuturesToResults"
> = Lib.Futures
export type FutureConstructorKeys = [
  Assignable<ValueKeys<typeof Contract.Futures.PrefectDistributedFuture>, "make">,
  Assignable<ValueKeys<typeof Contract.Futures.PrefectFlowRunFuture>, "make">,
  Assignable<ValueKeys<typeof Contract.Futures.PrefectFutureList>, "make">
]
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
// Without type arguments the `make`s of the store's futures follow a run of unknown value and error.
export const distributedMakeDefaults: (
  taskRunId: string
) => Effect.Effect<Contract.Futures.PrefectDistributedFuture<unknown, unknown>, never, Lib.RunStore.RunStore> = Lib
  .Futures.PrefectDistributedFuture.make
export const flowRunMakeDefaults: (
  flowRunId: string
) => Effect.Effect<Contract.Futures.PrefectFlowRunFuture<unknown, unknown>, never, Lib.RunStore.RunStore> = Lib
  .Futures.PrefectFlowRunFuture.make

export type FutureTypes = [
  Assignable<Lib.Futures.PrefectFuture<number, string>, Contract.Futures.PrefectFuture<number, string>>,
  Assignable<Contract.Futures.PrefectFuture<number, string>, Lib.Futures.PrefectFuture<number, string>>,
  Assignable<Lib.Futures.PrefectTaskRunFuture<number, string>, Contract.Futures.PrefectTaskRunFuture<number, string>>,
  Assignable<Contract.Futures.PrefectTaskRunFuture<number, string>, Lib.Futures.PrefectTaskRunFuture<number, string>>,
  Assignable<
    Lib.Futures.PrefectWrappedFuture<number, string, Date>,
    Contract.Futures.PrefectWrappedFuture<number, string, Date>
  >,
  Assignable<
    Contract.Futures.PrefectWrappedFuture<number, string, Date>,
    Lib.Futures.PrefectWrappedFuture<number, string, Date>
  >,
  // The library says what the wrapped fiber yields; the contract only that it is a Fiber.
  Assignable<
    Lib.Futures.PrefectConcurrentFuture<number, string>,
    Contract.Futures.PrefectConcurrentFuture<number, string>
  >,
  Assignable<Lib.Futures.PrefectConcurrentFuture<number, string>["wrappedFuture"], Fiber.Fiber<unknown, unknown>>,
  Assignable<Lib.Futures.PrefectFutureList<number, string>, Contract.Futures.PrefectFutureList<number, string>>,
  Assignable<Contract.Futures.PrefectFutureList<number, string>, Lib.Futures.PrefectFutureList<number, string>>,
  Assignable<Lib.Futures.PrefectFlowRunFuture<number, string>, Contract.Futures.PrefectFlowRunFuture<number, string>>,
  Assignable<Contract.Futures.PrefectFlowRunFuture<number, string>, Lib.Futures.PrefectFlowRunFuture<number, string>>,
  Assignable<
    Lib.Futures.PrefectDistributedFuture<number, string>,
    Contract.Futures.PrefectDistributedFuture<number, string>
  >,
  Assignable<
    Contract.Futures.PrefectDistributedFuture<number, string>,
    Lib.Futures.PrefectDistributedFuture<number, string>
  >,
  Assignable<Lib.Futures.DoneAndNotDoneFutures<number>, Contract.Futures.DoneAndNotDoneFutures<number>>,
  Assignable<Contract.Futures.DoneAndNotDoneFutures<number>, Lib.Futures.DoneAndNotDoneFutures<number>>,
  Assignable<Lib.Futures.ResultError, Contract.Futures.ResultError>,
  Assignable<Contract.Futures.ResultError, Lib.Futures.ResultError>,
  Assignable<Lib.Futures.ReturnWhen, Contract.Futures.ReturnWhen>,
  Assignable<Contract.Futures.ReturnWhen, Lib.Futures.ReturnWhen>,
  Assignable<Lib.Futures.Quote<number>, Contract.Futures.Quote<number>>,
  Assignable<Contract.Futures.Quote<number>, Lib.Futures.Quote<number>>,
  Assignable<
    Lib.Futures.ResolvedResults<
      { a: Lib.Futures.PrefectFuture<number>; b: Map<string, Lib.Futures.PrefectFutureList<string>> }
    >,
    { a: number; b: Map<string, Array<string>> }
  >
]

// The computed types are conditional types: the library's and the contract's are compared on one
// expression that reaches every branch (future, list, Quote, Map keys and values, Set, tuple,
// readonly array, record, opaque values), built of the library's futures for the library's types and
// of the contract's for the contract's (inferring `E` from the other declaration's future would pick
// up its `result` error union).
type Future<M, A, E> = M extends "lib" ? Lib.Futures.PrefectFuture<A, E> : Contract.Futures.PrefectFuture<A, E>
type List<M, A, E> = M extends "lib" ? Lib.Futures.PrefectFutureList<A, E> : Contract.Futures.PrefectFutureList<A, E>
type Quote<M, T> = M extends "lib" ? Lib.Futures.Quote<T> : Contract.Futures.Quote<T>
type Everything<M extends "lib" | "contract"> = {
  future: Future<M, number, "E1">
  list: List<M, string, "E2">
  quoted: Quote<M, Future<M, boolean, "E3">>
  map: Map<Future<M, string, "E4">, Future<M, Date, "E5">>
  readonlyMap: ReadonlyMap<string, Future<M, bigint, "E6">>
  set: Set<Future<M, number, "E7">>
  readonlySet: ReadonlySet<List<M, number, "E8">>
  tuple: readonly [Future<M, 1, "E9">, "plain", { deep: Array<Future<M, 2, "E10">> }]
  opaque: [Date, RegExp, null, undefined, (n: number) => string]
}
type LibEverything = Everything<"lib">
type ContractEverything = Everything<"contract">
export type ComputedTypes = [
  Assignable<Lib.Futures.ResolvedResults<LibEverything>, Contract.Futures.ResolvedResults<ContractEverything>>,
  Assignable<Contract.Futures.ResolvedResults<ContractEverything>, Lib.Futures.ResolvedResults<LibEverything>>,
  Assignable<Lib.Futures.ResolvedStates<LibEverything>, Contract.Futures.ResolvedStates<ContractEverything>>,
  Assignable<Contract.Futures.ResolvedStates<ContractEverything>, Lib.Futures.ResolvedStates<LibEverything>>,
  Assignable<Lib.Futures.FutureErrors<LibEverything>, Contract.Futures.FutureErrors<ContractEverything>>,
  Assignable<Contract.Futures.FutureErrors<ContractEverything>, Lib.Futures.FutureErrors<LibEverything>>,
  // Quoted futures are no errors of the expression.
  Assignable<Lib.Futures.FutureErrors<LibEverything>, Exclude<`E${number}`, "E3">>,
  Assignable<"E1" | "E2" | "E4" | "E5" | "E6" | "E7" | "E8" | "E9" | "E10", Lib.Futures.FutureErrors<LibEverything>>
]
// The resolve functions, at that instantiation (generic conditional types of two declarations
// cannot be compared as generic signatures).
export const resolveEverythingToResults: Effect.Effect<
  Contract.Futures.ResolvedResults<ContractEverything>,
  | Contract.Futures.FutureErrors<ContractEverything>
  | Contract.Errors.CancelledRun
  | Contract.Errors.CrashedRun
  | Contract.Errors.UnfinishedRun
  | Contract.Errors.MissingResult
> = Lib.Futures.resolveFuturesToResults({} as LibEverything)
export const resolveEverythingToStates: Effect.Effect<Contract.Futures.ResolvedStates<ContractEverything>> = Lib
  .Futures.resolveFuturesToStates({} as LibEverything)

// The resolve functions' computed types, compared at one instantiation.
type Expr = { a: Lib.Futures.PrefectFuture<number, "E">; list: Lib.Futures.PrefectFutureList<string> }
export const resolvedResults: Effect.Effect<{ a: number; list: Array<string> }, "E" | Lib.Futures.ResultError> = Lib
  .Futures.resolveFuturesToResults({} as Expr)
export const resolvedStates: Effect.Effect<
  { a: Contract.State.State<number, "E">; list: Array<Contract.State.State<string, never>> }
> = Lib.Futures.resolveFuturesToStates({} as Expr)

// ---------------------------------------------------------------------------------------------
// Task, Flow
// ---------------------------------------------------------------------------------------------
export const taskValues: Values<typeof Contract.Task> = Lib.Task
export const flowValues: Values<typeof Contract.Flow> = Lib.Flow
export type TaskTypes = [
  // The library's tasks and flows have more members (`mapDelay`): one way only.
  Assignable<Lib.Task.Task<[number], string, Error>, Contract.Task.Task<[number], string, Error>>,
  Assignable<
    Lib.Task.Task<[number, string], string, Error, "R">,
    Contract.Task.Task<[number, string], string, Error, "R">
  >,
  Assignable<Lib.Task.Any, Contract.Task.Any>,
  Assignable<Lib.Task.TaskOptions, Contract.Task.TaskOptions>,
  Assignable<Contract.Task.TaskOptions, Lib.Task.TaskOptions>,
  Assignable<Lib.Task.WithOptions, Contract.Task.WithOptions>,
  Assignable<Contract.Task.WithOptions, Lib.Task.WithOptions>,
  Assignable<Lib.Task.Unmapped<number>, Contract.Task.Unmapped<number>>,
  Assignable<Contract.Task.Unmapped<number>, Lib.Task.Unmapped<number>>,
  Assignable<Lib.Task.AllowFailure<number>, Contract.Task.AllowFailure<number>>,
  Assignable<Contract.Task.AllowFailure<number>, Lib.Task.AllowFailure<number>>,
  Assignable<Lib.Task.SubmitArg<number>, Contract.Task.SubmitArg<number>>,
  Assignable<Contract.Task.SubmitArg<number>, Lib.Task.SubmitArg<number>>,
  Assignable<Lib.Task.SubmitArgs<[number, string]>, Contract.Task.SubmitArgs<[number, string]>>,
  Assignable<Contract.Task.SubmitArgs<[number, string]>, Lib.Task.SubmitArgs<[number, string]>>,
  Assignable<Lib.Task.MapArg<number>, Contract.Task.MapArg<number>>,
  Assignable<Contract.Task.MapArg<number>, Lib.Task.MapArg<number>>,
  Assignable<Lib.Task.MapArgs<[number, string]>, Contract.Task.MapArgs<[number, string]>>,
  Assignable<Contract.Task.MapArgs<[number, string]>, Lib.Task.MapArgs<[number, string]>>,
  Assignable<Lib.Flow.Flow<[number], string, Error>, Contract.Flow.Flow<[number], string, Error>>,
  Assignable<
    Lib.Flow.Flow<[number], Lib.Futures.PrefectFuture<string, "E">, Error, "R" | Lib.TaskRunner.TaskRunner>,
    Contract.Flow.Flow<[number], Lib.Futures.PrefectFuture<string, "E">, Error, "R" | Lib.TaskRunner.TaskRunner>
  >,
  Assignable<Lib.Flow.Any, Contract.Flow.Any>,
  Assignable<Omit<Lib.Flow.FlowOptions, "taskRunner">, Omit<Contract.Flow.FlowOptions, "taskRunner">>,
  Assignable<Omit<Contract.Flow.FlowOptions, "taskRunner">, Omit<Lib.Flow.FlowOptions, "taskRunner">>,
  // A flow's options take a runner as the contract's do (a Layer of the runner, with no error).
  Assignable<Layer.Layer<Lib.TaskRunner.TaskRunner>, NonNullable<Lib.Flow.FlowOptions["taskRunner"]>>
]

// ---------------------------------------------------------------------------------------------
// TaskRunner, RunStore, TaskWorker
// ---------------------------------------------------------------------------------------------
// The contract's services are `{ kind }` placeholders; the library's have more members, so a Layer
// of the contract's tag (contravariant in its service) is not checked, but the library's tags
// (their key, their class) and that its services are usable where the contract's are expected.
export const taskRunnerValues: ValuesWith<typeof Contract.TaskRunner, {
  TaskRunner: Context.TagClass<Lib.TaskRunner.TaskRunner, "effect-taskflow/TaskRunner", Lib.TaskRunner.Service>
  concurrent: (options?: { readonly maxConcurrency?: number }) => Layer.Layer<Lib.TaskRunner.TaskRunner>
  workerPool: (options: {
    readonly size: number
    readonly module: URL | string
  }) => Layer.Layer<Lib.TaskRunner.TaskRunner, unknown, unknown>
}> = Lib.TaskRunner
export const runStoreValues: ValuesWith<typeof Contract.RunStore, {
  RunStore: Context.TagClass<Lib.RunStore.RunStore, "effect-taskflow/RunStore", Lib.RunStore.Service>
  memory: Layer.Layer<Lib.RunStore.RunStore>
  sqlite: (options: { readonly filename: string }) => Layer.Layer<Lib.RunStore.RunStore, unknown>
  postgres: (options: { readonly url: string }) => Layer.Layer<Lib.RunStore.RunStore, unknown>
}> = Lib.RunStore
export const taskWorkerValues: Values<typeof Contract.TaskWorker> = Lib.TaskWorker
export type ServiceTypes = [
  Assignable<Lib.TaskRunner.Service, Contract.TaskRunner.Service>,
  Assignable<Lib.RunStore.Service, Contract.RunStore.Service>,
  Assignable<Context.Tag.Service<Lib.TaskRunner.TaskRunner>, Contract.TaskRunner.Service>,
  Assignable<Context.Tag.Service<Lib.RunStore.RunStore>, Contract.RunStore.Service>
]
export const concurrent: (options?: { readonly maxConcurrency?: number }) => Layer.Layer<Lib.TaskRunner.TaskRunner> =
  Lib.TaskRunner.concurrent
export const memory: Layer.Layer<Lib.RunStore.RunStore> = Lib.RunStore.memory
export const runnerTag: Effect.Effect<Contract.TaskRunner.Service, never, Lib.TaskRunner.TaskRunner> =
  Lib.TaskRunner.TaskRunner
export const storeTag: Effect.Effect<Contract.RunStore.Service, never, Lib.RunStore.RunStore> = Lib.RunStore.RunStore
export type DeferredTypes = [
  Assignable<Lib.Futures.PrefectDistributedFuture<number, "E">, Contract.Futures.PrefectDistributedFuture<number, "E">>,
  Assignable<Lib.Futures.PrefectFlowRunFuture<number, "E">, Contract.Futures.PrefectFlowRunFuture<number, "E">>
]

// ---------------------------------------------------------------------------------------------
// DESIGN.md's examples as a user writes them, with the types the contract gives their results.
// Compiled, never run (Task.make registers names when called).
// ---------------------------------------------------------------------------------------------
class User extends Schema.Class<User>("User")({ id: Schema.String }) {}
class FetchError extends Schema.TaggedError<FetchError>()("FetchError", { message: Schema.String }) {}

export const designExamples = () => {
  const double = Lib.Task.make("double", (n: number) => Effect.succeed(n * 2))
  const add = Lib.Task.make("add", (a: number, b: number) => Effect.succeed(a + b))
  const fetchUser = Lib.Task.make({
    name: "fetch-user",
    retries: 3,
    retryDelay: "1 second",
    timeout: "10 seconds",
    tags: ["io"],
    success: User,
    failure: FetchError
  }, (id: string) => id === "" ? Effect.fail(new FetchError({ message: "no id" })) : Effect.succeed(new User({ id })))
  const pipeline = Lib.Flow.make(
    { name: "pipeline", taskRunner: Lib.TaskRunner.concurrent({ maxConcurrency: 8 }) },
    (xs: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const futures = yield* double.map(xs)
        return yield* futures.result()
      })
  )

  const inProcess = Effect.gen(function*() {
    const inline: number = yield* double(21)
    const f: Lib.Futures.PrefectConcurrentFuture<number> = yield* double.submit(inline)
    const g = yield* double.submit(f)
    const fs: Lib.Futures.PrefectFutureList<number> = yield* double.map([1, 2, 3])
    const sums = yield* add.map([1, 2, 3], Lib.Task.unmapped(10))
    const after = yield* double.with({ waitFor: [f, Lib.Task.allowFailure(g)] }).submit(1)
    const user = yield* fetchUser.submit("u1")

    yield* f.wait({ timeout: "5 seconds" })
    const value: number = yield* g.result({ timeout: 5 })
    // `fetchUser` has a timeout: DESIGN.md's `TaskTimeoutError` is in its error type.
    const exit: Exit.Exit<
      User,
      FetchError | Lib.Errors.CancelledRun | Lib.Errors.CrashedRun | Lib.Errors.TaskTimeoutError
    > = yield* user.result({
      raiseOnFailure: false
    })
    const handled: User | string = yield* user.result().pipe(
      Effect.catchTags({
        FetchError: (e) => Effect.succeed(e.message),
        CancelledRun: (e) => Effect.succeed(e.message),
        CrashedRun: (e) => Effect.succeed(e.message),
        UnfinishedRun: (e) => Effect.succeed(e.message),
        MissingResult: (e) => Effect.succeed(e.message),
        WaitTimeoutError: (e) => Effect.succeed(e.message),
        TaskTimeoutError: (e) => Effect.succeed(e.message)
      })
    )
    yield* after.addDoneCallback((future) => Effect.asVoid(future.state))
    const state: Lib.State.State<number> = yield* after.state
    const isDone: boolean = Lib.State.isFinal(state)

    const { done, notDone } = yield* Lib.Futures.wait(fs, { timeout: "1 second", returnWhen: "FIRST_EXCEPTION" })
    const [done2, notDone2] = yield* Lib.Futures.wait([f, g])
    const inOrder: ReadonlyArray<Lib.Futures.PrefectFuture<number>> = yield* Lib.Futures.asCompleted(fs, {
      timeout: "1 second"
    }).pipe(Stream.runCollect, Effect.map((chunk) => Array.from(chunk)))
    const resolved: { pair: [number, number]; list: Array<number>; quoted: Lib.Futures.Quote<number> } = yield* Lib
      .Futures.resolveFuturesToResults({
        pair: [f, g] as [typeof f, typeof g],
        list: sums,
        quoted: Lib.Futures.quote(1)
      })
    const values: Array<number> = yield* pipeline([1, 2, 3])
    const fromFiber: Lib.Futures.PrefectFuture<number, string> = yield* Lib.Futures.fromFiber(
      yield* Effect.fork(Effect.fail("e") as Effect.Effect<number, string>)
    )
    return [value, exit, handled, isDone, done, notDone, done2, notDone2, inOrder, resolved, values, fromFiber]
  }).pipe(Effect.provide(Lib.TaskRunner.concurrent()))

  const distributed = Effect.gen(function*() {
    const d: Lib.Futures.PrefectDistributedFuture<number> = yield* double.delay(21)
    // A flow run's error is its body's: here `map`'s and `result`'s.
    const r: Lib.Futures.PrefectFlowRunFuture<
      Array<number>,
      Lib.Errors.MappingLengthMismatch | Lib.Errors.MappingMissingIterable | Lib.Futures.ResultError
    > = yield* pipeline.delay([1, 2, 3])
    const followed = yield* Lib.Futures.PrefectDistributedFuture.make<number, never>(d.taskRunId)
    const flowRun = yield* Lib.Futures.PrefectFlowRunFuture.make<Array<number>, never>(r.flowRunId)
    const served: Effect.Effect<never, never, Lib.RunStore.RunStore> = Lib.TaskWorker.serve([double, pipeline], {
      concurrency: 4
    })
    return [yield* followed.result(), yield* flowRun.result(), served]
  }).pipe(Effect.provide(Lib.RunStore.memory))

  const crashed: Lib.State.Crashed = Lib.State.crashed(Cause.die("boom"), { message: "m" })
  return [inProcess, distributed, crashed]
}

// ---------------------------------------------------------------------------------------------
// At run time
// ---------------------------------------------------------------------------------------------
type Kind = "function" | "error class" | "tag" | "layer" | "constructors"
/** What every value of the contract is; the compiler keeps this list exhaustive (no key more, none less). */
const contractValues: {
  readonly [M in keyof typeof Contract]: { readonly [K in ValueKeys<(typeof Contract)[M]>]: Kind }
} = {
  State: {
    isFinal: "function",
    isCompleted: "function",
    isFailed: "function",
    isCrashed: "function",
    isCancelled: "function",
    isPending: "function",
    isRunning: "function",
    isScheduled: "function",
    isPaused: "function",
    scheduled: "function",
    pending: "function",
    running: "function",
    completed: "function",
    failed: "function",
    crashed: "function",
    cancelled: "function",
    paused: "function",
    cancelling: "function",
    result: "function",
    schema: "function"
  },
  Errors: {
    WaitTimeoutError: "error class",
    CancelledRun: "error class",
    CrashedRun: "error class",
    UnfinishedRun: "error class",
    MissingResult: "error class",
    UpstreamTaskError: "error class",
    MappingLengthMismatch: "error class",
    MappingMissingIterable: "error class",
    TaskTimeoutError: "error class",
    RunStoreError: "error class",
    SerializationError: "error class",
    RunNotFound: "error class"
  },
  Futures: {
    PrefectDistributedFuture: "constructors",
    PrefectFlowRunFuture: "constructors",
    PrefectFutureList: "constructors",
    fromFiber: "function",
    wait: "function",
    asCompleted: "function",
    quote: "function",
    resolveFuturesToStates: "function",
    resolveFuturesToResults: "function"
  },
  Task: { make: "function", unmapped: "function", allowFailure: "function" },
  Flow: { make: "function" },
  TaskRunner: { TaskRunner: "tag", concurrent: "function", workerPool: "function" },
  RunStore: { RunStore: "tag", memory: "layer", sqlite: "function", postgres: "function" },
  TaskWorker: { serve: "function" }
}

const isKind = (kind: Kind, name: string, value: unknown): boolean => {
  switch (kind) {
    case "function":
      return typeof value === "function"
    case "error class":
      return typeof value === "function" && value.prototype instanceof Error &&
        (value as unknown as { readonly _tag: unknown })._tag === name && Schema.isSchema(value)
    case "tag":
      return Context.isTag(value)
    case "layer":
      return Layer.isLayer(value)
    case "constructors":
      return typeof value === "object" && value !== null && typeof (value as { make?: unknown }).make === "function"
  }
}

describe("API contract", () => {
  it("every value the contract names is there when the library loads, of the kind the contract says", () => {
    const wrong: Array<string> = []
    for (const [module, values] of Object.entries(contractValues)) {
      const exported = (Lib as unknown as Record<string, Record<string, unknown>>)[module]
      for (const [name, kind] of Object.entries(values)) {
        if (!isKind(kind as Kind, name, exported?.[name])) wrong.push(`${module}.${name} (${kind})`)
      }
    }
    expect(wrong).toEqual([])
  })
})
