import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Option, Stream, TestClock } from "effect"
import { Errors, Futures, State, Task, TaskRunner } from "effect-taskflow"
import * as fc from "effect/FastCheck"
import { settle } from "./helpers.js"

const runner = TaskRunner.concurrent()

const sleepy = Task.make("futures-sleepy", (ms: number) => Effect.as(Effect.sleep(ms), ms))
const typedFailure = Task.make("futures-typed-failure", (message: string) => Effect.fail({ _tag: "Bad", message }))
const defect = Task.make("futures-defect", (message: string) => Effect.die(new Error(message)))
const identity = Task.make("futures-identity", <A>(a: A) => Effect.succeed(a))
const gated = Task.make("futures-gated", (gate: Deferred.Deferred<number>) => Deferred.await(gate))

const advance = (ms: number) => Effect.zipRight(settle, TestClock.adjust(ms)).pipe(Effect.zipRight(settle))

describe("PrefectFuture", () => {
  it.effect("result returns the value and state is Completed", () =>
    Effect.gen(function*() {
      const future = yield* sleepy.submit(10)
      yield* advance(10)
      expect(yield* future.result()).toBe(10)
      expect((yield* future.state).type).toBe("COMPLETED")
      expect(future.taskRunId).toMatch(/^[0-9a-f-]{36}$/)
    }).pipe(Effect.provide(runner)))

  it.effect("wait returns on timeout without failing; the run keeps going", () =>
    Effect.gen(function*() {
      const future = yield* sleepy.submit(1000)
      const waiting = yield* Effect.fork(future.wait({ timeout: "100 millis" }))
      yield* advance(100)
      expect(Option.isSome(yield* Fiber.poll(waiting))).toBe(true)
      expect((yield* future.state).type).toBe("RUNNING")
      yield* advance(900)
      yield* future.wait()
      expect((yield* future.state).type).toBe("COMPLETED")
    }).pipe(Effect.provide(runner)))

  it.effect("result with a timeout fails with WaitTimeoutError and Prefect's message", () =>
    Effect.gen(function*() {
      const future = yield* sleepy.submit(10_000)
      const fiber = yield* Effect.fork(Effect.flip(future.result({ timeout: "1.5 seconds" })))
      yield* advance(1500)
      const error = yield* Fiber.join(fiber)
      expect(error).toBeInstanceOf(Errors.WaitTimeoutError)
      expect(error.message).toBe(`Task run ${future.taskRunId} did not complete within 1.5 seconds`)
    }).pipe(Effect.provide(runner)))

  it.effect("result re-raises a typed failure as E and a defect as a defect", () =>
    Effect.gen(function*() {
      const typed = yield* typedFailure.submit("nope")
      expect(yield* Effect.flip(typed.result())).toEqual({ _tag: "Bad", message: "nope" })
      const died = yield* defect.submit("kaboom")
      const exit = yield* Effect.exit(died.result())
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.isFailType(exit.cause)).toBe(false)
    }).pipe(Effect.provide(runner)))

  it.effect("result with raiseOnFailure: false returns an Exit", () =>
    Effect.gen(function*() {
      const typed = yield* typedFailure.submit("nope")
      const exit = yield* typed.result({ raiseOnFailure: false })
      expect(exit).toEqual(Exit.fail({ _tag: "Bad", message: "nope" }))
      const ok = yield* sleepy.submit(0)
      expect(yield* ok.result({ raiseOnFailure: false })).toEqual(Exit.succeed(0))
    }).pipe(Effect.provide(runner)))

  it.effect("a negative or unreadable timeout dies with IllegalArgumentException", () =>
    Effect.gen(function*() {
      const future = yield* sleepy.submit(0)
      for (
        const effect of [
          future.wait({ timeout: -1 }),
          future.result({ timeout: -1 }),
          Futures.wait([future], { timeout: -1 }),
          Stream.runDrain(Futures.asCompleted([future], { timeout: -1 })),
          Futures.PrefectFutureList.make([future]).result({ timeout: -1 })
        ] as ReadonlyArray<Effect.Effect<unknown, unknown>>
      ) {
        const exit = yield* Effect.exit(effect)
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        expect(Option.getOrThrow(defect)).toBeInstanceOf(Cause.IllegalArgumentException)
        expect((Option.getOrThrow(defect) as Error).message).toBe("'timeout' must be a non-negative number, got -1")
      }
      const unreadable = yield* Effect.exit(future.wait({ timeout: "soon" as never }))
      expect(Exit.isFailure(unreadable) && Cause.isDie(unreadable.cause)).toBe(true)
    }).pipe(Effect.provide(runner)))

  it.effect("addDoneCallback runs at once when done, and later otherwise; every callback runs", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const future = yield* sleepy.submit(50)
      yield* future.addDoneCallback(() => {
        calls.push("first")
      })
      yield* future.addDoneCallback((f) => Effect.sync(() => calls.push(`second:${f.taskRunId === future.taskRunId}`)))
      expect(calls).toEqual([])
      yield* advance(50)
      yield* future.wait()
      yield* settle
      expect(calls.sort()).toEqual(["first", "second:true"])
      yield* future.addDoneCallback(() => {
        calls.push("after")
      })
      expect(calls).toContain("after")
    }).pipe(Effect.provide(runner)))

  // Prefect #21615: a raising done callback left _final_state unset and the flow hung.
  it.effect("a callback that throws, fails or dies never stalls wait, asCompleted or other callbacks", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const gate = yield* Deferred.make<number>()
      const future = yield* gated.submit(gate)
      yield* future.addDoneCallback(() => {
        throw new Error("callback throws")
      })
      yield* future.addDoneCallback(() => Effect.fail("callback fails"))
      yield* future.addDoneCallback(() => Effect.die("callback dies"))
      yield* future.addDoneCallback(() => {
        calls.push("survivor")
      })
      yield* Deferred.succeed(gate, 1)
      yield* future.wait()
      const streamed = yield* Stream.runCollect(Futures.asCompleted([future]))
      expect(Chunk.size(streamed)).toBe(1)
      yield* settle
      expect(calls).toEqual(["survivor"])
      expect(yield* future.result()).toBe(1)
    }).pipe(Effect.provide(runner)))

  it.effect("interrupting the wrapped fiber cancels the run", () =>
    Effect.gen(function*() {
      const future = yield* sleepy.submit(1000)
      yield* settle
      yield* Fiber.interrupt(future.wrappedFuture)
      const state = yield* future.state
      expect(state.type).toBe("CANCELLED")
      expect((yield* Effect.flip(future.result()))._tag).toBe("CancelledRun")
    }).pipe(Effect.provide(runner)))
})

