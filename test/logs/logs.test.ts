import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, HashMap, Logger, LogLevel, Option, Stream } from "effect"
import { Flow, RunStore, Task, TaskRunner } from "effect-taskflow"
import { storeCases, withStore } from "../support/stores.js"

const quick = Flow.make("logs-quick-flow", (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* Effect.log(`line ${i}`)
    return n
  }))

const chatty = Task.make("logs-chatty-task", (n: number) =>
  Effect.gen(function*() {
    yield* Effect.logInfo("plain", { n }, [1, 2])
    yield* Effect.logWarning("warned").pipe(Effect.annotateLogs("user.key", "v"), Effect.withLogSpan("my-span"))
    yield* Effect.logDebug("hidden unless the fiber's minimum level lets it through")
    yield* Effect.logError("failed", new Error("boom"))
    return yield* Task.currentRunId
  }))

const withTasks = Flow.make("logs-flow-with-tasks", () =>
  Effect.gen(function*() {
    yield* Effect.log("flow says hi")
    const future = yield* chatty.submit(1)
    const taskRunId = yield* future.result()
    return { flowRunId: yield* Flow.currentRunId, bodyRunId: yield* Task.currentRunId, taskRunId }
  }))

const silent = Task.make("logs-silent-task", (n: number) => Effect.succeed(n))
const silentFlow = Flow.make("logs-silent-flow", () => Effect.flatMap(silent.submit(1), (f) => f.result()))

const flowRunIdOf = (name: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runs = yield* store.listRuns({ name })
    return runs[runs.length - 1]!.id
  })

