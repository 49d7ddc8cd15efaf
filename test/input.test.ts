/**
 * Bad input gets a clear error at once, never a silent hang or a silently wrong run: durations,
 * serve's options, task names, run ids, a missing TaskRunner; and the errors read right.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { Errors, Flow, Futures, RunStore, Task, TaskRunner, TaskWorker } from "effect-taskflow"
import { base, other, renamed } from "./fixtures/renamedTasks.js"
import { settle } from "./helpers.js"
import { storeCases } from "./support/stores.js"

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined

/** The message `f` throws (it must throw an IllegalArgumentException). */
const illegalArgument = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(Cause.IllegalArgumentException)
    return (error as Error).message
  }
  throw new Error("expected an IllegalArgumentException, nothing was thrown")
}

const never = Task.make("input-never", () => Effect.never)
const body = (n: number) => Effect.succeed(n)

describe("durations are validated where they are given", () => {
  it("Task.make, Flow.make and task.with refuse a negative, NaN or unreadable timeout or retryDelay", () => {
    expect(illegalArgument(() => Task.make({ name: "input-bad-1", timeout: "-1 seconds" }, body))).toBe(
      `'timeout' must be a non-negative duration (milliseconds, "5 seconds" or a Duration), got "-1 seconds"`
    )
    expect(illegalArgument(() => Task.make({ name: "input-bad-2", timeout: NaN }, body))).toBe(
      "'timeout' must be a non-negative number, got NaN"
    )
    expect(illegalArgument(() => Task.make({ name: "input-bad-3", timeout: -1 }, body))).toBe(
      "'timeout' must be a non-negative number, got -1"
    )
    expect(illegalArgument(() => Task.make({ name: "input-bad-4", timeout: [-1, 0] }, body))).toContain(
      "got [-1, 0]"
    )
    expect(illegalArgument(() => Task.make({ name: "input-bad-5", retryDelay: "-5 millis" }, body))).toContain(
      `'retryDelay' must be a non-negative duration`
    )
    expect(illegalArgument(() => Task.make({ name: "input-bad-6", retryDelay: NaN }, body))).toBe(
      "'retryDelay' must be a non-negative number, got NaN"
    )
    expect(illegalArgument(() => Flow.make({ name: "input-bad-flow", timeout: "-1 seconds" }, body))).toContain(
      `'timeout' must be a non-negative duration`
    )
    expect(illegalArgument(() => Flow.make({ name: "input-bad-flow-2", retryDelay: NaN }, body))).toContain(
      "'retryDelay'"
    )
    const fine = Task.make({ name: "input-fine", timeout: "1.5 seconds", retryDelay: 0 }, body)
    expect(illegalArgument(() => fine.with({ timeout: "-2 seconds" }))).toContain(`got "-2 seconds"`)
    expect(illegalArgument(() => fine.with({ retryDelay: NaN }))).toContain("'retryDelay'")
    // Nothing was registered by the refused definitions: the names are still free.
    expect(() => Task.make("input-bad-1", body)).not.toThrow()
  })

  it.effect("waits refuse a negative or NaN timeout: they die with IllegalArgumentException", () =>
    Effect.gen(function*() {
      const future = yield* never.submit()
      for (
        const timeout of ["-1 seconds", NaN, -0.5, [0, -1]] as unknown as ReadonlyArray<never>
      ) {
        for (
          const effect of [
            future.wait({ timeout }),
            future.result({ timeout }),
            Futures.wait([future], { timeout }),
            Stream.runDrain(Futures.asCompleted([future], { timeout })),
            Futures.PrefectFutureList.make([future]).result({ timeout })
          ] as ReadonlyArray<Effect.Effect<unknown, unknown>>
        ) {
          const defect = defectOf(yield* Effect.exit(effect))
          expect(defect).toBeInstanceOf(Cause.IllegalArgumentException)
          expect((defect as Error).message).toMatch(/^'timeout' must be a non-negative/)
        }
      }
    }).pipe(Effect.provide(TaskRunner.concurrent())))
})

describe("runner and store durations are validated when their layer is built", () => {
  const buildDefect = <ROut, E>(layer: Layer.Layer<ROut, E>) =>
    Effect.map(Effect.exit(Effect.scoped(Layer.build(layer))), (exit) => defectOf(exit) as Error)

  it.effect("a worker pool's interruptGracePeriod or startupTimeout, a store's reconnectFor", () =>
    Effect.gen(function*() {
      const module = new URL("./fixtures/renamedTasks.ts", import.meta.url)
      const grace = yield* buildDefect(TaskRunner.workerPool({ size: 1, module, interruptGracePeriod: "-1 seconds" }))
      expect(grace).toBeInstanceOf(Cause.IllegalArgumentException)
      expect(grace.message).toContain("'interruptGracePeriod' must be a non-negative duration")
      const startup = yield* buildDefect(TaskRunner.workerPool({ size: 1, module, startupTimeout: NaN }))
      expect(startup.message).toBe("'startupTimeout' must be a non-negative number, got NaN")
      // A store that cannot open fails its layer with RunStoreError, which carries the reason.
      const store = yield* Effect.flip(
        Effect.scoped(Layer.build(RunStore.sqlite({ filename: ":memory:", reconnectFor: "-30 seconds" })))
      )
      expect(store.message).toContain("'reconnectFor' must be a non-negative duration")
    }))
})