describe("Futures.fromFiber", () => {
  it.effect("success → Completed, failure → Failed, interruption → Cancelled", () =>
    Effect.gen(function*() {
      const ok = yield* Futures.fromFiber(yield* Effect.fork(Effect.succeed("hi")))
      expect(yield* ok.result()).toBe("hi")
      const bad = yield* Futures.fromFiber(yield* Effect.fork(Effect.fail("no")))
      yield* bad.wait()
      expect((yield* bad.state).type).toBe("FAILED")
      const never = yield* Effect.fork(Effect.never)
      const cancelled = yield* Futures.fromFiber(never)
      yield* Fiber.interrupt(never)
      yield* cancelled.wait()
      expect((yield* cancelled.state).type).toBe("CANCELLED")
      const synthetic = yield* Futures.fromFiber(Fiber.succeed(5))
      expect(yield* synthetic.result()).toBe(5)
    }))
})

describe("Futures.wait", () => {
  // Prefect #18956: wait(timeout) on many futures waited for each in turn and ignored the timeout.
  it.effect("returns done and notDone when the timeout passes, and never fails", () =>
    Effect.gen(function*() {
      const fast = yield* sleepy.submit(10)
      const slow1 = yield* sleepy.submit(10_000)
      const slow2 = yield* sleepy.submit(10_000)
      const fiber = yield* Effect.fork(Futures.wait([fast, slow1, slow2], { timeout: 100 }))
      yield* advance(100)
      const result = yield* Fiber.join(fiber)
      const [done, notDone] = result
      expect(done).toEqual(new Set([fast]))
      expect(notDone).toEqual(new Set([slow1, slow2]))
      expect(result.done).toBe(done)
      expect(result.notDone).toBe(notDone)
    }).pipe(Effect.provide(runner)))

  it.effect("removes duplicates and waits for all by default", () =>
    Effect.gen(function*() {
      const a = yield* sleepy.submit(10)
      const b = yield* sleepy.submit(20)
      const fiber = yield* Effect.fork(Futures.wait([a, a, b, b]))
      yield* advance(20)
      const { done, notDone } = yield* Fiber.join(fiber)
      expect(done.size).toBe(2)
      expect(notDone.size).toBe(0)
    }).pipe(Effect.provide(runner)))

  it.effect("FIRST_COMPLETED returns when any future is done", () =>
    Effect.gen(function*() {
      const a = yield* sleepy.submit(10)
      const b = yield* sleepy.submit(1000)
      const fiber = yield* Effect.fork(Futures.wait([a, b], { returnWhen: "FIRST_COMPLETED" }))
      yield* advance(10)
      const { done, notDone } = yield* Fiber.join(fiber)
      expect([...done]).toEqual([a])
      expect([...notDone]).toEqual([b])
    }).pipe(Effect.provide(runner)))

  it.effect("FIRST_EXCEPTION returns at the first run that did not complete, or when all are done", () =>
    Effect.gen(function*() {
      const ok = yield* sleepy.submit(10)
      const bad = yield* typedFailure.with({ waitFor: [yield* sleepy.submit(20)] }).submit("x")
      const slow = yield* sleepy.submit(1000)
      const fiber = yield* Effect.fork(Futures.wait([ok, bad, slow], { returnWhen: "FIRST_EXCEPTION" }))
      yield* advance(10)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* advance(10)
      const { done, notDone } = yield* Fiber.join(fiber)
      expect(done).toEqual(new Set([ok, bad]))
      expect(notDone).toEqual(new Set([slow]))
      const allGood = yield* Futures.wait([ok], { returnWhen: "FIRST_EXCEPTION" })
      expect(allGood.done.size).toBe(1)
    }).pipe(Effect.provide(runner)))

  it.effect("is dual", () =>
    Effect.gen(function*() {
      const a = yield* sleepy.submit(0)
      const { done } = yield* Futures.wait({ timeout: "1 second" })([a])
      expect(done.size).toBe(1)
    }).pipe(Effect.provide(runner)))
})

