/**
 * What only the worker pool has: threads that load a module, values that must cross, threads that
 * die or must be stopped. Real threads, so these tests run on the live clock with short periods.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option } from "effect"
import { Errors, Flow, Task, TaskRunner } from "effect-taskflow"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import {
  badResult,
  double,
  exhaustHeap,
  exitIfZero,
  exitThread,
  functionIfZero,
  returnsFunction,
  spin,
  spinTelling,
  tally,
  throwOutside
} from "./fixtures/poolTasks.js"
import { settle } from "./helpers.js"

const poolModule = new URL("./fixtures/poolTasks.ts", import.meta.url)
const pool = (options?: Partial<TaskRunner.WorkerPoolOptions>) =>
  TaskRunner.workerPool({ size: 2, module: poolModule, interruptGracePeriod: "100 millis", ...options })

/** Defined here only: the pool's module does not know it. */
const mainThreadOnly = Task.make("pool-main-thread-only", (n: number) => Effect.succeed(n))
const echo = Task.make("pool-echo", (value: unknown) => Effect.succeed(value))

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined

/** `Atomics.waitAsync` (ES2024; the project's lib is ES2022). */
const waitAsync = (Atomics as unknown as {
  readonly waitAsync: (
    array: Int32Array,
    index: number,
    value: number
  ) => { readonly async: false; readonly value: string } | { readonly async: true; readonly value: Promise<string> }
}).waitAsync

/**
 * Waits until `counts[index]` (shared with the pool's threads) reaches `atLeast`: a task body on a
 * thread counts there as it begins, so its run is known to be running on its thread.
 */
const begun = (counts: Int32Array, index: number, atLeast: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const now = Atomics.load(counts, index)
    if (now >= atLeast) return Effect.void
    const waiting = waitAsync(counts, index, now)
    return Effect.zipRight(
      waiting.async ? Effect.promise(() => waiting.value) : Effect.void,
      begun(counts, index, atLeast)
    )
  })

describe("TaskRunner.workerPool: start-up", () => {
  it.live("a module that fails to load fails the layer with WorkerPoolError", () =>
    Effect.gen(function*() {
      const broken = TaskRunner.workerPool({ size: 2, module: new URL("./fixtures/brokenModule.ts", import.meta.url) })
      const error = yield* Effect.flip(Layer.build(broken).pipe(Effect.scoped))
      expect(error).toBeInstanceOf(Errors.WorkerPoolError)
      expect(error.message).toContain("this module is broken on purpose")
    }))

  it.live("a flow whose worker pool cannot start ends Crashed and fails with CrashedRun", () =>
    Effect.gen(function*() {
      const broken = TaskRunner.workerPool({ size: 1, module: new URL("./fixtures/brokenModule.ts", import.meta.url) })
      const flow = Flow.make({ name: "pool-broken-runner-flow", taskRunner: broken }, () => Effect.succeed(1))
      const error = yield* Effect.flip(flow())
      expect(error).toBeInstanceOf(Errors.CrashedRun)
      expect(error.message).toContain("could not start")
    }))

  it.live("a size that is not a positive integer dies with IllegalArgumentException", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(pool({ size: 0 })).pipe(Effect.scoped))
      expect(Cause.isIllegalArgumentException(defectOf(exit))).toBe(true)
    }))
})