for (const store of storeCases) {
  describe.skipIf(!store.available)(`run logs (${store.name})`, () => {
    it.live("a flow that logs then returns at once keeps every line, read right after its result", () =>
      withStore(
        store,
        Effect.gen(function*() {
          expect(yield* quick(50)).toBe(50)
          const runs = yield* RunStore.RunStore
          const id = yield* flowRunIdOf("logs-quick-flow")
          const lines = yield* runs.getLogs(id)
          expect(lines.map((line) => line.message)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`))
          expect(lines.map((line) => line.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
          expect(lines[0]!.annotations).toMatchObject({ "taskflow.run_id": id, "taskflow.flow_run_id": id })
          expect(lines[0]!.level).toBe("Info")
          expect(lines[0]!.timestamp).toBeInstanceOf(Date)
          // after and limit
          const page = yield* runs.getLogs(id, { after: 10, limit: 5 })
          expect(page.map((line) => line.seq)).toEqual([11, 12, 13, 14, 15])
        })
      ))

    it.live("a task run's lines: levels, rendering, annotations, spans; the flow's own lines apart", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const ids = yield* withTasks()
          const runs = yield* RunStore.RunStore
          expect(Option.isSome(ids.flowRunId)).toBe(true)
          expect(ids.bodyRunId).toEqual(ids.flowRunId)
          const flowRunId = Option.getOrThrow(ids.flowRunId)
          const taskRunId = Option.getOrThrow(ids.taskRunId)
          expect(taskRunId).not.toBe(flowRunId)
          expect((yield* runs.getRun(taskRunId)).flowRunId).toBe(flowRunId)
          const flowLines = yield* runs.getLogs(flowRunId)
          expect(flowLines.map((line) => line.message)).toEqual(["flow says hi"])
          const lines = yield* runs.getLogs(taskRunId)
          expect(lines.map((line) => line.level)).toEqual(["Info", "Warning", "Error"])
          expect(lines[0]!.message).toBe(`plain {"n":1} [1,2]`)
          expect(lines[0]!.annotations).toEqual({ "taskflow.run_id": taskRunId, "taskflow.flow_run_id": flowRunId })
          expect(lines[1]!.annotations["user.key"]).toBe("v")
          expect(lines[1]!.spans.map((span) => span.label)).toEqual(["my-span"])
          expect(lines[1]!.spans[0]!.startTime).toBeInstanceOf(Date)
          expect(lines[2]!.message).toContain("failed")
          expect(lines[2]!.message).toContain("Error: boom")
          expect(lines.every((line) => line.runId === taskRunId)).toBe(true)
        })
      ))

    it.live("Debug lines are recorded when the fiber's minimum level lets them through", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const ids = yield* withTasks().pipe(Logger.withMinimumLogLevel(LogLevel.Debug))
          const runs = yield* RunStore.RunStore
          const lines = yield* runs.getLogs(Option.getOrThrow(ids.taskRunId))
          expect(lines.map((line) => line.level)).toEqual(["Info", "Warning", "Debug", "Error"])
        })
      ))

    it.live("a run that does not log writes nothing", () =>
      withStore(
        store,
        Effect.gen(function*() {
          yield* silentFlow()
          const runs = yield* RunStore.RunStore
          for (const run of yield* runs.listRuns()) expect(yield* runs.getLogs(run.id)).toEqual([])
        })
      ))

    it.live("an unknown run id fails getLogs and followLogs with RunNotFound", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const runs = yield* RunStore.RunStore
          const error = yield* Effect.flip(runs.getLogs("no-such-run"))
          expect(error._tag).toBe("RunNotFound")
          const followed = yield* Effect.flip(Stream.runCollect(runs.followLogs("no-such-run")))
          expect(followed._tag).toBe("RunNotFound")
        })
      ))

    it.live("followLogs emits the lines there, then new ones, and ends when the run ends", () =>
      withStore(
        store,
        Effect.gen(function*() {
          const gate = yield* Deferred.make<void>()
          const firstSeen = yield* Deferred.make<void>()
          const gated = Task.make(`logs-gated-${store.name}`, () =>
            Effect.gen(function*() {
              yield* Effect.log("before")
              yield* Deferred.await(gate)
              yield* Effect.log("after 1")
              yield* Effect.log("after 2")
            }))
          const runs = yield* RunStore.RunStore
          const future = yield* gated.submit()
          const follower = yield* runs.followLogs(future.taskRunId).pipe(
            Stream.tap((line) => line.message === "before" ? Deferred.succeed(firstSeen, undefined) : Effect.void),
            Stream.runCollect,
            Effect.fork
          )
          yield* Deferred.await(firstSeen)
          yield* Deferred.succeed(gate, undefined)
          yield* future.wait()
          const lines = Chunk.toReadonlyArray(yield* Fiber.join(follower))
          expect(lines.map((line) => line.message)).toEqual(["before", "after 1", "after 2"])
          // A follower from `after` of a finished run: what is left, then the end.
          const rest = yield* Stream.runCollect(runs.followLogs(future.taskRunId, { after: 2 }))
          expect(Chunk.toReadonlyArray(rest).map((line) => line.message)).toEqual(["after 2"])
        }).pipe(Effect.provide(TaskRunner.concurrent()))
      ))
  })
}

describe("run logs: bounds", () => {
  const long = Flow.make("logs-long-message", () => Effect.log("x".repeat(20_000)))
  const endless = Flow.make("logs-endless", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 10_050; i++) yield* Effect.log(`line ${i}`)
    }))
  for (const store of storeCases.filter((store) => store.name !== "postgres")) {
    it.live(
      `a long message is cut with a marker; a run is capped with one line saying how many were dropped (${store.name})`,
      () =>
        withStore(
          store,
          Effect.gen(function*() {
            const runs = yield* RunStore.RunStore
            yield* long()
            const [line] = yield* runs.getLogs(yield* flowRunIdOf("logs-long-message"))
            expect(line!.message.length).toBeLessThan(8_300)
            expect(line!.message).toMatch(/^x{8192}… \[cut: 11808 more characters\]$/)
            yield* endless()
            const lines = yield* runs.getLogs(yield* flowRunIdOf("logs-endless"))
            expect(lines.length).toBe(10_001)
            expect(lines[9_999]!.message).toBe("line 9999")
            expect(lines[10_000]!.level).toBe("Warning")
            expect(lines[10_000]!.message).toContain("50 more log line(s) of this run were dropped")
          })
        ),
      60_000
    )
  }
})

describe("run logs without a RunStore", () => {
  it.live("a runner's own memory store keeps its runs' lines, and a user's Logger sees the run id", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const logger = Logger.make(({ annotations }) => {
        seen.push(Option.getOrUndefined(HashMap.get(annotations, "taskflow.run_id")) as string | undefined)
      })
      const result = yield* Effect.gen(function*() {
        const future = yield* chatty.submit(2)
        const runId = yield* future.result()
        const runner = yield* TaskRunner.TaskRunner
        const lines = yield* runner.store.getLogs(Option.getOrThrow(runId))
        return { runId: Option.getOrThrow(runId), lines }
      }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(result.lines.map((line) => line.message.split("\n")[0])).toEqual([
        `plain {"n":2} [1,2]`,
        "warned",
        "failed Error: boom"
      ])
      expect(seen).toEqual([result.runId, result.runId, result.runId])
      expect(Option.isNone(yield* Task.currentRunId)).toBe(true)
    }))
})

describe("run logs: prune", () => {
  const pruned = Flow.make("logs-pruned-flow", () => Effect.log("kept until pruned"))
  for (const store of storeCases) {
    it.live.skipIf(!store.available)(`prune deletes a run's lines and counts them (${store.name})`, () =>
      withStore(
        store,
        Effect.gen(function*() {
          yield* pruned()
          const runs = yield* RunStore.RunStore
          const id = yield* flowRunIdOf("logs-pruned-flow")
          expect((yield* runs.getLogs(id)).length).toBe(1)
          const report = yield* runs.prune({ olderThan: 0 })
          expect(report).toMatchObject({ runs: 1, logs: 1 })
          expect((yield* Effect.flip(runs.getLogs(id)))._tag).toBe("RunNotFound")
        })
      ))
  }
})