/**
 * Checks `body` for random completion schedules: runs of `gated` (one per gate) that the body
 * completes in `schedule`'s order (the random delays sorted, ties by position).
 */
const forAnySchedule = (
  body: (
    gates: ReadonlyArray<Deferred.Deferred<number>>,
    futures: Futures.PrefectFutureList<number, never>,
    schedule: ReadonlyArray<number>
  ) => Effect.Effect<void, unknown, TaskRunner.TaskRunner>
) =>
  Effect.promise(() =>
    fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }), (delays) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const gates = yield* Effect.forEach(delays, () => Deferred.make<number>())
            const futures = yield* gated.map(gates)
            const schedule = delays.map((delay, index) => ({ delay, index }))
              .sort((a, b) => a.delay - b.delay || a.index - b.index)
              .map(({ index }) => index)
            yield* body(gates, futures, schedule)
          }).pipe(Effect.provide(runner))
        )),
      { numRuns: 50 }
    )
  )

describe("Futures.asCompleted", () => {
  it.effect("yields done futures first, then in completion order, each once", () =>
    Effect.gen(function*() {
      const already = yield* sleepy.submit(0)
      yield* already.wait()
      const futures = yield* sleepy.map([30, 10, 20])
      const order = yield* Futures.asCompleted([...futures, already, futures.at(0)!]).pipe(
        Stream.mapEffect((future) => future.result()),
        Stream.runCollect,
        Effect.fork
      )
      yield* advance(30)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(order))).toEqual([0, 10, 20, 30])
    }).pipe(Effect.provide(runner)))

  it.effect("fails with '<n> (of <m>) futures unfinished' when the timeout passes", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([10, 1000, 2000])
      const seen: Array<number> = []
      const fiber = yield* Futures.asCompleted(futures, { timeout: 100 }).pipe(
        Stream.mapEffect((future) => future.result()),
        Stream.runForEach((value) => Effect.sync(() => seen.push(value))),
        Effect.flip,
        Effect.fork
      )
      yield* advance(100)
      const error = yield* Fiber.join(fiber)
      expect(error).toEqual(new Errors.WaitTimeoutError({ message: "2 (of 3) futures unfinished" }))
      expect(seen).toEqual([10])
    }).pipe(Effect.provide(runner)))

  it.effect("a timeout of 0 still yields futures that are already done", () =>
    Effect.gen(function*() {
      const done = yield* sleepy.submit(0)
      yield* done.wait()
      const pending = yield* sleepy.submit(1000)
      const collected: Array<unknown> = []
      const error = yield* Futures.asCompleted([done, pending], { timeout: 0 }).pipe(
        Stream.runForEach((future) => Effect.sync(() => collected.push(future))),
        Effect.flip
      )
      expect(collected).toEqual([done])
      expect(error.message).toBe("1 (of 2) futures unfinished")
    }).pipe(Effect.provide(runner)))

  it.live("works with for await through Stream.toAsyncIterable", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([3, 1, 2])
      const values = yield* Effect.promise(async () => {
        const out: Array<number> = []
        for await (const future of Stream.toAsyncIterable(Futures.asCompleted(futures))) {
          out.push(await Effect.runPromise(future.result()))
        }
        return out
      })
      expect(values.sort()).toEqual([1, 2, 3])
    }).pipe(Effect.provide(runner)))

  it.effect("property: every future exactly once, in completion order, for any schedule", () =>
    forAnySchedule((gates, futures, schedule) =>
      Effect.gen(function*() {
        const fiber = yield* Futures.asCompleted(futures).pipe(Stream.runCollect, Effect.fork)
        for (const index of schedule) {
          yield* Deferred.succeed(gates[index], index)
          yield* futures.at(index)!.wait()
        }
        const yielded = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        expect(yielded.length).toBe(schedule.length)
        expect(new Set(yielded).size).toBe(schedule.length)
        expect(yielded).toEqual(schedule.map((index) => futures.at(index)))
      })
    ))
})

