/** `taskflow worker`'s errors, as a child process: each says what was wrong and what to do. */
import { describe, expect, it, onTestFinished } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { freshSqliteFile } from "../support/stores.js"
import { fixtures, taskflow } from "./helpers.js"

describe("taskflow worker, refusing to start", () => {
  it("a module that exports no task, an unknown --task, a missing module, a bad --concurrency", async () => {
    const store = freshSqliteFile()
    onTestFinished(() => fs.rmSync(path.dirname(store), { recursive: true, force: true }))
    const worker = (...args: ReadonlyArray<string>) => taskflow(["worker", ...args, "--store", store])
    const [empty, unknownTask, missing, concurrency] = await Promise.all([
      worker(path.join(fixtures, "empty.mjs")),
      worker(path.join(fixtures, "tasks.ts"), "--task", "cli-double", "--task", "nope"),
      worker(path.join(fixtures, "missing.mjs")),
      worker(path.join(fixtures, "tasks.ts"), "--concurrency", "0")
    ])
    expect(empty.code).toBe(1)
    expect(empty.stderr).toContain(`The module ${path.join(fixtures, "empty.mjs")} exports no task or flow`)
    expect(empty.stderr).toContain("Task.make")
    expect(unknownTask.code).toBe(2)
    expect(unknownTask.stderr).toContain("--task nope")
    expect(unknownTask.stderr).toContain("It exports: cli-boom, cli-chatty, cli-double, cli-pipeline, cli-slow.")
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("does not exist")
    expect(concurrency.code).toBe(2)
    expect(concurrency.stdout + concurrency.stderr).toContain("--concurrency 0")
  }, 120_000)
})
