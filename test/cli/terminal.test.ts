/**
 * The commands that live in a terminal, in a real pseudo-terminal (tmux): `taskflow worker` serving
 * a module until Ctrl-C, and `runs watch` redrawing its table in place.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RunStore, State } from "effect-taskflow"
import * as fs from "node:fs"
import * as path from "node:path"
import { freshSqliteFile } from "../support/stores.js"
import { double, slow } from "./fixtures/tasks.js"
import { fixtures, nodeArgs, root, seed } from "./helpers.js"
import type { Terminal } from "./tmux.js"
import { openTerminal } from "./tmux.js"

const opened: Array<Terminal> = []
const files: Array<string> = []

afterEach(() => {
  for (const terminal of opened.splice(0)) terminal.close()
  for (const file of files.splice(0)) fs.rmSync(path.dirname(file), { recursive: true, force: true })
})

const terminal = (args: ReadonlyArray<string>) => {
  const opened_ = openTerminal([process.execPath, ...nodeArgs, ...args], { cwd: root, env: { TASKFLOW_STORE: "" } })
  opened.push(opened_)
  return opened_
}

const newFile = () => {
  const file = freshSqliteFile()
  files.push(file)
  return file
}

/** Runs `effect` against the SQLite store in `file`, from this process. */
const onStore = <A, E>(file: string, effect: Effect.Effect<A, E, RunStore.RunStore>) =>
  Effect.runPromise(Effect.provide(effect, RunStore.sqlite({ filename: file, maxPollInterval: 100 })))

describe("taskflow worker", () => {
  it("serves the module's tasks, says what it serves, and stops on Ctrl-C with exit 0", async () => {
    const file = newFile()
    const worker = terminal([
      "worker",
      path.join(fixtures, "tasks.ts"),
      "--store",
      file,
      "--name",
      "cli-w1",
      "--concurrency",
      "2"
    ])
    const banner = await worker.until((screen) => screen.includes("Ctrl-C to stop"))
    expect(banner).toContain(`Worker cli-w1 serving 5 tasks and flows from ${path.join(fixtures, "tasks.ts")}`)
    expect(banner).toContain("2 at a time")
    expect(banner).toMatch(/task cli-double\n\s+flow cli-pipeline/)
    const result = await onStore(
      file,
      Effect.flatMap(double.delay(21), (future) => future.result({ timeout: "50 seconds" }))
    )
    expect(result).toBe(42)
    worker.sendKeys("C-c")
    const end = await worker.until((screen) => screen.includes("EXIT="))
    expect(end).toContain("heard SIGINT")
    expect(end).toContain("EXIT=0")
  }, 120_000)
})

describe("taskflow runs watch", () => {
  it("redraws the newest runs in place until Ctrl-C", async () => {
    const file = newFile()
    await seed(RunStore.sqlite({ filename: file }))
    const watch = terminal(["runs", "watch", "--store", file, "--interval", "200ms"])
    const first = await watch.until((screen) => screen.includes("cli-pipeline"))
    expect(first).toMatch(/^taskflow runs watch — the store .* — Ctrl-C to stop/)
    expect(first).toMatch(/ID\s+KIND\s+NAME\s+STATE\s+STARTED\s+DURATION\s+ATTEMPTS/)
    await onStore(file, slow.delay(1))
    const redrawn = await watch.until((screen) => screen.match(/cli-slow\s+SCHEDULED/) !== null)
    // In place: one title and one header on the screen, however many times it was drawn.
    expect(redrawn.match(/taskflow runs watch/g)).toHaveLength(1)
    expect(redrawn.match(/ATTEMPTS/g)).toHaveLength(1)
    watch.sendKeys("C-c")
    expect(await watch.until((screen) => screen.includes("EXIT="))).toContain("EXIT=0")
  }, 120_000)

  it("with an id: follows the run and exits 0 when it completes, 1 when it ends otherwise", async () => {
    const file = newFile()
    const [completing, cancelled] = await onStore(file, Effect.all([slow.delay(1), slow.delay(2)]))
    const watchCompleting = terminal(["runs", "watch", completing.taskRunId, "--store", file, "--interval", "200ms"])
    const watchCancelled = terminal(["runs", "watch", cancelled.taskRunId, "--store", file, "--interval", "200ms"])
    await watchCompleting.until((screen) => screen.includes("SCHEDULED"))
    await watchCancelled.until((screen) => screen.includes("SCHEDULED"))
    await onStore(
      file,
      Effect.flatMap(RunStore.RunStore, (store) =>
        Effect.all([
          store.setState(completing.taskRunId, State.running()),
          store.setState(completing.taskRunId, State.completed(1)),
          store.cancelRun(cancelled.taskRunId)
        ]))
    )
    const done = await watchCompleting.until((screen) => screen.includes("EXIT="))
    expect(done).toMatch(/cli-slow\s+COMPLETED/)
    expect(done).toContain("EXIT=0")
    const ended = await watchCancelled.until((screen) => screen.includes("EXIT="))
    expect(ended).toContain(`Run ${cancelled.taskRunId} ended CANCELLED`)
    expect(ended).toContain("EXIT=1")
  }, 120_000)

  // The bug this catches: Ctrl-C exited 0, so `taskflow runs watch $id && deploy` deployed a run
  // that never completed.
  it("with an id: Ctrl-C before the run ends exits 130", async () => {
    const file = newFile()
    const waiting = await onStore(file, slow.delay(3))
    const watch = terminal(["runs", "watch", waiting.taskRunId, "--store", file, "--interval", "200ms"])
    await watch.until((screen) => screen.includes("SCHEDULED"))
    watch.sendKeys("C-c")
    expect(await watch.until((screen) => screen.includes("EXIT="))).toContain("EXIT=130")
  }, 120_000)
})

describe("taskflow runs prune on a terminal", () => {
  it("says how many, asks, and deletes when the answer is yes", async () => {
    const file = newFile()
    await seed(RunStore.sqlite({ filename: file }))
    const prune = terminal(["runs", "prune", "--older-than", "1ms", "--store", file])
    const asked = await prune.until((screen) => screen.includes("Delete 6 runs?"))
    expect(asked).toMatch(/^6 finished runs \(COMPLETED, FAILED, CRASHED, CANCELLED\) ended more than 1ms ago/)
    prune.sendKeys("y")
    const done = await prune.until((screen) => screen.includes("EXIT="))
    expect(done).toContain("Deleted 6 runs")
    expect(done).toContain("EXIT=0")
  }, 120_000)
})
