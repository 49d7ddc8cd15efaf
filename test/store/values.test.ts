/**
 * Values cross every store exactly as sent, or fail loudly (issue 21): the memory store, SQLite and
 * PostgreSQL carry the same rich values (Date, Map, Set, bigint, typed arrays, undefined, -0, NaN,
 * Infinity) to a worker's body and back as results, and refuse the same values (a function, a symbol,
 * a class instance, a cyclic value, …) at `delay`, in its error channel, naming the argument.
 * The worker pool's structured-clone path refuses class instances the same way.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { Errors, Flow, RunStore, State, Task, TaskRunner, TaskWorker } from "effect-taskflow"
import { decodeValue, encodeValue } from "../../src/internal/codec/values.js"
import {
  Celsius,
  describeErrors,
  nestedErrors,
  Overheated,
  poolDescribe,
  poolFailsWithErrors,
  poolReturnsErrors,
  poolReturnsInstance,
  poolShape
} from "../fixtures/valueTasks.js"
import { storeCases } from "../support/stores.js"

/** What each body received, by the key given as its first argument (the body runs in this process). */
const received = new Map<string, ReadonlyArray<unknown>>()

const echo = Task.make("values-echo", (key: string, ...values: Array<unknown>) =>
  Effect.sync(() => {
    received.set(key, values)
    return values
  }))
const returnsInstance = Task.make("values-returns-instance", (degrees: number) => Effect.succeed(new Celsius(degrees)))
const failsWithInstance = Task.make(
  "values-fails-with-instance",
  (degrees: number) => Effect.fail(new Celsius(degrees))
)
const unkeptInstance = Task.make(
  { name: "values-unkept-instance", persistResult: false },
  (degrees: number) => Effect.succeed(new Celsius(degrees))
)
const failsOverheated = Task.make(
  "values-fails-overheated",
  (degrees: number) => Effect.fail(new Overheated({ degrees, at: new Date(0) }))
)
const echoFlow = Flow.make("values-echo-flow", (value: unknown) => Effect.succeed(value))

class Reading extends Schema.Class<Reading>("ValuesReading")({ degrees: Schema.Number }) {}
/** A flow's own Schemas: its class instances come back as instances. */
const readingsFlow = Flow.make(
  { name: "values-readings-flow", success: Schema.Array(Reading) },
  (degrees: ReadonlyArray<number>) => Effect.succeed(degrees.map((d) => new Reading({ degrees: d })))
)
const readingsFlowWithoutSchema = Flow.make(
  "values-readings-flow-without-schema",
  (degrees: ReadonlyArray<number>) => Effect.succeed(degrees.map((d) => new Reading({ degrees: d })))
)

const served = [
  echo,
  returnsInstance,
  failsWithInstance,
  unkeptInstance,
  failsOverheated,
  echoFlow,
  readingsFlow,
  readingsFlowWithoutSchema
]

/** Every rich value a store must carry exactly, as the arguments of one run. */
const richValues = (): ReadonlyArray<unknown> => [
  new Date("2024-01-02T03:04:05.678Z"),
  new Map<unknown, unknown>([["a", 1], [2, { b: new Set([1n]) }]]),
  new Set<unknown>([1, "two", new Date(0)]),
  12345678901234567890n,
  new Uint8Array([0, 1, 255]),
  new Float64Array([1.5, Number.NaN, -0]),
  undefined,
  { a: undefined, list: [1, undefined, 3] },
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  { $taskflow: "Date", value: "an object that looks like a tag" },
  { "@effect-taskflow/Error": true, message: "looks like an Error" },
  { when: new Date(0), tags: new Set(["x"]), nested: [[new Map([[1n, null]])]] }
]

const withSymbolKey = { [Symbol("key")]: 1 }
const withGetter = Object.defineProperty({}, "computed", { get: () => 1, enumerable: true })
const cyclic: Record<string, unknown> = { name: "loop" }
cyclic.self = cyclic

/** Values no store can carry exactly, and what the error must say about them (argument 2 each time). */
const refused: ReadonlyArray<readonly [string, unknown, ReadonlyArray<string>]> = [
  ["a function", () => 1, ["argument 2 is a function"]],
  ["a symbol", Symbol("s"), ["argument 2 is a symbol"]],
  ["a class instance", new Celsius(20), ["argument 2 is an instance of class Celsius"]],
  ["a class instance deep inside", { opts: { when: [new Celsius(1)] } }, [
    "argument 2 (at `.opts.when[0]`) is an instance of class Celsius"
  ]],
  ["an object with a symbol key", withSymbolKey, ["argument 2 is an object with a symbol key"]],
  ["an accessor", withGetter, ["argument 2 (at `.computed`) is an accessor"]],
  ["a cyclic value", cyclic, ["argument 2 (at `.self`) is a cyclic value"]],

  ["a sparse array", [1, , 3], ["argument 2 (at `[1]`) is a hole in a sparse array"]],
  ["a function in a Map", new Map([["k", () => 1]]), ["argument 2 (at `.get(\"k\")`) is a function"]]
]

