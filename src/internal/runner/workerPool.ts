import type { Scope } from "effect"
import { Cause, Duration, Effect, Either, Exit, FiberId, Layer } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import * as Errors from "../../Errors.js"
import type { Service as TaskRunnerService, WorkerPoolOptions } from "../../TaskRunner.js"
import { decodeExit, encodeArguments } from "../codec/wire.js"
import type { TaskDefinition } from "../core/definition.js"
import { RunCrashed } from "../engine/engine.js"
import { makeRunner, TaskRunner } from "./taskRunner.js"
import type { FromPool, Run, ToPool } from "./workerProtocol.js"

/**
 * Runs a thread may hold at once while all of them are fast: the next is sent while one runs, so a
 * thread never idles waiting for the pool, and a message to a busy thread costs less to send.
 */
const PIPELINE_DEPTH = 4
/** A task whose runs take less than this (a moving average measured on the threads, µs) is fast. */
const FAST_MICROS = 250

/** One run sent, or waiting to be sent, to a thread. */
interface Job {
  readonly id: number
  readonly def: TaskDefinition
  readonly message: Run
  /** Resumes the run's fiber with the outcome. */
  readonly resume: (exit: Exit.Exit<unknown, unknown>) => void
  thread: PoolThread | undefined
  /** Its place among the runs sent to its thread: the thread has started it once `progress` passes it. */
  seq: number
  settled: boolean
  /** Called once the job's thread answered or was replaced (a cancellation waits for this). */
  onSettled: (() => void) | undefined
}

interface PoolThread {
  readonly worker: Worker
  ready: boolean
  /** The runs sent to it and not answered yet, in the order sent. */
  readonly jobs: Array<Job>
  /** How many runs were given to it, and how many of those were posted. */
  sent: number
  posted: number
  /**
   * Shared with the thread (see `started` and `cancelUnstarted`): [0] how many runs it has started,
   * [1 + seq % PIPELINE_DEPTH] marks run `seq` cancelled. Counts wrap at 2^32; only differences are compared.
   */
  readonly shared: Int32Array
  /** Why the thread is going away (set before `exit`), so its runs end with the right state. */
  ending: string | undefined
  /** The run whose cancellation made the pool terminate the thread: it ends Cancelled, not Crashed. */
  terminatedFor: Job | undefined
}

const entryUrl = (): { readonly url: URL; readonly typescript: boolean } => {
  // Under tsx or vitest this module is TypeScript, and so is the entry beside it.
  const typescript = import.meta.url.endsWith(".ts")
  return { url: new URL(`./workerEntry.${typescript ? "ts" : "js"}`, import.meta.url), typescript }
}

/** tsx's ESM API (`register`), found through its package.json: a dev-time need only. */
const tsxApiUrl = (): string => {
  const require = createRequire(import.meta.url)
  const manifestPath = require.resolve("tsx/package.json")
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
    readonly exports: Record<string, { readonly import: { readonly default: string } }>
  }
  return new URL(manifest.exports["./esm/api"].import.default, pathToFileURL(manifestPath)).href
}

const moduleHref = (module: URL | string): string => {
  if (module instanceof URL) return module.href
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href
}

const describe = (error: unknown) => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** Whether structured clone can copy a value; the error it raised when not. */
const cloneFailure = (value: unknown): unknown => {
  try {
    structuredClone(value)
    return undefined
  } catch (error) {
    return error
  }
}

/**
 * The threads and the queue in front of them. Plain callbacks, no fiber per message: the pool's
 * per-task overhead is a postMessage each way.
 */
