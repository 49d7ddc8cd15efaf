/**
 * `taskflow runs rerun` and `runs prune` against a real SQLite file, as a child process: the new
 * run's link, what prune says first, its refusal without a terminal, and that it never deletes a
 * run that is not final.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { RunStore } from "effect-taskflow"
import * as fs from "node:fs"
import * as path from "node:path"
import { freshSqliteFile } from "../support/stores.js"
import type { Seeded } from "./helpers.js"
import { seed, taskflow } from "./helpers.js"

let file = ""
let seeded: Seeded

beforeAll(async () => {
  file = freshSqliteFile()
  seeded = await seed(RunStore.sqlite({ filename: file }))
}, 60_000)

afterAll(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))

const on = (...args: ReadonlyArray<string>) => taskflow([...args, "--store", file])

interface RunJson {
  readonly id: string
  readonly name: string
  readonly state: { readonly type: string }
  readonly rerunOf: string | null
  readonly tags: ReadonlyArray<string>
}

describe("taskflow runs ls, by tag and age", () => {
  it("--tag and --since select by the store's filters; --state takes state names too", async () => {
    const [tagged, recent, named] = await Promise.all([
      on("runs", "ls", "--tag", "risky", "-o", "json"),
      on("runs", "ls", "--since", "1h", "-o", "jsonl"),
      on("runs", "ls", "--state", "TimedOut", "--state", "failed", "-o", "json")
    ])
    const runs = JSON.parse(tagged.stdout) as ReadonlyArray<RunJson>
    expect(runs.map((run) => run.id)).toEqual([seeded.failed])
    expect(runs[0]!.tags).toEqual(["risky"])
    expect(recent.stdout.trim().split("\n")).toHaveLength(7)
    expect((JSON.parse(named.stdout) as ReadonlyArray<RunJson>).map((run) => run.id)).toEqual([seeded.failed])
  }, 60_000)
})

describe("taskflow runs rerun", () => {
  it("schedules a new run of the same task with the same parameters, linked to the old one", async () => {
    const result = await on("runs", "rerun", seeded.failed, "-o", "json")
    expect(result.code).toBe(0)
    const [rerun] = JSON.parse(result.stdout) as ReadonlyArray<RunJson>
    expect(rerun).toMatchObject({ name: "cli-boom", rerunOf: seeded.failed, state: { type: "SCHEDULED" } })
    const inspect = await on("runs", "inspect", rerun!.id)
    expect(inspect.stdout).toContain(`Rerun of:   ${seeded.failed}`)
    expect(inspect.stdout).toContain(`Parameters: ["no luck"]`)
  }, 60_000)
})

describe("taskflow runs prune", () => {
  it("says how many first; without a terminal or --yes it refuses (exit 2) and deletes nothing", async () => {
    const [none, refused] = await Promise.all([
      on("runs", "prune", "--older-than", "1h"),
      on("runs", "prune", "--older-than", "1ms")
    ])
    expect(none.code).toBe(0)
    expect(none.stdout).toMatch(/^0 finished runs \(COMPLETED, FAILED, CRASHED, CANCELLED\) ended more than 1h ago/)
    expect(refused.code).toBe(2)
    expect(refused.stdout).toMatch(/^6 finished runs .* ended more than 1ms ago/)
    expect(refused.stderr).toContain("Pass --yes to delete them")
    const bad = await on("runs", "prune", "--older-than", "1ms", "--state", "running", "--yes")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("prune deletes finished runs only")
    const missing = await on("runs", "prune", "--yes")
    expect(missing.code).toBe(2)
  }, 60_000)

  it("--yes deletes the finished runs, never one that is not final", async () => {
    const result = await on("runs", "prune", "--older-than", "1ms", "--yes", "-o", "json")
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as { matched: number; deleted: { runs: number } }
    expect(report.matched).toBeGreaterThanOrEqual(6)
    expect(report.deleted.runs).toBe(report.matched)
    const left = JSON.parse((await on("runs", "ls", "-o", "json")).stdout) as ReadonlyArray<RunJson>
    expect(left.every((run) => run.state.type === "SCHEDULED")).toBe(true)
    expect(left.map((run) => run.id)).toContain(seeded.scheduled)
  }, 60_000)
})
