/** Run logs of runs a task worker in another process executes: they reach the same store, and followers elsewhere. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { RunStore } from "effect-taskflow"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"
import { logAcrossSleep, logFlow } from "./logTasks.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/** Starts the worker process; resolves once it serves; killed when the scope closes. */
const worker = (kind: string, location: string) =>
  Effect.acquireRelease(
    Effect.async<ReturnType<typeof spawn>, Error>((resume) => {
      const child = spawn(process.execPath, [
        "--conditions=taskflow-source",
        "--import",
        "tsx",
        path.join(here, "logWorker.ts")
      ], {
        cwd: path.resolve(here, "../.."),
        env: { ...process.env, TASKFLOW_LOGS_STORE_KIND: kind, TASKFLOW_LOGS_STORE: location },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("serving")) resume(Effect.succeed(child))
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", onData)
      child.once("exit", (code) =>
        resume(Effect.fail(new Error(`the worker exited (${code}) before serving:\n${output}`))))
    }),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          return resume(Effect.void)
        }
        child.once("exit", () =>
          resume(Effect.void))
        child.kill("SIGKILL")
      })
  )

const cases = [
  { kind: "sqlite", available: true, location: () => freshSqliteFile() },
  { kind: "postgres", available: postgresAvailable, location: () => freshPostgresUrl() }
]

for (const store of cases) {
  describe.skipIf(!store.available)(`run logs from a task worker process (${store.kind})`, () => {
    it.live("a flow and its task run on the worker: their lines are in the store once their results are", () => {
      const location = store.location()
      const layer = store.kind === "sqlite"
        ? RunStore.sqlite({ filename: location, maxPollInterval: 100 })
        : RunStore.postgres({ url: location, maxPollInterval: 100 })
      return Effect.scoped(Effect.gen(function*() {
        yield* worker(store.kind, location)
        const runs = yield* RunStore.RunStore
        // Followed from here while the worker, elsewhere, writes the lines.
        const sleeping = yield* logAcrossSleep.delay()
        const followed = yield* Effect.fork(Stream.runCollect(runs.followLogs(sleeping.taskRunId)))
        const flow = yield* logFlow.delay(2)
        const ids = yield* flow.result({ timeout: "30 seconds" })
        expect(ids.flowRunId).toBe(flow.flowRunId)
        const flowLines = yield* runs.getLogs(flow.flowRunId)
        expect(flowLines.map((line) => line.message)).toEqual(["flow line"])
        expect(flowLines[0]!.annotations["taskflow.run_id"]).toBe(flow.flowRunId)
        const lines = yield* runs.getLogs(ids.runId!)
        expect(lines.map((line) => line.message)).toEqual(["line 0", "line 1", "annotated"])
        expect(lines[2]!.annotations).toMatchObject({
          fixture: "yes",
          "taskflow.run_id": ids.runId,
          "taskflow.flow_run_id": flow.flowRunId
        })
        const followedLines = Chunk.toReadonlyArray(yield* Fiber.join(followed))
        expect(followedLines.map((line) => line.message)).toEqual(["before sleep", "after sleep"])
        expect(followedLines.map((line) => line.seq)).toEqual([1, 2])
      })).pipe(Effect.provide(layer))
    }, 90_000)
  })
}