layer(pool(), { excludeTestServices: true, timeout: 60_000 })("TaskRunner.workerPool", (it) => {
  it.effect("a task the module does not define fails the run with UnknownTask", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit((yield* mainThreadOnly.submit(1)).result())
      expect(defectOf(exit)).toMatchObject({ _tag: "UnknownTask", taskName: "pool-main-thread-only" })
    }))

  it.effect("an argument structured clone cannot copy fails the run at once with SerializationError", () =>
    Effect.gen(function*() {
      const future = yield* echo.submit({ callback: () => 1 })
      const exit = yield* Effect.exit(future.result())
      expect(defectOf(exit)).toMatchObject({ _tag: "SerializationError", runId: future.taskRunId })
      expect((yield* future.state).type).toBe("FAILED")
    }))

  it.effect("a result that fails its Schema, or cannot be cloned, fails the run with SerializationError", () =>
    Effect.gen(function*() {
      const mismatch = defectOf(yield* Effect.exit((yield* badResult.submit()).result()))
      expect(mismatch).toMatchObject({ _tag: "SerializationError" })
      expect(String((mismatch as Error).message)).toContain("success Schema")
      const uncloneable = defectOf(yield* Effect.exit((yield* returnsFunction.submit()).result()))
      expect(uncloneable).toMatchObject({ _tag: "SerializationError" })
    }))

  it.effect("a CPU-bound run that does not yield is stopped by terminating its thread; the pool carries on", () =>
    Effect.gen(function*() {
      const started = new SharedArrayBuffer(4)
      const future = yield* spinTelling.submit(started, 60_000)
      // Its body spins on its thread: only terminating the thread can stop it now.
      yield* begun(new Int32Array(started), 0, 1)
      yield* Fiber.interrupt(future.wrappedFuture)
      expect((yield* future.state).type).toBe("CANCELLED")
      const next = yield* double.map([1, 2, 3, 4])
      expect(yield* next.result()).toEqual([2, 4, 6, 8])
    }))

  it.effect("a task timeout stops a CPU-bound run: Failed named TimedOut", () =>
    Effect.gen(function*() {
      const future = yield* spin.with({ timeout: "100 millis" }).submit(60_000)
      yield* future.wait()
      const state = yield* future.state
      expect([state.type, state.name]).toEqual(["FAILED", "TimedOut"])
      expect(yield* (yield* double.submit(4)).result()).toBe(8)
    }))

  it.effect("process.exit in a task makes that run Crashed; the other runs carry on", () =>
    Effect.gen(function*() {
      const crashing = yield* exitThread.submit(3)
      const others = yield* double.map([1, 2, 3])
      yield* crashing.wait()
      const state = yield* crashing.state
      expect(state.type).toBe("CRASHED")
      expect(state.message).toContain("exit code 3")
      expect(yield* others.result()).toEqual([2, 4, 6])
      const error = yield* Effect.flip(crashing.result())
      expect(error).toBeInstanceOf(Errors.CrashedRun)
    }))

  it.effect("an error thrown outside the task's fiber kills the thread: Crashed", () =>
    Effect.gen(function*() {
      const future = yield* throwOutside.submit()
      yield* future.wait()
      const state = yield* future.state
      expect(state.type).toBe("CRASHED")
      expect(state.message).toContain("thrown outside the task's fiber")
      expect(yield* (yield* double.submit(6)).result()).toBe(12)
    }))
})