describe("Futures.wait for all, any completion order", () => {
  // wait (ALL_COMPLETED) observes one unfinished future at a time, moving on as each ends: it must
  // neither return before the last one ends nor miss the end of one that finished out of turn.
  it.effect("property: returns once the last future is done, and not before", () =>
    forAnySchedule((gates, futures, schedule) =>
      Effect.gen(function*() {
        const waiting = yield* Effect.fork(Futures.wait(futures))
        for (const index of schedule) {
          yield* Effect.yieldNow()
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
          yield* Deferred.succeed(gates[index], index)
          yield* futures.at(index)!.wait()
        }
        const { done, notDone } = yield* Fiber.join(waiting)
        expect(done).toEqual(new Set(futures))
        expect(notDone.size).toBe(0)
      })
    ))
})

describe("PrefectFutureList", () => {
  it.effect("is iterable, has length and at, and returns results in input order with duplicates", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([30, 10, 20])
      expect(futures.length).toBe(3)
      expect([...futures]).toEqual(futures.futures)
      expect(futures.at(-1)).toBe(futures.futures[2])
      expect(futures.at(3)).toBeUndefined()
      const list = Futures.PrefectFutureList.make([...futures, futures.at(0)!])
      const fiber = yield* Effect.fork(list.result())
      yield* advance(30)
      expect(yield* Fiber.join(fiber)).toEqual([30, 10, 20, 30])
    }).pipe(Effect.provide(runner)))

  // Prefect #20564 / PR #20592: fail fast, in completion order, keeping input order otherwise.
  it.effect("fails fast with the first failure in completion order", () =>
    Effect.gen(function*() {
      const slowFailure = yield* typedFailure.with({ waitFor: [yield* sleepy.submit(50)] }).submit("slow")
      const fastFailure = yield* typedFailure.with({ waitFor: [yield* sleepy.submit(10)] }).submit("fast")
      const never = yield* sleepy.submit(1_000_000)
      const list = Futures.PrefectFutureList.make([slowFailure, fastFailure, never])
      const fiber = yield* Effect.fork(Effect.flip(list.result()))
      yield* advance(10)
      expect(yield* Fiber.join(fiber)).toEqual({ _tag: "Bad", message: "fast" })
    }).pipe(Effect.provide(runner)))

  // Prefect #22633: the list's own timeout message was unreachable.
  it.effect("fails with the list's timeout message", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([10, 10_000])
      const fiber = yield* Effect.fork(Effect.flip(futures.result({ timeout: "2 seconds" })))
      yield* advance(2000)
      expect((yield* Fiber.join(fiber)).message).toBe(
        "Timed out waiting for all futures to complete within 2 seconds"
      )
    }).pipe(Effect.provide(runner)))

  it.effect("with raiseOnFailure: false returns every outcome as an Exit", () =>
    Effect.gen(function*() {
      const ok = yield* identity.submit(1)
      const bad = yield* typedFailure.submit("x")
      const exits = yield* Futures.PrefectFutureList.make<unknown, unknown>([ok, bad]).result({ raiseOnFailure: false })
      expect(exits).toEqual([Exit.succeed(1), Exit.fail({ _tag: "Bad", message: "x" })])
    }).pipe(Effect.provide(runner)))

  it.effect("wait never fails and respects its timeout", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([10, 10_000])
      const fiber = yield* Effect.fork(futures.wait({ timeout: 50 }))
      yield* advance(50)
      yield* Fiber.join(fiber)
      expect((yield* futures.at(0)!.state).type).toBe("COMPLETED")
      expect((yield* futures.at(1)!.state).type).toBe("RUNNING")
    }).pipe(Effect.provide(runner)))
})

