/**
 * The worker pool's queue, and which queued run goes to which thread (pipelining).
 * @internal
 */
import type { Job, PoolThread } from "./poolThread.js"
import { give, PIPELINE_DEPTH, postGiven } from "./poolThread.js"

/** A task whose runs take less than this (a moving average measured on the threads, µs) is fast. */
const FAST_MICROS = 250

/**
 * The runs no thread holds yet, oldest first from `head`. A cancelled one stays, settled, until
 * dispatch passes it. An array, not Effect's `MutableList` (see docs/design.md).
 * @internal
 */
export interface RunQueue {
  readonly jobs: Array<Job>
  head: number
}

/** @internal */
export const makeRunQueue = (): RunQueue => ({ jobs: [], head: 0 })

/** @internal */
export const enqueue = (queue: RunQueue, job: Job): void => {
  queue.jobs.push(job)
}

/** Puts runs a dead thread had not begun back at the queue's head, in their order. @internal */
export const requeueFirst = (queue: RunQueue, jobs: ReadonlyArray<Job>): void => {
  if (jobs.length > 0) queue.jobs.splice(queue.head, 0, ...jobs)
}

/** The oldest queued run not settled yet, passing settled ones on the way. */
const nextQueued = (queue: RunQueue): Job | undefined => {
  while (queue.head < queue.jobs.length && queue.jobs[queue.head].settled) queue.head++
  return queue.head < queue.jobs.length ? queue.jobs[queue.head] : undefined
}

/** Drops the runs dispatch has passed, once they are most of the array. */
const compact = (queue: RunQueue): void => {
  if (queue.head > 1024 && queue.head * 2 > queue.jobs.length) {
    queue.jobs.splice(0, queue.head)
    queue.head = 0
  }
}

/** Takes every queued run out of the queue, for `f`. @internal */
export const drain = (queue: RunQueue, f: (job: Job) => void): void => {
  while (queue.head < queue.jobs.length) f(queue.jobs[queue.head++])
}

/** Moving average of each task's run time on the threads, µs. @internal */
export type TaskSpeeds = Map<string, number>

/** @internal */
export const recordSpeed = (speeds: TaskSpeeds, name: string, micros: number): void => {
  const average = speeds.get(name)
  speeds.set(name, average === undefined ? micros : average * 0.8 + micros * 0.2)
}

const isFast = (speeds: TaskSpeeds, job: Job) => (speeds.get(job.def.name) ?? Infinity) < FAST_MICROS

/** Whether `thread` may take `job` as its `depth`-th run: a second run only when every run involved is fast. */
const canTake = (speeds: TaskSpeeds, thread: PoolThread, job: Job, depth: number): boolean => {
  const held = thread.jobs.length
  if (!thread.ready || thread.ending !== undefined || held >= depth) return false
  return held === 0 || (isFast(speeds, job) && thread.jobs.every((other) => isFast(speeds, other)))
}

/**
 * Gives queued runs to threads, then posts them: one to each idle thread first; then, while every
 * run involved is fast, more to busy threads (up to PIPELINE_DEPTH). A slow or new task never waits
 * behind another run.
 * @internal
 */
export const dispatch = (queue: RunQueue, threads: ReadonlyArray<PoolThread>, speeds: TaskSpeeds): void => {
  assignQueued(queue, threads, speeds)
  for (const thread of threads) postGiven(thread)
  compact(queue)
}

/** Round by round, each thread may take one more run, until the queue is empty or every thread is full. */
const assignQueued = (queue: RunQueue, threads: ReadonlyArray<PoolThread>, speeds: TaskSpeeds): void => {
  for (let depth = 1; depth <= PIPELINE_DEPTH; depth++) {
    for (const thread of threads) {
      const job = nextQueued(queue)
      if (job === undefined) return
      if (!canTake(speeds, thread, job, depth)) continue
      queue.head++
      give(thread, job)
    }
  }
}