describe("TaskWorker.serve refuses what would serve forever and run nothing", () => {
  /** Starts `serve` and lets it take its first steps: bad options must have ended it by then. */
  const startServing = (tasks: ReadonlyArray<TaskWorker.Servable>, options?: TaskWorker.ServeOptions) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(TaskWorker.serve(tasks, options))
      yield* settle
      const exit = fiber.unsafePoll()
      yield* Fiber.interrupt(fiber)
      return exit
    }).pipe(Effect.provide(RunStore.memory))

  it.effect("a concurrency of 0, -1 or 1.5 dies at once with IllegalArgumentException", () =>
    Effect.gen(function*() {
      for (const concurrency of [0, -1, 1.5, NaN]) {
        const exit = yield* startServing([base], { concurrency })
        expect(exit).not.toBeNull()
        const defect = defectOf(exit!)
        expect(defect).toBeInstanceOf(Cause.IllegalArgumentException)
        expect((defect as Error).message).toBe(
          `TaskWorker.serve: 'concurrency' must be a positive integer, got ${concurrency}`
        )
      }
    }))

  it.effect("no tasks dies at once; so does a negative lease or poll interval", () =>
    Effect.gen(function*() {
      const empty = yield* startServing([])
      expect(empty).not.toBeNull()
      expect(defectOf(empty!)).toBeInstanceOf(Cause.IllegalArgumentException)
      expect((defectOf(empty!) as Error).message).toContain("TaskWorker.serve was given no tasks or flows")
      const lease = yield* startServing([base], { lease: "-1 seconds" })
      expect((defectOf(lease!) as Error).message).toContain("'lease' must be a non-negative duration")
      const poll = yield* startServing([base], { pollInterval: NaN })
      expect((defectOf(poll!) as Error).message).toBe("'pollInterval' must be a non-negative number, got NaN")
    }))

  it.effect("a valid worker is still serving after the same steps", () =>
    Effect.gen(function*() {
      expect(yield* startServing([base], { concurrency: 1 })).toBeNull()
    }))
})

describe("task and flow names", () => {
  it("task.with({ name }) with a name another task or flow has throws DuplicateTaskName", () => {
    expect(() => base.with({ name: "input-other" })).toThrow(Errors.DuplicateTaskName)
    const flow = Flow.make("input-a-flow", () => Effect.void)
    expect(flow.name).toBe("input-a-flow")
    try {
      other.with({ name: "input-a-flow" })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(Errors.DuplicateTaskName)
      expect((error as Errors.DuplicateTaskName).taskName).toBe("input-a-flow")
      expect((error as Error).message).toContain("a flow named 'input-a-flow' is already defined")
    }
    // The same body may take its new name again (a `with` evaluated twice), and keep it.
    expect(base.with({ name: "input-renamed" }).name).toBe("input-renamed")
    expect(base.with({ name: "input-base-again" }).name).toBe("input-base-again")
    expect(() => base.with({ name: "input-base-again" })).not.toThrow()
    expect(() => other.with({ name: "input-base-again" })).toThrow(Errors.DuplicateTaskName)
  })

  it("the message says which kind holds the name; the error prints its tag, not the name", () => {
    const holder = Task.make("input-held-name", body)
    expect(holder.name).toBe("input-held-name")
    let thrown: unknown
    try {
      Flow.make("input-held-name", () => Effect.void)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(Errors.DuplicateTaskName)
    const error = thrown as Errors.DuplicateTaskName
    expect(error.message).toBe(
      "A flow cannot be named 'input-held-name': a task named 'input-held-name' is already defined. " +
        "Task and flow names identify them across threads and processes, so each must be unique."
    )
    expect(error.taskName).toBe("input-held-name")
    expect(String(error)).toMatch(/^DuplicateTaskName: A flow cannot be named/)
    const unknown = new Errors.UnknownTask({ taskName: "fetch", message: "No task named 'fetch'." })
    expect(String(unknown)).toBe("UnknownTask: No task named 'fetch'.")
  })

  it.live("a with-renamed task runs its own body on a worker pool", () =>
    Effect.gen(function*() {
      const pool = TaskRunner.workerPool({ size: 1, module: new URL("./fixtures/renamedTasks.ts", import.meta.url) })
      const results = yield* Effect.gen(function*() {
        const fromRenamed = yield* renamed.submit(1)
        const fromBase = yield* base.submit(2)
        return [yield* fromRenamed.result(), yield* fromBase.result()]
      }).pipe(Effect.provide(pool))
      expect(results).toEqual(["base body 1", "base body 2"])
    }))

  it.live("a with-renamed task runs its own body on a task worker", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.forkScoped(TaskWorker.serve([renamed, other], { concurrency: 2 }))
      const future = yield* renamed.delay(3)
      expect(yield* future.result({ timeout: "10 seconds" })).toBe("base body 3")
      const store = yield* RunStore.RunStore
      expect((yield* store.getRun(future.taskRunId)).name).toBe("input-renamed")
    })).pipe(Effect.provide(RunStore.memory)))
})