// Runs of fast tasks are sent to a thread while it is busy (pipelining): a thread that dies, or a
// cancel, must still treat the runs it had not begun as not begun.
layer(pool({ size: 1 }), { excludeTestServices: true, timeout: 60_000 })(
  "TaskRunner.workerPool: pipelined runs",
  (it) => {
    /** Enough runs for the pool to measure the task as fast. */
    const warm = <A>(run: Effect.Effect<A, unknown, TaskRunner.TaskRunner>) => Effect.repeatN(run, 20)

    it.effect("a thread that dies runs none of the runs queued behind the one that killed it: those run on its replacement", () =>
      Effect.gen(function*() {
        yield* warm(Effect.flatMap(exitIfZero.submit(1), (future) => future.result()))
        const futures = yield* exitIfZero.map([0, 2, 3, 4])
        yield* futures.wait()
        const states = yield* Effect.forEach(futures, (future) => future.state)
        expect(states.map((state) => state.type)).toEqual(["CRASHED", "COMPLETED", "COMPLETED", "COMPLETED"])
        expect(states[0].message).toContain("exit code 5")
        expect(yield* Effect.forEach(futures.futures.slice(1), (future) => future.result())).toEqual([2, 3, 4])
      }))

    // A thread sends each outcome as its run ends (not batched), so a thread that dies loses none of
    // the runs it finished before: they keep their Completed state.
    it.effect("runs a thread finished before it died keep their outcomes", () =>
      Effect.gen(function*() {
        yield* warm(Effect.flatMap(exitIfZero.submit(1), (future) => future.result()))
        const futures = yield* exitIfZero.map([2, 3, 0, 4, 5, 6, 7, 8])
        yield* futures.wait()
        const states = yield* Effect.forEach(futures, (future) => future.state)
        expect(states.map((state) => state.type)).toEqual([
          "COMPLETED",
          "COMPLETED",
          "CRASHED",
          "COMPLETED",
          "COMPLETED",
          "COMPLETED",
          "COMPLETED",
          "COMPLETED"
        ])
      }))

    it.effect("many fast runs, sent to the thread several to a message: each result reaches its own future", () =>
      Effect.gen(function*() {
        yield* warm(Effect.flatMap(exitIfZero.submit(1), (future) => future.result()))
        const inputs = Array.from({ length: 500 }, (_, i) => i + 1)
        const futures = yield* exitIfZero.map(inputs)
        expect(yield* futures.result()).toEqual(inputs)
        const states = yield* Effect.forEach(futures, (future) => future.state)
        expect(states.every((state) => state.type === "COMPLETED")).toBe(true)
      }))

    it.effect("an outcome that cannot cross threads fails its own run only; the runs sent with it complete", () =>
      Effect.gen(function*() {
        yield* warm(Effect.flatMap(functionIfZero.submit(1), (future) => future.result()))
        const inputs = Array.from({ length: 40 }, (_, i) => (i + 7) % 40)
        const futures = yield* functionIfZero.map(inputs)
        yield* futures.wait()
        const exits = yield* Effect.forEach(futures, (future) => Effect.exit(future.result()))
        inputs.forEach((n, i) => {
          if (n === 0) expect(defectOf(exits[i])).toMatchObject({ _tag: "SerializationError" })
          else expect(exits[i]).toEqual(Exit.succeed(n))
        })
      }))

    it.effect("a run cancelled before its thread began it never runs, and the run ahead of it is not disturbed", () =>
      Effect.gen(function*() {
        const counter = new SharedArrayBuffer(8)
        const counts = new Int32Array(counter)
        yield* warm(Effect.flatMap(tally.submit(counter, 0), (future) => future.result()))
        const before = Atomics.load(counts, 0)
        // The run ahead spins longer than the pool's 100 ms grace period for an interrupted run.
        const ahead = yield* tally.submit(counter, 300)
        yield* begun(counts, 1, before + 1)
        // Its fiber reaches the pool at its first suspension: sent to the thread, behind the run ahead.
        const behind = yield* tally.submit(counter, 0)
        yield* settle
        yield* Fiber.interrupt(behind.wrappedFuture)
        expect((yield* behind.state).type).toBe("CANCELLED")
        expect(yield* ahead.result()).toBe(before + 1)
        expect(yield* (yield* tally.submit(counter, 0)).result()).toBe(before + 2)
        // The run behind never began.
        expect(Atomics.load(counts, 1)).toBe(before + 2)
      }))
  }
)

layer(pool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }), {
  excludeTestServices: true,
  timeout: 60_000
})(
  "TaskRunner.workerPool with heap limits",
  (it) => {
    it.effect("a thread that runs out of heap makes its run Crashed and is replaced", () =>
      Effect.gen(function*() {
        const future = yield* exhaustHeap.submit()
        yield* future.wait()
        const state = yield* future.state
        expect(state.type).toBe("CRASHED")
        expect(state.message).toMatch(/memory/i)
        expect(yield* (yield* double.submit(7)).result()).toBe(14)
      }), { timeout: 60_000 })
  }
)

describe("TaskRunner.workerPool from compiled JavaScript", () => {
  it.live("runs under plain node, without tsx", () =>
    Effect.gen(function*() {
      const run = promisify(execFile)
      yield* Effect.promise(() => run("npx", ["tsc", "-p", "tsconfig.build.json"]))
      const { stdout } = yield* Effect.promise(() => run(process.execPath, ["build/test/fixtures/compiled/main.js"]))
      expect(stdout.trim()).toBe("[1,8,27]")
    }), { timeout: 120_000 })
})