describe("resolveFuturesToStates / resolveFuturesToResults", () => {
  it.effect("walk arrays, tuples, objects, Map keys and values, and Sets to any depth", () =>
    Effect.gen(function*() {
      const a = yield* identity.submit(1)
      const b = yield* identity.submit(2)
      const c = yield* identity.submit(3)
      const list = yield* identity.map([4, 5])
      const expr = {
        tuple: [a, "x"] as const,
        nested: { deeper: [{ value: b }] },
        map: new Map<unknown, unknown>([[c, "key is a future"], ["value", a]]),
        set: new Set([b, 9]),
        list,
        date: new Date(0)
      }
      const results = yield* Futures.resolveFuturesToResults(expr)
      expect(results.tuple).toEqual([1, "x"])
      expect(results.nested.deeper[0].value).toBe(2)
      expect(results.map).toEqual(new Map<unknown, unknown>([[3, "key is a future"], ["value", 1]]))
      expect(results.set).toEqual(new Set([2, 9]))
      expect(results.list).toEqual([4, 5])
      expect(results.date).toBe(expr.date)
      const n: number = results.nested.deeper[0].value
      expect(n).toBe(2)

      const states = yield* Futures.resolveFuturesToStates(expr)
      expect(states.tuple[0].type).toBe("COMPLETED")
      expect(State.isCompleted(states.nested.deeper[0].value)).toBe(true)
    }).pipe(Effect.provide(runner)))

  it.effect("leave quoted values alone and return input without futures as the same object", () =>
    Effect.gen(function*() {
      const a = yield* identity.submit(1)
      const quoted = Futures.quote([a])
      const expr = { quoted, plain: { x: 1 } }
      const resolved = yield* Futures.resolveFuturesToResults(expr)
      expect(resolved).toBe(expr)
      expect(resolved.quoted.value[0]).toBe(a)
      const plain = { x: [1, 2, { y: 3 }] }
      expect(yield* Futures.resolveFuturesToStates(plain)).toBe(plain)
      const withFuture = { keep: plain, f: a }
      const out = yield* Futures.resolveFuturesToResults(withFuture)
      expect(out.keep).toBe(plain)
    }).pipe(Effect.provide(runner)))

  // Prefect #21220: a flow's returned map was a PrefectFutureList of States, not a list.
  it.effect("a top-level PrefectFutureList becomes a plain array", () =>
    Effect.gen(function*() {
      const list = yield* identity.map([1, 2])
      const results = yield* Futures.resolveFuturesToResults(list)
      expect(Array.isArray(results)).toBe(true)
      expect(results).toEqual([1, 2])
      const states = yield* Futures.resolveFuturesToStates(list)
      expect(states.map((s) => s.type)).toEqual(["COMPLETED", "COMPLETED"])
    }).pipe(Effect.provide(runner)))

  it.effect("results fail with the error of a run that did not complete", () =>
    Effect.gen(function*() {
      const ok = yield* identity.submit(1)
      const bad = yield* typedFailure.submit("nope")
      const error = yield* Effect.flip(Futures.resolveFuturesToResults({ ok, bad }))
      expect(error).toEqual({ _tag: "Bad", message: "nope" })
      const notReady = yield* identity.submit(bad as never)
      const unfinished = yield* Effect.flip(Futures.resolveFuturesToResults([notReady]))
      expect((unfinished as Errors.UnfinishedRun)._tag).toBe("UnfinishedRun")
    }).pipe(Effect.provide(runner)))

  it.effect("handle cycles without looping", () =>
    Effect.gen(function*() {
      const a = yield* identity.submit(1)
      const cyclic: { self?: unknown; f: unknown } = { f: a }
      cyclic.self = cyclic
      const resolved = yield* Futures.resolveFuturesToResults(cyclic)
      expect((resolved as { f: unknown }).f).toBe(1)
    }).pipe(Effect.provide(runner)))
})
