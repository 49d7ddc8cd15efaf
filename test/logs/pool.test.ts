/** Run logs of runs on worker threads: the lines reach the run's store, and the user's Logger, on the main thread. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Logger, LogLevel, Option } from "effect"
import { Flow, RunStore, TaskRunner } from "effect-taskflow"
import { logAcrossSleep, logSome } from "./logTasks.js"

const pool = TaskRunner.workerPool({ size: 1, module: new URL("./logTasks.ts", import.meta.url) })

const inPool = Flow.make({ name: "logs-pool-flow", taskRunner: pool }, () =>
  Effect.gen(function*() {
    const some = yield* logSome.submit(3)
    const sleeping = yield* logAcrossSleep.submit()
    yield* sleeping.result()
    return { ids: yield* some.result(), sleepingId: sleeping.taskRunId, flowRunId: yield* Flow.currentRunId }
  }))

describe("run logs on worker threads", () => {
  it.live(
    "a body's lines on a pool thread reach the store and the user's Logger, with the run's annotations",
    () =>
      Effect.gen(function*() {
        const printed: Array<{ message: unknown; runId: unknown }> = []
        const logger = Logger.make(({ annotations, message }) => {
          printed.push({ message, runId: Option.getOrUndefined(HashMap.get(annotations, "taskflow.run_id")) })
        })
        const result = yield* inPool().pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Logger.withMinimumLogLevel(LogLevel.Debug)
        )
        const store = yield* RunStore.RunStore
        const flowRunId = Option.getOrThrow(result.flowRunId)
        expect(result.ids.flowRunId).toBe(flowRunId)
        const runId = result.ids.runId!
        const run = yield* store.getRun(runId)
        expect(run.flowRunId).toBe(flowRunId)
        const lines = yield* store.getLogs(runId)
        expect(lines.map((line) => [line.level, line.message])).toEqual([
          ["Info", "line 0"],
          ["Info", "line 1"],
          ["Info", "line 2"],
          ["Warning", "annotated"],
          ["Debug", "debug line"]
        ])
        expect(lines[3]!.annotations).toMatchObject({
          fixture: "yes",
          "taskflow.run_id": runId,
          "taskflow.flow_run_id": flowRunId
        })
        expect(lines[3]!.spans.map((span) => span.label)).toEqual(["fixture-span"])
        const sleeping = yield* store.getLogs(result.sleepingId)
        expect(sleeping.map((line) => line.message)).toEqual(["before sleep", "after sleep"])
        // The user's Logger printed them on the main thread, with the run id.
        expect(printed.filter((line) => line.message === "line 1").map((line) => line.runId)).toEqual([runId])
      }).pipe(Effect.provide(RunStore.memory)),
    60_000
  )
})
