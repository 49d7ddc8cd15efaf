import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Either, Exit, Fiber, Option, TestClock } from "effect"
import { Errors, RunStore, State, Task, TaskRunner } from "effect-taskflow"
import { settle } from "./helpers.js"

const runner = TaskRunner.concurrent()
const withStore = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(runner), Effect.provide(RunStore.memory))

const double = Task.make("task-double", (n: number) => Effect.succeed(n * 2))
const add = Task.make("task-add", (a: number, b: number) => Effect.succeed(a + b))
const fail = Task.make("task-fail", (message: string) => Effect.fail(new Error(message)))
const echo = Task.make("task-echo", (value: unknown) => Effect.succeed(value))
const sleepy = Task.make("task-sleepy", (ms: number) => Effect.as(Effect.sleep(ms), ms))

const historyOf = (taskRunId: string) =>
  Effect.flatMap(RunStore.RunStore, (store) => store.getHistory(taskRunId)).pipe(
    Effect.map((history) => history.map((state) => `${state.type}/${state.name}`))
  )

describe("Task", () => {
  it.effect("calling a task runs it inline as a recorded task run", () =>
    withStore(Effect.gen(function*() {
      expect(yield* double(21)).toBe(42)
      const store = yield* RunStore.RunStore
      const runs = yield* store.listRuns({ name: "task-double" })
      expect(runs.length).toBe(1)
      expect(runs[0].parameters).toEqual([21])
      expect(yield* historyOf(runs[0].id)).toEqual(["PENDING/Pending", "RUNNING/Running", "COMPLETED/Completed"])
      expect(runs[0].runCount).toBe(1)
    })))

  it.effect("an inline call fails with the task's own error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fail("inline"))
      expect(error.message).toBe("inline")
    }))

  it.effect("submit returns a future and records the run", () =>
    withStore(Effect.gen(function*() {
      const future = yield* double.submit(4)
      expect(yield* future.result()).toBe(8)
      expect(yield* historyOf(future.taskRunId)).toEqual(["PENDING/Pending", "RUNNING/Running", "COMPLETED/Completed"])
    })))

  it.effect("futures as arguments, at any depth, are awaited and replaced by their results", () =>
    withStore(Effect.gen(function*() {
      const a = yield* double.submit(1)
      const b = yield* add.submit(a, a)
      expect(yield* b.result()).toBe(4)
      const nested = yield* echo.submit({ list: [a, { b }] })
      expect(yield* nested.result()).toEqual({ list: [2, { b: 4 }] })
    })))

  // Prefect #12028: a NotReady run said nothing about which upstream failed.
  it.effect("an upstream that did not complete makes the run Pending named NotReady; it never runs", () =>
    withStore(Effect.gen(function*() {
      let ran = false
      const spy = Task.make("task-spy-not-ready", (_: unknown) => Effect.sync(() => (ran = true)))
      const bad = yield* fail.submit("upstream")
      const downstream = yield* spy.submit(bad)
      yield* downstream.wait()
      const state = yield* downstream.state
      expect(state).toMatchObject({ type: "PENDING", name: "NotReady" })
      // It names the upstream's task, id, state and the error that failed it.
      expect(state.message).toBe(
        `Upstream task run 'task-fail' (${bad.taskRunId}) did not reach a 'COMPLETED' state: it is FAILED: ` +
          "Error: upstream"
      )
      expect(ran).toBe(false)
      const error = yield* Effect.flip(downstream.result())
      expect(error).toBeInstanceOf(Errors.UnfinishedRun)
      expect(error.message).toContain(bad.taskRunId)
      expect(yield* historyOf(downstream.taskRunId)).toEqual(["PENDING/Pending", "PENDING/NotReady"])
    })))

  it.effect("allowFailure passes the upstream's error as the value", () =>
    withStore(Effect.gen(function*() {
      const bad = yield* fail.submit("passed on")
      const downstream = yield* echo.submit(Task.allowFailure(bad))
      const value = yield* downstream.result()
      expect(value).toBeInstanceOf(Error)
      expect((value as Error).message).toBe("passed on")
      const notReady = yield* echo.submit(bad)
      const afterNotReady = yield* echo.submit(Task.allowFailure(notReady))
      expect(yield* afterNotReady.result()).toBeInstanceOf(Errors.UpstreamTaskError)
    })))

  it.effect("with({ waitFor }) waits for the futures before running, and is NotReady if one failed", () =>
    withStore(Effect.gen(function*() {
      const order: Array<string> = []
      const first = Task.make("task-first", () => Effect.as(Effect.sleep(10), order.push("first")))
      const second = Task.make("task-second", () => Effect.sync(() => order.push("second")))
      const f = yield* first.submit()
      const s = yield* second.with({ waitFor: [f] }).submit()
      yield* settle
      yield* TestClock.adjust(10)
      yield* s.wait()
      expect(order).toEqual(["first", "second"])
      const bad = yield* fail.submit("x")
      const blocked = yield* second.with({ waitFor: [bad] }).submit()
      yield* blocked.wait()
      expect((yield* blocked.state).name).toBe("NotReady")
      const allowed = yield* second.with({ waitFor: [Task.allowFailure(bad)] }).submit()
      expect(yield* allowed.result()).toBe(3)
    })))

  it.effect("retries go AwaitingRetry → Retrying and the future resolves after the last attempt", () =>
    withStore(Effect.gen(function*() {
      let attempts = 0
      const flaky = Task.make(
        { name: "task-flaky", retries: 2, retryDelay: "1 second" },
        () => Effect.suspend(() => ++attempts < 3 ? Effect.fail("not yet") : Effect.succeed(attempts))
      )
      const future = yield* flaky.submit()
      yield* settle
      expect(attempts).toBe(1)
      expect((yield* future.state).name).toBe("AwaitingRetry")
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* TestClock.adjust("1 second")
      expect(yield* future.result()).toBe(3)
      expect(yield* historyOf(future.taskRunId)).toEqual([
        "PENDING/Pending",
        "RUNNING/Running",
        "SCHEDULED/AwaitingRetry",
        "RUNNING/Retrying",
        "SCHEDULED/AwaitingRetry",
        "RUNNING/Retrying",
        "COMPLETED/Completed"
      ])
      const store = yield* RunStore.RunStore
      expect((yield* store.getRun(future.taskRunId)).runCount).toBe(3)
    })))

  it.effect("a task that runs out of retries ends Failed with its last error", () =>
    withStore(Effect.gen(function*() {
      const always = Task.make({ name: "task-always-fails", retries: 1 }, () => Effect.fail("still bad"))
      const future = yield* always.submit()
      expect(yield* Effect.flip(future.result())).toBe("still bad")
      expect((yield* future.state).name).toBe("Failed")
    })))

  it.effect("a task timeout ends Failed named TimedOut and fails result() and the inline call with a typed TaskTimeoutError", () =>
    withStore(Effect.gen(function*() {
      const slow = Task.make({ name: "task-slow", timeout: "1 second" }, () => Effect.never)
      const future = yield* slow.submit()
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* future.wait()
      const state = yield* future.state
      const expected = `Task run 'task-slow' (${future.taskRunId}) exceeded its timeout of 1 second.`
      // The state says why it failed.
      expect(state).toMatchObject({ type: "FAILED", name: "TimedOut", message: expected })
      // A typed failure: `either` and `catchTag` see it (a defect would escape both).
      const either = yield* Effect.either(future.result())
      expect(Either.isLeft(either) && either.left).toBeInstanceOf(Errors.TaskTimeoutError)
      expect(Either.isLeft(either) && either.left.message).toBe(expected)
      const caught = yield* future.result().pipe(Effect.catchTag("TaskTimeoutError", () => Effect.succeed("caught")))
      expect(caught).toBe("caught")
      const exit = yield* future.result({ raiseOnFailure: false })
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.getOrThrow(failure)).toBeInstanceOf(Errors.TaskTimeoutError)
      const fromState = yield* Effect.flip(State.result(state))
      expect(fromState).toBeInstanceOf(Errors.TaskTimeoutError)
      // The inline call fails typed too, its type says so, and its run ends TimedOut.
      const inline = yield* Effect.fork(Effect.either(slow()))
      yield* settle
      yield* TestClock.adjust("1 second")
      const inlineResult: Either.Either<never, Errors.TaskTimeoutError> = yield* Fiber.join(inline)
      expect(Either.isLeft(inlineResult) && inlineResult.left).toBeInstanceOf(Errors.TaskTimeoutError)
      const store = yield* RunStore.RunStore
      const runs = yield* store.listRuns({ name: "task-slow" })
      expect(runs.map((run) => `${run.state.type}/${run.state.name}`)).toEqual(["FAILED/TimedOut", "FAILED/TimedOut"])
    })))

  it.effect("a task whose body fails with another run's TaskTimeoutError is Failed, not TimedOut", () =>
    withStore(Effect.gen(function*() {
      const inner = Task.make({ name: "task-inner-slow", timeout: "1 second" }, () => Effect.never)
      const outer = Task.make("task-outer-of-slow", () => inner())
      const future = yield* outer.submit()
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* future.wait()
      expect((yield* future.state).name).toBe("Failed")
      expect(yield* Effect.flip(future.result())).toBeInstanceOf(Errors.TaskTimeoutError)
    })))

  it.effect("AwaitingRetry records the error that caused the retry, cut at 500 characters", () =>
    withStore(Effect.gen(function*() {
      const long = "x".repeat(2000)
      const failsLong = Task.make({ name: "task-fails-long", retries: 2 }, () => Effect.fail(new Error(long)))
      const future = yield* failsLong.submit()
      yield* future.wait()
      const store = yield* RunStore.RunStore
      const retries = (yield* store.getHistory(future.taskRunId)).filter((state) => state.name === "AwaitingRetry")
      expect(retries.length).toBe(2)
      const message = retries[0].message!
      expect(message.startsWith(`Retry 1 of 2 after a failure: Error: ${"x".repeat(100)}`)).toBe(true)
      expect(message.endsWith("… (cut at 500 characters)")).toBe(true)
      expect(message.length).toBeLessThan(600)
      expect(retries[1].message!.startsWith("Retry 2 of 2 after a failure: Error: x")).toBe(true)
      // The run's record says how many retries it may use, as the SQL stores' delayed runs do.
      const record = yield* store.getRun(future.taskRunId)
      expect([record.runCount, record.retries]).toEqual([3, 2])
    })))

  it.effect("a timed-out attempt is retried when the task has retries", () =>
    withStore(Effect.gen(function*() {
      let attempts = 0
      const sometimesSlow = Task.make({ name: "task-sometimes-slow", timeout: "1 second", retries: 1 }, () =>
        Effect.suspend(() => ++attempts === 1 ? Effect.never : Effect.succeed("second try")))
      const future = yield* sometimesSlow.submit()
      yield* settle
      yield* TestClock.adjust("1 second")
      expect(yield* future.result()).toBe("second try")
      const store = yield* RunStore.RunStore
      const awaiting = (yield* store.getHistory(future.taskRunId)).find((state) =>
        state.name === "AwaitingRetry"
      )
      expect(awaiting?.message).toBe(
        `Retry 1 of 1 after a timeout: TaskTimeoutError: Task run 'task-sometimes-slow' (${future.taskRunId}) ` +
          "exceeded its timeout of 1 second."
      )
    })))

  it("a task name defined twice is an error", () => {
    Task.make("task-unique-name", () => Effect.void)
    expect(() => Task.make("task-unique-name", () => Effect.void)).toThrow(Errors.DuplicateTaskName)
    try {
      Task.make("task-unique-name", () => Effect.void)
    } catch (error) {
      expect((error as Errors.DuplicateTaskName).message).toContain("'task-unique-name' is already defined")
    }
  })

  it("invalid options are rejected when the task is defined", () => {
    expect(() => Task.make({ name: "task-bad-retries", retries: -1 }, () => Effect.void)).toThrow(
      Cause.IllegalArgumentException
    )
    expect(() => Task.make({ name: "task-bad-timeout", timeout: -5 }, () => Effect.void)).toThrow(
      "'timeout' must be a non-negative number, got -5"
    )
    expect(() => Task.make("", () => Effect.void)).toThrow(Errors.InvalidTaskName)
  })

  it.effect("with() overrides options without registering a new task", () =>
    withStore(Effect.gen(function*() {
      const renamed = double.with({ name: "task-double-renamed", tags: ["fast"] })
      expect(renamed.name).toBe("task-double-renamed")
      const future = yield* renamed.submit(2)
      expect(yield* future.result()).toBe(4)
      const store = yield* RunStore.RunStore
      expect((yield* store.getRun(future.taskRunId)).tags).toEqual(["fast"])
      expect(double.name).toBe("task-double")
    })))

  it.effect("interrupting the caller of an inline run cancels the run and records it", () =>
    withStore(Effect.gen(function*() {
      const fiber = yield* Effect.fork(sleepy(1000))
      yield* settle
      yield* Fiber.interrupt(fiber)
      const store = yield* RunStore.RunStore
      const runs = yield* store.listRuns({ name: "task-sleepy" })
      expect(runs.map((run) => run.state.type)).toEqual(["CANCELLED"])
    })))
})

