/**
 * Running the `taskflow` command from the sources as a child process, and seeding stores with runs
 * made the way a user makes them (flows and tasks run in this process, `delay` for Scheduled runs).
 */
import { Effect, Exit, Layer } from "effect"
import { RunStore, TaskRunner } from "effect-taskflow"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { boom, double, pipeline } from "./fixtures/tasks.js"

export const root = fileURLToPath(new URL("../..", import.meta.url))
export const bin = path.join(root, "src/bin/taskflow.ts")
export const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url))

/** tsx's loader by its path, so the command runs from any working directory. */
const tsxLoader = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href

/** The node arguments that run the command from its sources. */
export const nodeArgs = ["--conditions=taskflow-source", "--import", tsxLoader, bin]

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `taskflow …args` to its end. */
export const taskflow = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}
): Promise<CliResult> =>
  new Promise((resolve) => {
    const env = { ...process.env, TASKFLOW_STORE: "", TASKFLOW_SCHEMA: "", NO_COLOR: "1", ...options.env }
    execFile(process.execPath, [...nodeArgs, ...args], { cwd: options.cwd ?? root, env, timeout: 60_000 }, (
      error,
      stdout,
      stderr
    ) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
  })

/** What `seed` made. */
export interface Seeded {
  readonly flowRunId: string
  readonly completed: string
  readonly failed: string
  readonly scheduled: string
}

/**
 * Fills a store: one flow run of three task runs, a task run that Completed, one that Failed, and a
 * Scheduled run no worker serves.
 */
export const seed = (layer: Layer.Layer<RunStore.RunStore, unknown>): Promise<Seeded> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* pipeline([1, 2, 3])
      const [flowRun] = yield* store.listRuns({ kind: "flow" })
      const completed = yield* double.submit(21)
      yield* completed.wait()
      const failed = yield* boom.submit("no luck")
      yield* failed.wait()
      const scheduled = yield* double.delay(5)
      return {
        flowRunId: flowRun!.id,
        completed: completed.taskRunId,
        failed: failed.taskRunId,
        scheduled: scheduled.taskRunId
      }
    }).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(layer), Effect.scoped)
  )

export { Exit }
