import { RunStore } from "effect-taskflow"
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"
import type { Target } from "./tasks.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../..")

export interface WorkerProcess {
  readonly id: string
  readonly process: ChildProcess
  /** Resolves once the worker logged that it serves. */
  readonly ready: Promise<void>
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>
  output(): string
}

/** Starts a task worker in its own Node process (through tsx, as a user would run a .ts worker). */
export const startWorker = (
  target: Target,
  options: {
    readonly id: string
    readonly lease?: number
    readonly concurrency?: number
    /** Between heartbeats, in ms (default: a quarter of the lease, at most 1 second). */
    readonly heartbeatInterval?: number
    /** How long running runs may finish on shutdown, in ms (default 100). */
    readonly shutdownGracePeriod?: number
    /** How long its store tries again while out of reach, in ms (default: the store's, 30 seconds). */
    readonly reconnectFor?: number
    /** The worker's script, a file of this folder (default worker.ts, which serves tasks.ts). */
    readonly script?: string
  }
): WorkerProcess => {
  const child = spawn(process.execPath, [
    "--conditions=taskflow-source",
    "--import",
    "tsx",
    path.join(here, options.script ?? "worker.ts")
  ], {
    cwd: root,
    env: {
      ...process.env,
      TASKFLOW_DIST_TARGET: JSON.stringify(target),
      TASKFLOW_DIST_WORKER: options.id,
      TASKFLOW_DIST_LEASE: String(options.lease ?? 30_000),
      TASKFLOW_DIST_CONCURRENCY: String(options.concurrency ?? 50),
      ...(options.heartbeatInterval === undefined
        ? {}
        : { TASKFLOW_DIST_HEARTBEAT: String(options.heartbeatInterval) }),
      ...(options.shutdownGracePeriod === undefined
        ? {}
        : { TASKFLOW_DIST_GRACE: String(options.shutdownGracePeriod) }),
      ...(options.reconnectFor === undefined ? {} : { TASKFLOW_DIST_RECONNECT: String(options.reconnectFor) })
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("serving")) resolve()
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => reject(new Error(`worker ${options.id} exited (${code}) before serving:\n${output}`)))
  })
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  return { id: options.id, process: child, ready, exited, output: () => output }
}

/** Resolves once the worker's output includes `text` (its output so far, or later). */
export const untilOutput = (worker: WorkerProcess, text: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const look = () => {
      if (worker.output().includes(text)) {
        worker.process.stdout!.off("data", onData)
        worker.process.stderr!.off("data", onData)
        resolve()
      }
    }
    // Called after the harness's own listener has added the chunk to the output.
    const onData = () => look()
    worker.process.stdout!.on("data", onData)
    worker.process.stderr!.on("data", onData)
    worker.exited.then(() =>
      reject(new Error(`worker ${worker.id} exited before it wrote '${text}':\n${worker.output()}`))
    )
    look()
  })

/** Stops every worker still running (a test's cleanup). */
export const stopAll = async (workers: ReadonlyArray<WorkerProcess>) => {
  for (const worker of workers) {
    if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill("SIGKILL")
  }
  await Promise.all(workers.map((worker) => worker.exited))
}

/** The stores the multi-process tests run on: a fresh SQLite file, and a fresh PostgreSQL schema when it answers. */
export const targets: ReadonlyArray<
  { readonly name: string; readonly available: boolean; readonly make: () => Target }
> = [
  { name: "sqlite", available: true, make: () => ({ kind: "sqlite", location: freshSqliteFile() }) },
  { name: "postgres", available: postgresAvailable, make: () => ({ kind: "postgres", location: freshPostgresUrl() }) }
]

/** The store layer of `target`, for this process (polling every 200 ms). */
export const storeOf = (target: Target) =>
  target.kind === "sqlite"
    ? RunStore.sqlite({ filename: target.location, maxPollInterval: 200 })
    : RunStore.postgres({ url: target.location, maxPollInterval: 200 })
