/**
 * `taskflow runs …` against a real SQLite file, run as a child process from the sources: output,
 * `-o json` shapes, exit codes, and the errors (unknown, ambiguous or short ids, bad flags).
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
  readonly kind: string
  readonly name: string
  readonly state: {
    readonly type: string
    readonly name: string
    readonly message: string | null
    readonly timestamp: string
  }
  readonly attempts: number
  readonly startedAt: string | null
  readonly durationMs: number | null
  readonly flowRunId: string | null
}

describe("taskflow runs ls", () => {
  it("a table of the runs, newest first, and the same runs as json", async () => {
    const [text, json] = await Promise.all([on("runs", "ls"), on("runs", "ls", "-o", "json")])
    expect(text.code).toBe(0)
    const lines = text.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^ID\s+KIND\s+NAME\s+STATE\s+STARTED\s+DURATION\s+ATTEMPTS$/)
    expect(lines).toHaveLength(1 + 7)
    expect(lines[1]).toMatch(/task\s+cli-double\s+SCHEDULED\s+-\s+-\s+0$/)
    expect(lines[2]).toMatch(/task\s+cli-boom\s+FAILED\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+ms\s+1$/)
    expect(lines.at(-1)).toMatch(/flow\s+cli-pipeline\s+COMPLETED/)

    expect(json.code).toBe(0)
    const runs = JSON.parse(json.stdout) as ReadonlyArray<RunJson>
    expect(runs.map((run) => run.id)).toEqual([
      seeded.scheduled,
      seeded.failed,
      seeded.completed,
      ...runs.slice(3, 6).map((run) => run.id),
      seeded.flowRunId
    ])
    expect(Object.keys(runs[1]!).sort()).toEqual([
      "attempts",
      "corrupt",
      "createdAt",
      "durationMs",
      "endedAt",
      "flowRunId",
      "id",
      "kind",
      "name",
      "parentTaskRunId",
      "rerunOf",
      "retries",
      "startedAt",
      "state",
      "tags",
      "workerId"
    ])
    expect(runs[1]!.state).toMatchObject({ type: "FAILED", name: "Failed" })
    expect(runs[0]!.startedAt).toBeNull()
    expect(runs.slice(3, 6).every((run) => run.flowRunId === seeded.flowRunId)).toBe(true)
  }, 60_000)

  it("filters by state, name and flow run (by a prefix of its id), with a limit", async () => {
    const [failed, ofFlow, limited] = await Promise.all([
      on("runs", "ls", "--state", "failed", "--state", "crashed", "-o", "json"),
      on("runs", "ls", "--flow-run", seeded.flowRunId.slice(0, 20), "-o", "json"),
      on("runs", "ls", "--limit", "2", "--name", "cli-double", "-o", "json")
    ])
    const ids = (result: { readonly stdout: string }) =>
      (JSON.parse(result.stdout) as ReadonlyArray<RunJson>).map((run) => run.id)
    expect(ids(failed)).toEqual([seeded.failed])
    expect(ids(ofFlow)).toHaveLength(3)
    expect(ids(limited)).toEqual([seeded.scheduled, seeded.completed])
  }, 60_000)

  it("bad flags exit 2 and say what was wrong", async () => {
    const [state, limit, unknown, age] = await Promise.all([
      on("runs", "ls", "--state", "nope"),
      on("runs", "ls", "--limit", "0"),
      on("runs", "ls", "--bogus"),
      on("runs", "watch", "--interval", "soon")
    ])
    expect(state.code).toBe(2)
    expect(state.stdout + state.stderr).toContain("--state nope is not a state")
    expect(state.stderr).toContain("taskflow runs ls --help")
    expect(limit.code).toBe(2)
    expect(limit.stdout + limit.stderr).toContain("--limit 0")
    expect(unknown.code).toBe(2)
    expect(unknown.stdout + unknown.stderr).toContain("--bogus")
    expect(age.code).toBe(2)
    expect(age.stdout + age.stderr).toContain("is not an age")
  }, 60_000)
})

describe("taskflow runs inspect", () => {
  it("a flow run: facts, timeline, result, and its task runs as a tree", async () => {
    const result = await on("runs", "inspect", seeded.flowRunId.slice(0, 16))
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Run:        ${seeded.flowRunId} (flow cli-pipeline)`)
    expect(result.stdout).toMatch(
      /History\n\s+TIME\s+AFTER\s+STATE\s+MESSAGE\n.*PENDING\n.*\+\d+ms\s+RUNNING\n.*COMPLETED/
    )
    expect(result.stdout).toContain("Result\n  [2,4,6]")
    expect(result.stdout).toMatch(/Task runs \(3\)\n  cli-pipeline COMPLETED\n  ├─ \S+  cli-double  COMPLETED/)
    expect(result.stdout).toMatch(/└─ \S+  cli-double  COMPLETED/)
  }, 60_000)

  it("a failed run: its pretty Cause with the error's fields; -o json has every part", async () => {
    const [text, json] = await Promise.all([
      on("runs", "inspect", seeded.failed),
      on("runs", "inspect", seeded.failed, "-o", "json")
    ])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain("Failure\n  CliBoom")
    expect(text.stdout).toContain(`"reason":"no luck"`)
    expect(text.stdout).toContain(`Parameters: ["no luck"]`)
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>
    expect(Object.keys(parsed).sort()).toEqual([
      "failure",
      "history",
      "logs",
      "parameters",
      "result",
      "run",
      "taskRuns"
    ])
    expect(parsed.parameters).toEqual(["no luck"])
    expect(parsed.result).toBeNull()
    expect(parsed.failure).toContain("CliBoom")
    expect((parsed.history as ReadonlyArray<{ type: string }>).map((state) => state.type)).toEqual([
      "PENDING",
      "RUNNING",
      "FAILED"
    ])
  }, 60_000)

  it(
    "an unknown id exits 1 naming the store; a short or ambiguous prefix exits 2, listing the candidates",
    async () => {
      let common = 0
      while (seeded.failed[common] === seeded.completed[common]) common++
      const ambiguousPrefix = seeded.failed.slice(0, common)
      expect(ambiguousPrefix.length).toBeGreaterThanOrEqual(6)
      const [unknown, short, ambiguous] = await Promise.all([
        on("runs", "inspect", "ffffffff-ffff"),
        on("runs", "inspect", "01a2"),
        on("runs", "inspect", ambiguousPrefix)
      ])
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain(
        `No run in the store ${file} (from --store) has an id starting with ffffffff-ffff`
      )
      expect(short.code).toBe(2)
      expect(short.stderr).toContain("at least 6")
      expect(ambiguous.code).toBe(2)
      expect(ambiguous.stderr).toContain(`The id prefix ${ambiguousPrefix} is ambiguous`)
      expect(ambiguous.stderr).toContain(seeded.failed)
      expect(ambiguous.stderr).toContain(seeded.completed)
    },
    60_000
  )
})

describe("taskflow runs cancel and watch (not a terminal)", () => {
  it("cancels a Scheduled run (exit 0); a finished run is left as it is (exit 1)", async () => {
    const first = await on("runs", "cancel", seeded.scheduled)
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/task cli-double: CANCELLED/)
    const again = await on("runs", "cancel", seeded.scheduled, seeded.completed)
    expect(again.code).toBe(1)
    expect(again.stdout).toMatch(/task cli-double: already CANCELLED, left as it is/)
    expect(again.stderr).toContain("2 of 2 runs had already finished")
  }, 60_000)

  it("watch <id> prints plain lines and exits 0 for a Completed run, 1 for a Failed one", async () => {
    const [completed, failed] = await Promise.all([
      on("runs", "watch", seeded.completed),
      on("runs", "watch", seeded.failed)
    ])
    expect(completed.code).toBe(0)
    expect(completed.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \S+  task cli-double  COMPLETED\n$/)
    expect(completed.stdout).not.toContain("\x1b[")
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain(`Run ${seeded.failed} ended FAILED`)
  }, 60_000)
})

describe("choosing the store", () => {
  it("uses TASKFLOW_STORE without --store; a store that does not exist exits 1 saying how it was chosen", async () => {
    const [fromEnv, missing, byDefault] = await Promise.all([
      taskflow(["runs", "ls", "--kind", "flow"], { env: { TASKFLOW_STORE: file } }),
      taskflow(["runs", "ls"], { env: { TASKFLOW_STORE: `${file}.nope` } }),
      taskflow(["runs", "ls"], { cwd: path.dirname(file) })
    ])
    expect(fromEnv.code).toBe(0)
    expect(fromEnv.stdout).toContain("cli-pipeline")
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`There is no store at ${file}.nope (from TASKFLOW_STORE)`)
    expect(byDefault.code).toBe(1)
    expect(byDefault.stderr).toContain(`${path.dirname(file)}/.taskflow/runs.db (the default`)
  }, 60_000)
})