describe("Task.map", () => {
  it.effect("zips its iterables and repeats unmapped values", () =>
    withStore(Effect.gen(function*() {
      const futures = yield* add.map([1, 2, 3], Task.unmapped(10))
      expect(yield* futures.result()).toEqual([11, 12, 13])
      const zipped = yield* add.map([1, 2], new Set([10, 20]))
      expect(yield* zipped.result()).toEqual([11, 22])
      const staticNumber = yield* add.map([1, 2], 5 as never)
      expect(yield* staticNumber.result()).toEqual([6, 7])
    })))

  it.effect("takes futures inside iterables and a future of an iterable", () =>
    withStore(Effect.gen(function*() {
      const a = yield* double.submit(1)
      const fromFutures = yield* double.map([a, 5])
      expect(yield* fromFutures.result()).toEqual([4, 10])
      const makeList = Task.make(
        "task-make-list",
        (n: number) => Effect.succeed(Array.from({ length: n }, (_, i) => i))
      )
      const listFuture = yield* makeList.submit(3)
      const fromFutureList = yield* double.map(listFuture)
      expect(yield* fromFutureList.result()).toEqual([0, 2, 4])
    })))

  it.effect("fails with MappingLengthMismatch for iterables of different lengths", () =>
    withStore(Effect.gen(function*() {
      const error = yield* Effect.flip(add.map([1, 2, 3], [1, 2]))
      expect(error).toBeInstanceOf(Errors.MappingLengthMismatch)
      expect(error.message).toContain("argument 1: 3, argument 2: 2")
    })))

  it.effect("fails with MappingMissingIterable without an iterable (strings do not count)", () =>
    withStore(Effect.gen(function*() {
      const error = yield* Effect.flip(echo.map("abc" as never))
      expect(error).toBeInstanceOf(Errors.MappingMissingIterable)
      const unmappedOnly = yield* Effect.flip(add.map(Task.unmapped(1), Task.unmapped(2)))
      expect(unmappedOnly._tag).toBe("MappingMissingIterable")
      const failed = yield* fail.submit("no list")
      const fromFailed = yield* Effect.flip(double.map(failed as never))
      expect(fromFailed._tag).toBe("MappingMissingIterable")
      expect(fromFailed.message).toContain(failed.taskRunId)
    })))

  it.effect("allowFailure around an iterable applies to each element", () =>
    withStore(Effect.gen(function*() {
      const bad = yield* fail.submit("element")
      const ok = yield* double.submit(1)
      const futures = yield* echo.map(Task.allowFailure([bad, ok]))
      const [first, second] = yield* futures.result()
      expect(first).toBeInstanceOf(Error)
      expect(second).toBe(2)
    })))

  it.effect("map with waitFor waits for the given futures", () =>
    withStore(Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const waiter = Task.make("task-gate", (g: Deferred.Deferred<void>) => Deferred.await(g))
      const blocker = yield* waiter.submit(gate)
      const futures = yield* double.with({ waitFor: [blocker] }).map([1, 2])
      yield* settle
      expect((yield* futures.at(0)!.state).type).toBe("PENDING")
      yield* Deferred.succeed(gate, undefined)
      expect(yield* futures.result()).toEqual([2, 4])
    })))

  it.effect("gives every run a distinct version 7 UUID, ordered by the time it was made", () =>
    withStore(Effect.gen(function*() {
      const before = Date.now()
      const futures = yield* double.map(Array.from({ length: 2_000 }, (_, i) => i))
      const after = Date.now()
      const ids = Array.from(futures, (future) => future.taskRunId)
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(new Set(ids).size).toBe(ids.length)
      // The first 48 bits are the milliseconds since 1970 at which each id was made, in order.
      const millis = ids.map((id) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16))
      for (let i = 1; i < millis.length; i++) expect(millis[i]).toBeGreaterThanOrEqual(millis[i - 1])
      expect(millis[0]).toBeGreaterThanOrEqual(before)
      expect(millis[millis.length - 1]).toBeLessThanOrEqual(after)
      yield* futures.wait()
    })))
})
