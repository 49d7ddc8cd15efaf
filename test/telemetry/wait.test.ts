import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import { Futures, Task, TaskRunner } from "effect-taskflow"
import { makeTracing, parentIdOf, spansNamed } from "../support/tracing.js"

const sleepy = Task.make("wait-sleepy", (ms: number) => Effect.as(Effect.sleep(ms), ms))

describe("taskflow.wait spans", () => {
  it.effect("Futures.wait on many futures: count, done and not done, under the caller's span", () => {
    const tracing = makeTracing()
    return Effect.gen(function*() {
      const futures = yield* sleepy.map([100, 200, 10_000])
      const fiber = yield* Effect.fork(Effect.withSpan(Futures.wait(futures, { timeout: "1 second" }), "outer"))
      yield* TestClock.adjust("1 second")
      const { done, notDone } = yield* Fiber.join(fiber)
      expect([done.size, notDone.size]).toEqual([2, 1])
      const [outer] = spansNamed(tracing.exporter, "outer")
      const [wait] = spansNamed(tracing.exporter, "taskflow.wait")
      expect(parentIdOf(wait)).toBe(outer.spanContext().spanId)
      expect(wait.attributes).toMatchObject({
        "taskflow.wait.count": 3,
        "taskflow.wait.done": 2,
        "taskflow.wait.not_done": 1
      })
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(tracing.layer))
  })

  it.effect("a list's result(), resolving futures and asCompleted are wait spans; one future's result() is not", () => {
    const tracing = makeTracing()
    return Effect.gen(function*() {
      const futures = yield* sleepy.map([1, 2])
      const fiber = yield* Effect.fork(futures.result())
      yield* TestClock.adjust(5)
      expect(yield* Fiber.join(fiber)).toEqual([1, 2])
      expect(yield* Futures.resolveFuturesToResults({ a: futures.at(0)!, b: [futures.at(1)!] })).toEqual({
        a: 1,
        b: [2]
      })
      const seen = yield* Stream.runCollect(Futures.asCompleted(futures))
      expect(seen.length).toBe(2)
      expect(yield* futures.at(0)!.result()).toBe(1)
      const waits = spansNamed(tracing.exporter, "taskflow.wait")
      expect(waits.map((span) => span.attributes)).toEqual(Array.from({ length: 3 }, () => ({
        "taskflow.wait.count": 2,
        "taskflow.wait.done": 2,
        "taskflow.wait.not_done": 0
      })))
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(tracing.layer))
  })

  it.effect("with no tracer installed, waits make no span and still work", () =>
    Effect.gen(function*() {
      const futures = yield* sleepy.map([1, 2])
      const fiber = yield* Effect.fork(Futures.wait(futures))
      yield* TestClock.adjust(5)
      const { done } = yield* Fiber.join(fiber)
      expect(done.size).toBe(2)
    }).pipe(Effect.provide(TaskRunner.concurrent())))
})