const makePool = (options: WorkerPoolOptions, module: string) =>
  Effect.gen(function*() {
    const grace = Duration.decode(options.interruptGracePeriod ?? "1 second")
    const entry = entryUrl()
    const threads: Array<PoolThread> = []
    const queue: Array<Job> = []
    let queueHead = 0
    let nextId = 0
    let closed = false
    let startupFailure: ((message: string) => void) | undefined
    let readyCount = 0
    let onAllReady: (() => void) | undefined

    const spawn = (): PoolThread => {
      const shared = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (1 + PIPELINE_DEPTH))
      const workerOptions = {
        workerData: { module, shared },
        ...(options.resourceLimits !== undefined ? { resourceLimits: options.resourceLimits } : {})
      }
      const worker = entry.typescript
        // tsx's loader does not reach worker threads on Node 20: register it in the thread first.
        ? new Worker(
          `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(` +
            `${JSON.stringify(entry.url.href)}) })`,
          { ...workerOptions, eval: true }
        )
        : new Worker(entry.url, workerOptions)
      const thread: PoolThread = {
        worker,
        ready: false,
        jobs: [],
        sent: 0,
        posted: 0,
        shared: new Int32Array(shared),
        ending: undefined,
        terminatedFor: undefined
      }
      worker.on("message", (message: ToPool) => onMessage(thread, message))
      worker.on("error", (error) => {
        thread.ending ??= describe(error)
      })
      worker.on("exit", (code) => onExit(thread, code))
      threads.push(thread)
      return thread
    }

    const onMessage = (thread: PoolThread, message: ToPool) => {
      switch (message._tag) {
        case "Ready": {
          thread.ready = true
          readyCount++
          if (readyCount === threads.length) onAllReady?.()
          return dispatch()
        }
        case "LoadFailed": {
          thread.ending = `the module ${module} failed to load: ${message.message}`
          startupFailure?.(message.message)
          void thread.worker.terminate()
          return
        }
        case "Done": {
          const index = thread.jobs.findIndex((job) => job.id === message.id)
          if (index < 0) return
          const job = thread.jobs[index]
          thread.jobs.splice(index, 1)
          if (!job.settled) {
            const average = micros.get(job.def.name)
            micros.set(job.def.name, average === undefined ? message.micros : average * 0.8 + message.micros * 0.2)
          }
          // The thread has room again: refill it before this run's outcome is handled, so it works
          // while the main thread records the outcome.
          if (!closed) dispatch()
          settle(job, decodeExit(job.def, job.message.runId, message.exit))
          return
        }
      }
    }

    const settle = (job: Job, exit: Exit.Exit<unknown, unknown>) => {
      if (job.settled) return
      job.settled = true
      job.resume(exit)
      job.onSettled?.()
    }

    const onExit = (thread: PoolThread, code: number) => {
      threads.splice(threads.indexOf(thread), 1)
      if (thread.ready) readyCount--
      // Runs the thread had started end with it; runs it had not started go back to the queue's head.
      const unstarted: Array<Job> = []
      for (const job of thread.jobs) {
        if (!started(thread, job)) {
          if (closed) {
            settle(job, Exit.die(new RunCrashed("No worker thread could run it: the worker pool was shut down.")))
          }
          job.thread = undefined
          unstarted.push(job)
        } else if (job === thread.terminatedFor) {
          settle(job, Exit.interrupt(FiberId.none))
        } else {
          const why = thread.terminatedFor !== undefined
            ? "it was terminated to stop another run that did not stop when interrupted"
            : thread.ending ?? `exit code ${code}`
          settle(job, Exit.die(new RunCrashed(`The worker thread running it died (${why}).`)))
        }
      }
      thread.jobs.length = 0
      if (unstarted.length > 0 && !closed) {
        queue.splice(queueHead, 0, ...unstarted)
      }
      if (!thread.ready && startupFailure !== undefined) {
        startupFailure(thread.ending ?? `a worker thread exited with code ${code} while starting`)
      }
      if (closed) return
      // Replace the thread so the other runs carry on; a module that no longer loads leaves the
      // pool without threads, and its queued runs crash rather than wait forever.
      if (thread.ending?.startsWith("the module") === true) {
        if (threads.length === 0) failQueued(thread.ending)
        return
      }
      spawn()
    }

    const failQueued = (reason: string) => {
      while (queueHead < queue.length) {
        const job = queue[queueHead++]
        settle(job, Exit.die(new RunCrashed(`No worker thread could run it: ${reason}.`)))
      }
    }

    /** Whether the thread has begun `job` (it counts a run as started before it looks at the cancel mark). */
    const started = (thread: PoolThread, job: Job) => ((Atomics.load(thread.shared, 0) - ((job.seq + 1) | 0)) | 0) >= 0

    /**
     * Cancels a run sent to a thread that has not begun it, if it has not. Marks it, then looks at
     * the thread's count; the thread counts, then looks at the mark. Both sequentially consistent, so
     * either the pool sees the run not begun and the thread will see the mark and skip it, or the pool
     * sees it begun and interrupts it as a started run.
     */
    const cancelUnstarted = (thread: PoolThread, job: Job): boolean => {
      Atomics.store(thread.shared, 1 + job.seq % PIPELINE_DEPTH, (job.seq + 1) | 0)
      return !started(thread, job)
    }

    /** Moving average of each task's run time on the threads, µs. */
    const micros = new Map<string, number>()
    const isFast = (job: Job) => (micros.get(job.def.name) ?? Infinity) < FAST_MICROS

    /**
     * Gives queued runs to threads: one to each idle thread first; then, while every run involved is
     * fast, more to busy threads (up to PIPELINE_DEPTH). A slow or new task never waits behind another run.
     */
    const dispatch = () => {
      for (let depth = 1; depth <= PIPELINE_DEPTH && queueHead < queue.length; depth++) {
        for (const thread of threads) {
          while (queueHead < queue.length && queue[queueHead].settled) queueHead++
          if (queueHead >= queue.length) break
          const held = thread.jobs.length
          if (!thread.ready || thread.ending !== undefined || held >= depth) continue
          const job = queue[queueHead]
          if (held > 0 && !(isFast(job) && thread.jobs.every(isFast))) continue
          queueHead++
          job.thread = thread
          job.seq = thread.sent++
          thread.jobs.push(job)
        }
      }
      // The runs each thread got go in one message: a message wakes an idle thread, which costs the
      // main thread far more than copying the runs. They are the last ones in its list.
      for (const thread of threads) {
        const fresh = thread.sent - thread.posted
        if (fresh === 0) continue
        thread.posted = thread.sent
        const runs = thread.jobs.slice(-fresh).map((job) => job.message)
        thread.worker.postMessage(fresh === 1 ? runs[0] : { _tag: "RunMany", runs } satisfies FromPool)
      }
      if (queueHead > 1024 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead)
        queueHead = 0
      }
    }

    /** Runs one task run on a thread: the body the run's fiber executes. */
    const run = (def: TaskDefinition, runId: string, args: ReadonlyArray<unknown>): Effect.Effect<unknown, unknown> =>
      Effect.async<unknown, unknown>((resume) => {
        const encoded = encodeArguments(def, runId, args)
        if (Either.isLeft(encoded)) return resume(Effect.die(encoded.left))
        // Only objects can fail to clone; checking here fails the run at once, before any thread.
        if (args.some((arg) => typeof arg === "object" || typeof arg === "function" || typeof arg === "symbol")) {
          const failure = cloneFailure(encoded.right)
          if (failure !== undefined) {
            return resume(Effect.die(
              new Errors.SerializationError({
                runId,
                message: `The arguments of task run '${def.name}' (${runId}) cannot be sent to a worker thread: ` +
                  `${describe(failure)}. Pass structured-clone data, or give the task a parameters Schema.`
              })
            ))
          }
        }
        const id = nextId++
        const job: Job = {
          id,
          def,
          message: { _tag: "Run", id, runId, name: def.name, args: encoded.right },
          resume,
          thread: undefined,
          seq: -1,
          settled: false,
          onSettled: undefined
        }
        queue.push(job)
        dispatch()
        return Effect.suspend(() => cancel(job))
      })

    /** Cooperative first; a thread that does not stop within the grace period is replaced. */
    const cancel = (job: Job): Effect.Effect<void> => {
      if (job.settled) return Effect.void
      const thread = job.thread
      if (thread === undefined) {
        job.settled = true // still queued: dispatch skips it
        return Effect.void
      }
      if (cancelUnstarted(thread, job)) {
        // It waited behind another run on the thread, which now skips it (and still answers).
        job.settled = true
        return Effect.void
      }
      thread.worker.postMessage({ _tag: "Interrupt", id: job.id } satisfies FromPool)
      const answered = Effect.async<void>((resume) => {
        job.onSettled = () => resume(Effect.void)
      })
      const terminate = Effect.suspend(() => {
        if (job.settled) return Effect.void
        thread.terminatedFor = job
        thread.ending ??= "terminated after a cancellation grace period"
        return Effect.promise(() => thread.worker.terminate()).pipe(Effect.zipRight(answered))
      })
      // A canceller runs uninterruptibly: the racers must be interruptible, or the loser is awaited.
      return Effect.raceFirst(
        Effect.interruptible(answered),
        Effect.interruptible(Effect.zipRight(Effect.sleep(grace), terminate))
      )
    }

    const start = Effect.async<void, Errors.WorkerPoolError>((resume) => {
      startupFailure = (message) =>
        resume(Effect.fail(
          new Errors.WorkerPoolError({ module, message: `The worker pool could not start: ${message}` })
        ))
      onAllReady = () => resume(Effect.void)
      for (let i = 0; i < options.size; i++) spawn()
    })

    const shutdown = Effect.suspend(() => {
      closed = true
      failQueued("the worker pool was shut down")
      return Effect.promise(() => Promise.all(threads.map((thread) => thread.worker.terminate())))
    })

    yield* Effect.addFinalizer(() => shutdown)
    const startupTimeout = Duration.decode(options.startupTimeout ?? "30 seconds")
    yield* start.pipe(
      Effect.timeoutFail({
        duration: startupTimeout,
        onTimeout: () =>
          new Errors.WorkerPoolError({
            module,
            message: `The worker pool could not start: no worker thread was ready within ${
              Duration.format(startupTimeout)
            }.`
          })
      }),
      Effect.ensuring(Effect.sync(() => {
        startupFailure = undefined
        onAllReady = undefined
      }))
    )
    return { run }
  })

const validate = (options: WorkerPoolOptions) => {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new Cause.IllegalArgumentException(`'size' must be a positive integer, got ${String(options.size)}`)
  }
}

/** @internal */
export const workerPool = (options: WorkerPoolOptions): Layer.Layer<TaskRunner, Errors.WorkerPoolError> =>
  Layer.scoped(
    TaskRunner,
    Effect.suspend((): Effect.Effect<TaskRunnerService, Errors.WorkerPoolError, Scope.Scope> => {
      validate(options)
      return Effect.flatMap(makePool(options, moduleHref(options.module)), (pool) =>
        makeRunner({
          kind: "workerPool",
          maxConcurrency: undefined,
          execution: pool.run
        }))
    })
  )