/** What a SQL store hands back for a value: a copy through its stored form (tagged JSON text). */
const storeCopy = (value: unknown): unknown => decodeValue(JSON.parse(JSON.stringify(encodeValue(value))))

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined

for (const store of storeCases) {
  describe.skipIf(!store.available)(`values on ${store.name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, RunStore.RunStore>) =>
      Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(TaskWorker.serve(served, { concurrency: 4, heartbeatInterval: 20 }))
        return yield* effect
      })).pipe(Effect.provide(store.fresh()))

    it.live("rich arguments reach the worker's body exactly, and come back exactly as its result", () =>
      run(Effect.gen(function*() {
        const key = `${store.name}-rich`
        const sent = richValues()
        const future = yield* echo.delay(key, ...sent)
        const result = yield* future.result({ timeout: "20 seconds" })
        const got = received.get(key)!
        expect(got).toStrictEqual(sent)
        expect(got[1]).toBeInstanceOf(Map)
        expect(got[2]).toBeInstanceOf(Set)
        expect(got[0]).toBeInstanceOf(Date)
        expect(typeof got[3]).toBe("bigint")
        expect(got[4]).toBeInstanceOf(Uint8Array)
        expect(Object.is(got[8], -0)).toBe(true)
        expect("a" in (got[7] as object)).toBe(true)
        // A copy, as a store hands back: never the caller's own objects.
        expect(got[1]).not.toBe(sent[1])
        expect(result).toStrictEqual(sent)
        // The record shows the arguments as the worker got them.
        const record = yield* (yield* RunStore.RunStore).getRun(future.taskRunId)
        expect(record.parameters).toStrictEqual([key, ...sent])
      })))

    it.live("a value that cannot be stored exactly fails delay with SerializationError naming the argument", () =>
      run(Effect.gen(function*() {
        const s = yield* RunStore.RunStore
        for (const [what, value, says] of refused) {
          const error = yield* Effect.flip(echo.delay(`${store.name}-refused`, value))
          expect(error, what).toBeInstanceOf(Errors.SerializationError)
          for (const text of says) expect(error.message, what).toContain(text)
          expect(error.message, what).toContain("`parameters` Schema")
        }
        // Nothing was scheduled.
        expect(yield* s.listRuns({ name: "values-echo" })).toEqual([])
      })))

    it.live("mapDelay and flow.delay refuse the same way, in their error channel", () =>
      run(Effect.gen(function*() {
        const mapped = yield* Effect.flip(echo.mapDelay(["a", "b"], [1, new Celsius(3)]))
        expect(mapped._tag).toBe("SerializationError")
        expect(mapped.message).toContain("argument 2 is an instance of class Celsius")
        expect(yield* (yield* RunStore.RunStore).listRuns({ name: "values-echo" })).toEqual([])
        const flowError = yield* Effect.flip(echoFlow.delay(() => 1))
        expect(flowError._tag).toBe("SerializationError")
        expect(flowError.message).toContain("argument 1 is a function")
        const flowFuture = yield* echoFlow.delay(new Map([[1, new Date(5)]]))
        expect(yield* flowFuture.result({ timeout: "20 seconds" })).toStrictEqual(new Map([[1, new Date(5)]]))
      })))

    it.live("a result or failure that cannot be stored exactly fails the run with SerializationError naming the fix", () =>
      run(Effect.gen(function*() {
        const result = yield* returnsInstance.delay(20)
        const resultExit = yield* Effect.exit(result.result({ timeout: "20 seconds" }))
        const resultError = defectOf(resultExit)
        // Read back from the store: an Error with the same tag and fields.
        expect(resultError).toMatchObject({ _tag: "SerializationError" })
        expect((resultError as Errors.SerializationError).message).toContain(
          "the result is an instance of class Celsius"
        )
        expect((resultError as Errors.SerializationError).message).toContain("`success` Schema")
        expect((resultError as Errors.SerializationError).message).toContain("persistResult: false")
        expect(State.isFailed(yield* result.state)).toBe(true)

        const failure = yield* failsWithInstance.delay(20)
        const failureError = defectOf(yield* Effect.exit(failure.result({ timeout: "20 seconds" })))
        expect(failureError).toMatchObject({ _tag: "SerializationError" })
        expect((failureError as Errors.SerializationError).message).toContain(
          "the error is an instance of class Celsius"
        )

        // A flow's value follows the same rule; its `success` Schema carries class instances.
        const readings = yield* (yield* readingsFlow.delay([1, 2])).result({ timeout: "20 seconds" })
        expect(readings.map((r) => r instanceof Reading && r.degrees)).toEqual([1, 2])
        const unreadable = yield* readingsFlowWithoutSchema.delay([1])
        const flowError = defectOf(yield* Effect.exit(unreadable.result({ timeout: "20 seconds" })))
        expect(flowError).toMatchObject({ _tag: "SerializationError" })
        expect((flowError as Errors.SerializationError).message).toContain(
          "the result (at `[0]`) is an instance of class Reading"
        )

        // Not kept, not refused: the run completes (its result is only for this process).
        const unkept = yield* unkeptInstance.delay(20)
        yield* unkept.wait({ timeout: "20 seconds" })
        expect((yield* unkept.state).type).toBe("COMPLETED")
      })))

    it.live("a tagged error without a failure Schema is kept as an Error with its _tag and fields, not the class", () =>
      run(Effect.gen(function*() {
        const future = yield* failsOverheated.delay(20)
        yield* future.wait({ timeout: "20 seconds" })
        // Read back: what every store keeps, memory included, is a copy through the stored form.
        const state = (yield* (yield* RunStore.RunStore).getRun(future.taskRunId)).state
        const error = State.isFailed(state) ? Option.getOrUndefined(Cause.failureOption(state.cause)) : state
        expect(describeErrors(error)).toEqual(
          describeErrors(storeCopy(new Overheated({ degrees: 20, at: new Date(0) })))
        )
        expect(error).not.toBeInstanceOf(Overheated)
        expect(error).toMatchObject({ name: "Overheated", _tag: "Overheated", degrees: 20, at: new Date(0) })
        const caught = yield* future.result({ timeout: "20 seconds" }).pipe(
          Effect.catchTag("Overheated", (overheated) => Effect.succeed(overheated.degrees))
        )
        expect(caught).toBe(20)
      })))
  })
}

describe("values on the worker pool", () => {
  const pool = TaskRunner.workerPool({ size: 1, module: new URL("../fixtures/valueTasks.ts", import.meta.url) })

  it.live("a class instance argument fails the run with SerializationError naming the argument", () =>
    Effect.gen(function*() {
      const error = defectOf(yield* Effect.exit((yield* poolShape.submit(new Celsius(20))).result()))
      expect(error).toMatchObject({ _tag: "SerializationError" })
      expect((error as Errors.SerializationError).message).toContain("argument 1 is an instance of class Celsius")
      expect((error as Errors.SerializationError).message).toContain("`parameters` Schema")
      // What structured clone carries exactly still crosses.
      expect(yield* (yield* poolShape.submit(new Map([[1, 2]]))).result()).toBe("Map")
    }).pipe(Effect.provide(pool)))

  it.live("a class instance result fails the run with SerializationError naming the fix", () =>
    Effect.gen(function*() {
      const error = defectOf(yield* Effect.exit((yield* poolReturnsInstance.submit(20)).result()))
      expect(error).toMatchObject({ _tag: "SerializationError" })
      expect((error as Errors.SerializationError).message).toContain("the result is an instance of class Celsius")
      expect((error as Errors.SerializationError).message).toContain("`success` Schema")
    }).pipe(Effect.provide(pool)))

  it.live("Errors inside arguments reach the thread as a store keeps them: name, message, _tag, fields, any depth", () =>
    Effect.gen(function*() {
      const at = new Date(0)
      const argument = {
        top: new Overheated({ degrees: 90, at }),
        deep: [{ byName: new Map([["k", new Set([new Overheated({ degrees: 91, at })])]]) }],
        plain: new Error("plain"),
        // Plain objects that look like the records Errors cross as stay plain objects.
        lookalike: { "@effect-taskflow/Error": true, message: "looks like an Error" },
        taggedLookalike: { $taskflow: "object", value: { a: 1 } }
      }
      const seen = yield* (yield* poolDescribe.submit(argument)).result()
      expect(seen).toEqual(describeErrors(storeCopy(argument)))
      expect(seen).toMatchObject({
        top: { error: "Overheated", overheated: false, fields: { _tag: "Overheated", degrees: 90 } }
      })
      // An Error as the whole argument (as `allowFailure` passes an upstream's error), and in a cycle.
      const top = new Overheated({ degrees: 92, at })
      expect(yield* (yield* poolDescribe.submit(top)).result()).toEqual(describeErrors(storeCopy(top)))
      const loop: Record<string, unknown> = { error: new Overheated({ degrees: 93, at }) }
      loop.self = loop
      expect(yield* (yield* poolDescribe.submit(loop)).result()).toEqual({
        error: describeErrors(storeCopy(loop.error)),
        self: "<cycle>"
      })
    }).pipe(Effect.provide(pool)))

  it.live("Errors inside a result or a failure come back as a store keeps them", () =>
    Effect.gen(function*() {
      const expected = describeErrors(storeCopy(nestedErrors()))
      const result = yield* (yield* poolReturnsErrors.submit()).result()
      expect(describeErrors(result)).toEqual(expected)
      const failure = yield* Effect.flip((yield* poolFailsWithErrors.submit()).result())
      expect(describeErrors(failure)).toEqual(expected)
    }).pipe(Effect.provide(pool)))
})