describe("a cancel of a run id the store does not know fails with RunNotFound", () => {
  for (const store of storeCases.filter((store) => store.name !== "postgres")) {
    it.effect.skipIf(!store.available)(`on ${store.name}`, () =>
      Effect.gen(function*() {
        const task = yield* Futures.PrefectDistributedFuture.make("0000-no-such-run")
        const error = yield* Effect.flip(Futures.cancel(task))
        expect(error).toBeInstanceOf(Errors.RunNotFound)
        expect(error.runId).toBe("0000-no-such-run")
        const flow = yield* Futures.PrefectFlowRunFuture.make("0000-no-such-flow-run")
        expect((yield* Effect.flip(Futures.cancel(flow)))._tag).toBe("RunNotFound")
        // A run it knows is cancelled as before.
        const known = yield* never.delay()
        yield* Futures.cancel(known)
        expect((yield* known.state).type).toBe("CANCELLED")
      }).pipe(Effect.provide(store.fresh())))
  }
})

class Greeter extends Context.Tag("input/Greeter")<Greeter, { readonly greet: (name: string) => string }>() {}
const greet = Task.make("input-greet", (name: string) => Effect.map(Greeter, (greeter) => greeter.greet(name)))
const greetAll = Flow.make(
  "input-greet-all",
  (names: ReadonlyArray<string>) => Effect.forEach(names, (name) => greet(name))
)

describe("services provided around TaskWorker.serve reach the tasks and flows it runs", () => {
  for (const store of storeCases.filter((store) => store.name !== "postgres")) {
    it.live.skipIf(!store.available)(`on ${store.name}`, () =>
      Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(
          TaskWorker.serve([greet, greetAll], { concurrency: 2 }).pipe(
            Effect.provideService(Greeter, { greet: (name) => `hello ${name}` })
          )
        )
        const task = yield* greet.delay("ada")
        expect(yield* task.result({ timeout: "10 seconds" })).toBe("hello ada")
        const flow = yield* greetAll.delay(["grace", "alan"])
        expect(yield* flow.result({ timeout: "10 seconds" })).toEqual(["hello grace", "hello alan"])
      })).pipe(Effect.provide(store.fresh())))
  }
})

describe("submit and map with no TaskRunner say what to provide", () => {
  const withoutRunner = <A, E>(effect: Effect.Effect<A, E, TaskRunner.TaskRunner>) =>
    effect as unknown as Effect.Effect<A, E>

  it.effect("they die with a message naming TaskRunner.concurrent() and flows", () =>
    Effect.gen(function*() {
      for (
        const effect of [withoutRunner(base.submit(1)), withoutRunner(base.map([1, 2]))] as ReadonlyArray<
          Effect.Effect<unknown, unknown>
        >
      ) {
        const defect = defectOf(yield* Effect.exit(effect))
        const message = (defect as Error).message
        expect(message).toMatch(/^input-base\.(submit|map)\(\) needs a TaskRunner and none is provided/)
        expect(message).toContain("Effect.provide(TaskRunner.concurrent())")
        expect(message).toContain("inside a flow")
      }
    }))
})

describe("messages read right", () => {
  it.effect("a wait of one second says '1 second'", () =>
    Effect.gen(function*() {
      const future = yield* never.submit()
      const single = yield* Effect.fork(Effect.flip(future.result({ timeout: "1 second" })))
      const list = yield* Effect.fork(Effect.flip(Futures.PrefectFutureList.make([future]).result({ timeout: 1000 })))
      yield* settle
      yield* TestClock.adjust(1000)
      expect((yield* Fiber.join(single)).message).toBe(`Task run ${future.taskRunId} did not complete within 1 second`)
      expect((yield* Fiber.join(list)).message).toBe(
        "Timed out waiting for all futures to complete within 1 second"
      )
    }).pipe(Effect.provide(TaskRunner.concurrent())))

  it.live("a result the pool cannot clone says so in one sentence", () =>
    Effect.gen(function*() {
      const { returnsFunction } = yield* Effect.promise(() => import("./fixtures/poolTasks.js"))
      const pool = TaskRunner.workerPool({ size: 1, module: new URL("./fixtures/poolTasks.ts", import.meta.url) })
      const exit = yield* Effect.exit(Effect.flatMap(returnsFunction.submit(), (f) => f.result())).pipe(
        Effect.provide(pool)
      )
      const message = (defectOf(exit) as Error).message
      expect(message).toContain("could not be cloned")
      expect(message).not.toContain("..")
    }))
})
