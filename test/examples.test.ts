import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { main as distributed } from "../examples/distributed.js"
import { main } from "../examples/pipeline.js"
import { main as tracing } from "../examples/tracing.js"
import { main as primes } from "../examples/workerPool.js"
import { nodeArgs, root } from "./cli/helpers.js"

describe("examples", () => {
  // The README's main job, run for real (its sleeps are tens of milliseconds).
  it.live("pipeline.ts analyses every document but the one that times out", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const log = console.log
      console.log = (...args: Array<unknown>) => lines.push(args.join(" "))
      const results = yield* main.pipe(
        Effect.provide(Logger.remove(Logger.defaultLogger)),
        Effect.ensuring(Effect.sync(() => (console.log = log)))
      )
      expect(results.length).toBe(19)
      expect(results.some((r) => r.id === 13)).toBe(false)
      const output = lines.join("\n")
      expect(output).toContain("41 runs: 40 COMPLETED, 1 FAILED (TimedOut)")
      expect(output).toContain("20/20 analyses done, 1 failed")
    }))

  it.live("workerPool.ts counts primes on worker threads", () =>
    Effect.gen(function*() {
      const log = console.log
      console.log = () => {}
      const counts = yield* primes.pipe(Effect.ensuring(Effect.sync(() => (console.log = log))))
      expect(counts).toEqual([5133, 9592, 13848, 17984])
    }), { timeout: 60_000 })

  it.live(
    "distributed.ts runs delayed tasks and a flow run on a task worker over SQLite",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const log = console.log
        console.log = (...args: Array<unknown>) => lines.push(args.join(" "))
        const count = yield* distributed.pipe(
          Effect.provide(Logger.remove(Logger.defaultLogger)),
          Effect.ensuring(Effect.sync(() => (console.log = log)))
        )
        expect(count).toBe(2)
        expect(lines).toContain("inv-ada: 30 (an Invoice: true)")
        expect(lines).toContain("flow run: inv-barbara, inv-donald")
      }),
    { timeout: 30_000 }
  )

  it.live("tracing.ts prints the flow's trace: flow-run, task runs, attempts, the body's own span", () =>
    Effect.gen(function*() {
      const log = console.log
      console.log = () => {}
      const lines = yield* tracing.pipe(Effect.ensuring(Effect.sync(() => (console.log = log))))
      const names = lines.map((line) => line.trim().split("  ")[0])
      expect(names[0]).toBe("handle-request")
      expect(names[1]).toBe("flow-run examples-crawl")
      expect(names.filter((name) => name === "task-run examples-fetch-page")).toHaveLength(3)
      expect(names.filter((name) => name === "attempt 2")).toHaveLength(1)
      expect(names.filter((name) => name === "parse")).toHaveLength(3)
      expect(lines.find((line) => line.includes("flow-run examples-crawl"))).toMatch(/^  flow-run .* Completed$/)
    }))

  // As its header says (`tsx --conditions=taskflow-source examples/tracing.ts`), from a folder whose
  // path has a space: the entry check must still see that it is the program.
  it("tracing.ts run as a program, from a path with a space, prints its tree", async () => {
    const dir = fs.mkdtempSync(path.join(root, ".examples with space-"))
    try {
      const file = path.join(dir, "tracing.ts")
      fs.copyFileSync(path.join(root, "examples/tracing.ts"), file)
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          [...nodeArgs.slice(0, 3), file],
          { cwd: root, timeout: 60_000 },
          (error, out, err) => error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`))
        )
      )
      expect(stdout).toContain("  flow-run examples-crawl")
      expect(stdout).toContain("    taskflow.wait")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
