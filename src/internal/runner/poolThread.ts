/**
 * One thread of the worker pool as the pool sees it, and the runs given to it: starting a thread,
 * sending it runs, telling which of them it began, and ending the runs of a thread that died.
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { ResourceLimits } from "node:worker_threads"
import { Worker } from "node:worker_threads"
import type { TaskDefinition } from "../core/definition.js"
import { RunCrashed } from "../engine/engine.js"
import type { ReplayTarget } from "../telemetry/threadSpans.js"
import { cancelIfNotBegun, hasBegun, makeProgressBuffer } from "./runProgress.js"
import type { FromPool, Run, ThreadData, ThreadLogLine, ToPool } from "./workerProtocol.js"
import { describeError } from "./workerProtocol.js"

/**
 * Runs a thread may hold at once while all of them are fast: the next is sent while one runs, so a
 * thread never idles waiting for the pool, and a message to a busy thread costs less to send.
 * @internal
 */
export const PIPELINE_DEPTH = 4

/** One task run on its way to a thread: queued, sent, or settled. @internal */
export interface Job {
  readonly id: number
  readonly def: TaskDefinition
  readonly message: Run
  /** Resumes the run's fiber with the outcome. */
  readonly resume: (exit: Exit.Exit<unknown, unknown>) => void
  thread: PoolThread | undefined
  /** Its place among the runs sent to its thread (see `runProgress.ts`). */
  seq: number
  /** Its fiber has its outcome, or was cancelled: nothing more is done for it. */
  settled: boolean
  /** Completed once the job's thread answered or was replaced: a cancellation waits for it. */
  answered: Deferred.Deferred<void> | undefined
  /** Logs the lines the run logged on its thread, on the run's own fiber. */
  readonly relog: (lines: ReadonlyArray<ThreadLogLine>) => void
  /** Set when the run's fiber traces: where the body's thread spans are replayed. */
  readonly tracing: ReplayTarget | undefined
}

/** @internal */
export interface PoolThread {
  readonly worker: Worker
  /** It loaded the module and may take runs. */
  ready: boolean
  /** Why the module failed to load here: a replacement would fail the same way. */
  loadFailure: string | undefined
  /** The runs sent to it and not answered yet, in the order sent. */
  readonly jobs: Array<Job>
  /** How many runs were given to it, and how many of those were posted. */
  sent: number
  posted: number
  /** Shared with the thread: which of its runs it has begun, which were cancelled before. */
  readonly progress: Int32Array
  /** Why the thread is going away (set before `exit`), so its runs end with the right state. */
  ending: string | undefined
  /** The run whose cancellation made the pool terminate the thread: it ends Cancelled, not Crashed. */
  terminatedFor: Job | undefined
}

/** What a thread tells the pool. @internal */
export interface ThreadListener {
  readonly onMessage: (thread: PoolThread, message: ToPool) => void
  readonly onExit: (thread: PoolThread, code: number) => void
}

const entryUrl = (): { readonly url: URL; readonly typescript: boolean } => {
  // Under tsx or vitest this module is TypeScript, and so is the entry beside it.
  const typescript = import.meta.url.endsWith(".ts")
  return { url: new URL(`./workerEntry.${typescript ? "ts" : "js"}`, import.meta.url), typescript }
}

/**
 * How a thread loads its entry and the task module: plain node, or with tsx's loader registered
 * first (`api` is the URL of `tsx/esm/api`).
 * @internal
 */
export type ThreadLoader = { readonly _tag: "Plain" } | { readonly _tag: "Tsx"; readonly api: string }

const isTypeScriptPath = (href: string): boolean => {
  try {
    return /\.(?:ts|mts|cts|tsx)$/i.test(new URL(href).pathname)
  } catch {
    return false
  }
}

/** tsx's ESM API (`register`), found through the package.json `require` reaches from `from`. */
const tsxApiFrom = (from: string): string | undefined => {
  try {
    const manifestPath = createRequire(from).resolve("tsx/package.json")
    const manifest: { readonly exports?: Record<string, { readonly import?: { readonly default?: string } }> } = JSON
      .parse(readFileSync(manifestPath, "utf8"))
    const api = manifest.exports?.["./esm/api"]?.import?.default
    return api === undefined ? undefined : new URL(api, pathToFileURL(manifestPath)).href
  } catch {
    return undefined
  }
}

/**
 * The loader the threads need to load `module` (a URL): compiled library and a JavaScript module
 * need none; a TypeScript module, or the library running from its own TypeScript sources, needs tsx,
 * looked up from the module's folder, then the working directory, then the library. Left: why no
 * loader was found.
 * @internal
 */
export const threadLoader = (module: string): Either.Either<ThreadLoader, string> => {
  const entry = entryUrl()
  const typescriptModule = isTypeScriptPath(module)
  if (!entry.typescript && !typescriptModule) return Either.right({ _tag: "Plain" })
  const places = [
    ...(module.startsWith("file:") ? [module] : []),
    pathToFileURL(join(process.cwd(), "noop.js")).href,
    import.meta.url
  ]
  for (const place of places) {
    const api = tsxApiFrom(place)
    if (api !== undefined) return Either.right({ _tag: "Tsx", api })
  }
  return Either.left(
    typescriptModule
      ? `the module ${module} is TypeScript, and a worker thread loads a .ts module only through tsx, ` +
        `which was not found from the module's folder or the working directory: install tsx ` +
        `(npm install tsx), or point 'module' at compiled JavaScript (.js)`
      : `effect-taskflow runs from its TypeScript sources, and its worker threads need tsx, which was not found`
  )
}

