/**
 * `taskflow runs logs` and the logs in `runs inspect`, against a real SQLite file, as a child
 * process: the lines, `--tail`, `-o json`, and `--follow` while a task worker runs the run.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { RunStore, TaskRunner, TaskWorker } from "effect-taskflow"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { freshSqliteFile } from "../support/stores.js"
import { chatty } from "./fixtures/tasks.js"
import { nodeArgs, root, taskflow } from "./helpers.js"

let file = ""
let runId = ""

const store = () => RunStore.sqlite({ filename: file, maxPollInterval: 100 })

beforeAll(async () => {
  file = freshSqliteFile()
  runId = await Effect.runPromise(
    Effect.gen(function*() {
      const future = yield* chatty.submit(3)
      yield* future.wait()
      return future.taskRunId
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(store()))
  )
}, 60_000)

afterAll(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))

const on = (...args: ReadonlyArray<string>) => taskflow([...args, "--store", file])

describe("taskflow runs logs", () => {
  it("prints the lines with level, annotations and spans; --tail keeps the last; -o json is RunLog", async () => {
    const [all, tail, json, inspect] = await Promise.all([
      on("runs", "logs", runId),
      on("runs", "logs", runId, "--tail", "1"),
      on("runs", "logs", runId, "-o", "json"),
      on("runs", "inspect", runId)
    ])
    expect(all.code).toBe(0)
    const lines = all.stdout.trim().split("\n")
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  INFO     line 0  step=0 chatter=\d+ms$/)
    expect(all.stdout).not.toContain("taskflow.run_id")
    expect(tail.stdout.trim().split("\n")).toEqual([lines[2]])
    const parsed = JSON.parse(json.stdout) as ReadonlyArray<Record<string, unknown>>
    expect(parsed.map((line) => line.message)).toEqual(["line 0", "line 1", "line 2"])
    expect(parsed[0]).toMatchObject({
      runId,
      seq: 1,
      level: "Info",
      annotations: { step: "0", "taskflow.run_id": runId }
    })
    expect(Object.keys(parsed[0]!).sort()).toEqual([
      "annotations",
      "level",
      "message",
      "runId",
      "seq",
      "spans",
      "timestamp"
    ])
    expect(inspect.stdout).toMatch(/Logs \(taskflow runs logs \S+ for all\)\n  .*line 0.*\n  .*line 1.*\n  .*line 2/)
  }, 60_000)

  it("--follow prints the lines as a task worker runs the run, and ends when the run is final", async () => {
    const scheduled = await Effect.runPromise(Effect.provide(chatty.delay(4), store()))
    const child = spawn(process.execPath, [
      ...nodeArgs,
      "runs",
      "logs",
      scheduled.taskRunId,
      "--follow",
      "--store",
      file
    ], {
      cwd: root,
      env: { ...process.env, TASKFLOW_STORE: "" }
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => output += chunk.toString())
    child.stderr.on("data", (chunk: Buffer) => output += chunk.toString())
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    // The worker starts once the command follows: the lines reach it live, not from the table.
    await new Promise<void>((resolve) => {
      const look = () => output.includes("Following the logs of") ? resolve() : child.stderr.once("data", look)
      look()
    })
    const worker = Effect.runFork(Effect.provide(TaskWorker.serve([chatty], { workerId: "cli-logs-worker" }), store()))
    try {
      expect(await exited).toBe(0)
    } finally {
      await Effect.runPromise(Fiber.interrupt(worker))
    }
    expect(output).toContain(`Following the logs of ${scheduled.taskRunId} (task cli-chatty) until it ends`)
    expect(output.trim().split("\n").slice(1).map((line) => / (line \d) /.exec(line)?.[1])).toEqual([
      "line 0",
      "line 1",
      "line 2",
      "line 3"
    ])
  }, 120_000)
})
