import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Option, Ref } from "effect"
import { Futures, RunStore, Task, TaskRunner } from "effect-taskflow"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { settle } from "./helpers.js"

const leaf = Task.make("runner-leaf", (n: number) => Effect.succeed(n + 1))

// Prefect #14143, #14194, #17060: a task waiting on tasks it submitted deadlocked a bounded pool.
const parent = Task.make("runner-parent", (n: number) =>
  Effect.gen(function*() {
    const child = yield* leaf.submit(n)
    const children = yield* leaf.map([n, n])
    const viaWait = yield* Futures.wait([yield* leaf.submit(n)])
    return (yield* child.result()) + (yield* children.result()).length + viaWait.done.size
  }))

describe("TaskRunner.concurrent", () => {
  it.effect("a bounded runner does not deadlock when tasks wait on runs they submitted", () =>
    Effect.gen(function*() {
      const futures = yield* parent.map([1, 2, 3])
      expect(yield* futures.result()).toEqual([5, 6, 7])
    }).pipe(Effect.provide(TaskRunner.concurrent({ maxConcurrency: 1 }))))

  it.effect("a bounded runner never runs more bodies at once than its limit", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const work = Task.make("runner-counted", (_: number) =>
        Effect.acquireUseRelease(
          Ref.updateAndGet(running, (n) => n + 1).pipe(Effect.tap((n) => Ref.update(peak, (p) => Math.max(p, n)))),
          () => Deferred.await(gate),
          () => Ref.update(running, (n) => n - 1)
        ))
      const futures = yield* work.map(Array.from({ length: 10 }, () => 0))
      yield* settle
      expect(yield* Ref.get(running)).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      yield* futures.wait()
      expect(yield* Ref.get(peak)).toBe(3)
    }).pipe(Effect.provide(TaskRunner.concurrent({ maxConcurrency: 3 }))))

  it.effect("a maxConcurrency that is not a positive integer is rejected", () =>
    Effect.gen(function*() {
      for (const bad of [0, -1, 1.5]) {
        const exit = yield* Effect.exit(Effect.provide(Effect.void, TaskRunner.concurrent({ maxConcurrency: bad })))
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        expect(Option.getOrThrow(defect)).toBeInstanceOf(Cause.IllegalArgumentException)
      }
    }))

  it.effect("the runner service says what it is", () =>
    Effect.gen(function*() {
      const runner = yield* TaskRunner.TaskRunner
      expect(runner.kind).toBe("concurrent")
      expect(runner.maxConcurrency).toBe(4)
      expect(runner.store.kind).toBe("memory")
    }).pipe(Effect.provide(TaskRunner.concurrent({ maxConcurrency: 4 }))))
})

describe("a TaskRunner that lives as long as its process", () => {
  const failing = Task.make("runner-failing", (n: number) => Effect.fail(`no ${n}`))
  /** V8's collector, reached without starting Node with --expose-gc. */
  const collectGarbage = (): void => {
    v8.setFlagsFromString("--expose-gc")
    ;(vm.runInNewContext("gc") as () => void)()
  }

  // A flow reads the failed runs of its own runner when it ends; every other runner kept them all
  // too, so a runner as old as its process held every failed run it ever ran.
  it.live("does not keep its failed runs once their futures are dropped", () =>
    Effect.gen(function*() {
      const states: Array<WeakRef<object>> = []
      for (let n = 0; n < 300; n++) {
        const future = yield* failing.submit(n)
        yield* future.wait()
        states.push(new WeakRef(yield* future.state))
      }
      // A WeakRef read in this job keeps its target until the job ends: collect in a later one.
      yield* Effect.sleep(10)
      collectGarbage()
      // The store keeps no finished run (a few wait in its arrays to be compacted); before, all 300 stayed.
      expect(states.filter((state) => state.deref() !== undefined).length).toBeLessThan(100)
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(RunStore.memoryWith({ keepFinished: 0 }))))
})