const startWorker = (data: ThreadData, resourceLimits: ResourceLimits | undefined, loader: ThreadLoader): Worker => {
  const entry = entryUrl()
  const options = { workerData: data, ...(resourceLimits !== undefined ? { resourceLimits } : {}) }
  if (loader._tag === "Plain") return new Worker(entry.url, options)
  // tsx's loader does not reach worker threads on Node 20: register it in the thread first.
  const stub = `import(${JSON.stringify(loader.api)}).then((tsx) => { tsx.register(); return import(` +
    `${JSON.stringify(entry.url.href)}) })`
  return new Worker(stub, { ...options, eval: true })
}

/** Starts a thread that loads `module`; it says `Ready` (or `LoadFailed`) to the listener. @internal */
export const spawnThread = (
  module: string,
  resourceLimits: ResourceLimits | undefined,
  loader: ThreadLoader,
  listener: ThreadListener
): PoolThread => {
  const shared = makeProgressBuffer(PIPELINE_DEPTH)
  const thread: PoolThread = {
    worker: startWorker({ module, shared }, resourceLimits, loader),
    ready: false,
    loadFailure: undefined,
    jobs: [],
    sent: 0,
    posted: 0,
    progress: new Int32Array(shared),
    ending: undefined,
    terminatedFor: undefined
  }
  thread.worker.on("message", (message: ToPool) => listener.onMessage(thread, message))
  thread.worker.on("error", (error) => {
    thread.ending ??= describeError(error)
  })
  thread.worker.on("exit", (code) => listener.onExit(thread, code))
  return thread
}

/** Gives a job to a thread; `postGiven` sends it. @internal */
export const give = (thread: PoolThread, job: Job): void => {
  job.thread = thread
  job.seq = thread.sent++
  thread.jobs.push(job)
}

/**
 * Sends a thread the runs given to it since the last post, in one message: a message wakes an idle
 * thread, which costs the main thread far more than copying the runs.
 * @internal
 */
export const postGiven = (thread: PoolThread): void => {
  const fresh = thread.sent - thread.posted
  if (fresh === 0) return
  thread.posted = thread.sent
  // They are the last ones in its list.
  const runs = thread.jobs.slice(-fresh).map((job) => job.message)
  thread.worker.postMessage(fresh === 1 ? runs[0] : { _tag: "RunMany", runs } satisfies FromPool)
}

/** Removes and returns the job a thread answered for, if it still holds it. @internal */
export const takeAnswered = (thread: PoolThread, id: number): Job | undefined => {
  const index = thread.jobs.findIndex((job) => job.id === id)
  if (index < 0) return undefined
  const job = thread.jobs[index]
  thread.jobs.splice(index, 1)
  return job
}

/** Whether the thread has begun the job (sent to it). @internal */
export const hasBegunJob = (thread: PoolThread, job: Job): boolean => hasBegun(thread.progress, job.seq)

/** Cancels a job its thread has not begun; false if the thread already began it. @internal */
export const cancelIfNotBegunJob = (thread: PoolThread, job: Job): boolean => cancelIfNotBegun(thread.progress, job.seq)

/** Ends a job with its outcome, once. @internal */
export const settle = (job: Job, exit: Exit.Exit<unknown, unknown>): void => {
  if (job.settled) return
  job.settled = true
  job.resume(exit)
  if (job.answered !== undefined) Deferred.unsafeDone(job.answered, Exit.void)
}

/** A crash for a run no thread could run. @internal */
export const notRunnable = (reason: string): Exit.Exit<never, never> =>
  Exit.die(new RunCrashed(`No worker thread could run it: ${reason}.`))

/**
 * Ends the runs a thread that exited had begun (Crashed, or Cancelled for the run it was terminated
 * for), and returns those it had not begun, for another thread. Once the pool is closed, those
 * crash too.
 * @internal
 */
export const endJobsOfExited = (thread: PoolThread, code: number, closed: boolean): Array<Job> => {
  const unstarted: Array<Job> = []
  for (const job of thread.jobs) {
    if (!hasBegunJob(thread, job)) {
      if (closed) settle(job, notRunnable("the worker pool was shut down"))
      job.thread = undefined
      unstarted.push(job)
    } else if (job === thread.terminatedFor) {
      settle(job, Exit.interrupt(FiberId.none))
    } else {
      settle(job, Exit.die(new RunCrashed(`The worker thread running it died (${deathReason(thread, code)}).`)))
    }
  }
  thread.jobs.length = 0
  return unstarted
}

const deathReason = (thread: PoolThread, code: number): string =>
  thread.terminatedFor !== undefined
    ? "it was terminated to stop another run that did not stop when interrupted"
    : thread.ending ?? `exit code ${code}`
