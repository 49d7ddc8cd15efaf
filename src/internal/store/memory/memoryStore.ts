import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as RunStore_ from "../../../RunStore.js"
import { makeRunId } from "../../core/runId.js"
import type { AnyState } from "../../core/state.js"
import { cancelled, cancelling, isFinal, pending, running, scheduled } from "../../core/state.js"
import {
  countCrashesRecovered,
  givenBackRunCount,
  isCount,
  notFound,
  pruningOf,
  recoveredState,
  refusedTraceContext,
  releasedState,
  subscribeTo,
  unclaimedAfterMillis,
  unclaimedWait,
  withUnclaimedFor
} from "../rules.js"
import { followLogs, installRunLogs, logRange, RunLogsKey } from "../runLogs.js"
import type { RunLogSink } from "../runLogs.js"
import type { SyncWrites } from "../runStore.js"
import { DEFAULT_UNCLAIMED_AFTER, RunStore, SyncWritesKey, UnclaimedAfterKey } from "../runStore.js"
import { exactRun } from "./exact.js"
import * as finding from "./finding.js"
import { MemoryLogs } from "./memoryLogs.js"
import type { MemoryRun } from "./memoryRun.js"
import { RunIndex } from "./runIndex.js"

/** How many finished runs a runner's own memory store keeps (see TaskRunner's `store`). @internal */
export const RUNNER_KEEPS_FINISHED = 10_000

const validateKeepFinished = (keepFinished: number) => {
  if (keepFinished !== Number.POSITIVE_INFINITY && !isCount(keepFinished)) {
    throw new Cause.IllegalArgumentException(
      `RunStore memory: keepFinished must be a whole number of 0 or more, or Infinity, got ${keepFinished}`
    )
  }
}

const now = Clock.currentTimeMillis

/**
 * A memory store. `exact` (a store the user chose): it keeps values as a SQL store would, copied
 * through the same codec, and refuses what a SQL store refuses. A runner's or flow's own store,
 * which no other process reads, keeps them as given (`exact: false`).
 * @internal
 */
export const makeMemory = (
  options?: RunStore_.MemoryOptions,
  exact = true
): RunStore_.Service & {
  readonly [SyncWritesKey]: SyncWrites
  readonly [UnclaimedAfterKey]: number
  readonly [RunLogsKey]: RunLogSink
} => {
  const keepFinished = options?.keepFinished ?? Number.POSITIVE_INFINITY
  validateKeepFinished(keepFinished)
  const unclaimedAfter = unclaimedAfterMillis(options?.unclaimedAfter, DEFAULT_UNCLAIMED_AFTER)
  const runs = new RunIndex(keepFinished, exact)
  const workers = new WorkerPresence()
  const logs = new MemoryLogs(runs)
  /** The run's record as read at `millis`, with `unclaimedFor` where it applies. */
  const recordAt = (run: MemoryRun, millis: number): RunStore_.RunRecord => {
    const record = run.toRecord()
    const waited = unclaimedWait(record, millis, unclaimedAfter)
    return waited === undefined || workers.serves(record.name, millis) ? record : withUnclaimedFor(record, waited)
  }
  /** The runs as stored, or the first refusal: a batch is refused whole, as a SQL store's. */
  const checked = (newRuns: ReadonlyArray<RunStore_.NewRun>) => {
    const refused = refusedTraceContext(newRuns)
    if (refused !== undefined) return Either.left(refused)
    return exact ? Either.all(newRuns.map(exactRun)) : Either.right(newRuns)
  }
  const found = <A>(runId: string, read: (run: MemoryRun) => A) =>
    Effect.suspend(() => {
      const run = runs.find(runId)
      return run === undefined ? Effect.fail(notFound(runId)) : Effect.succeed(read(run))
    })
  const service: ReturnType<typeof makeMemory> = {
    kind: "memory",
    [UnclaimedAfterKey]: unclaimedAfter,
    [SyncWritesKey]: {
      unsafeCreateRun: (run) => runs.create(run),
      unsafeSetState: (runId, state, runCount) => runs.setState(runId, state, runCount),
      unsafeSetStateOf: (handle, state, runCount) => runs.setStateOf(handle, state, runCount)
    },
    createRun: (run) =>
      Effect.suspend(() =>
        Either.match(checked([run]), {
          onLeft: Effect.fail,
          onRight: ([stored]) => Effect.sync(() => runs.create(stored))
        })
      ),
    createRuns: (newRuns) =>
      Effect.suspend(() =>
        Either.match(checked(newRuns), {
          onLeft: Effect.fail,
          onRight: (stored) => Effect.sync(() => stored.forEach((run) => runs.create(run)))
        })
      ),
    setState: (runId, state, options) =>
      Effect.suspend(() => {
        const refused = runs.setState(runId, state, options?.runCount, options?.workerId, options?.attempt)
        return refused === undefined ? Effect.void : Effect.fail(refused)
      }),
    getRun: (runId) => Effect.flatMap(now, (millis) => found(runId, (run) => recordAt(run, millis))),
    getHistory: (runId) => found(runId, (run) => run.history()),
    listRuns: (filter) =>
      Effect.map(now, (millis) => finding.listPage(runs, filter, (run) => recordAt(run, millis)).runs),
    listRunsPage: (filter) =>
      Effect.map(now, (millis) => finding.listPage(runs, filter, (run) => recordAt(run, millis))),
    countRuns: (filter, options) => Effect.sync(() => finding.countRuns(runs, filter, options)),
    prune: (options) =>
      Effect.map(now, (millis) => finding.prune(runs, pruningOf(options, millis), (runId) => logs.drop(runId))),
    countPrunable: (options) => Effect.map(now, (millis) => finding.countPrunable(runs, pruningOf(options, millis))),
    rerun: (runId) =>
      Effect.flatMap(now, (millis) =>
        found(runId, (old) => {
          const run = old.run!
          const handle = runs.create({
            id: makeRunId(),
            kind: run.kind,
            name: run.name,
            parameters: run.parameters ?? [],
            tags: run.tags ?? [],
            retries: run.retries ?? 0,
            state: scheduled({ timestamp: new Date(millis) })
          }) as unknown as MemoryRun
          handle.rerunOf = run.id
          return recordAt(handle, millis)
        })),
    cancelRun: (runId) => Effect.flatMap(now, (millis) => cancelRun(runs, runId, millis)),
    claimRuns: (options) => Effect.map(now, (millis) => claimRuns(runs, options, millis)),
    heartbeat: (workerId, runIds, lease, served) =>
      Effect.map(now, (millis) => {
        if (served !== undefined) workers.seen(workerId, served, millis + lease)
        return heartbeat(runs, workerId, runIds, lease, millis)
      }),
    releaseRuns: (workerId, runIds, message) =>
      Effect.map(now, (millis) => {
        for (const runId of runIds) {
          const run = runs.find(runId)
          if (run === undefined || run.workerId !== workerId || isFinal(run.state)) continue
          const runCount = givenBackRunCount(run.state, run.runCount)
          runs.move(run, releasedState(run.state, workerId, new Date(millis), message), runCount, true)
        }
      }),
    recoverExpired: () =>
      Effect.flatMap(now, (millis) => {
        const { crashed, recovered } = recoverExpired(runs, millis)
        return Effect.as(countCrashesRecovered(crashed), recovered)
      }),
    unsafeSubscribeScheduled: subscribeTo(runs.scheduledListeners),
    unsafeSubscribeCancelling: subscribeTo(runs.cancellingListeners),
    unsafeSubscribe: (runId, onChange) => subscribe(runs, runId, onChange),
    [RunLogsKey]: logs,
    getLogs: (runId, options) =>
      Effect.suspend(() => {
        const { after, limit } = logRange(options)
        return runs.find(runId) === undefined
          ? Effect.fail(notFound(runId))
          : Effect.succeed(logs.read(runId, after, limit))
      }),
    followLogs: (runId, options) => followLogs(followable, runId, options)
  }
  const followable = {
    getLogs: service.getLogs,
    unsafeSubscribe: service.unsafeSubscribe,
    unsafeSubscribeLogs: (runId: string, onLines: () => void) => logs.subscribe(runId, onLines)
  }
  return service
}

/**
 * The live task workers by the names they serve: each is live until its heartbeat's lease would
 * have ended (see `RunRecord.unclaimedFor`).
 */
class WorkerPresence {
  private readonly byName = new Map<string, Map<string, number>>()
  seen(workerId: string, names: ReadonlyArray<string>, liveUntil: number): void {
    for (const name of names) {
      let workers = this.byName.get(name)
      if (workers === undefined) this.byName.set(name, workers = new Map())
      workers.set(workerId, liveUntil)
    }
  }
  serves(name: string, millis: number): boolean {
    const workers = this.byName.get(name)
    if (workers === undefined) return false
    for (const [workerId, liveUntil] of workers) {
      if (liveUntil > millis) return true
      workers.delete(workerId)
    }
    return false
  }
}

const cancelRun = (runs: RunIndex, runId: string, millis: number) => {
  const run = runs.find(runId)
  if (run === undefined) return Effect.fail(notFound(runId))
  if (isFinal(run.state) || run.state.type === "CANCELLING") return Effect.succeed(run.state)
  const timestamp = new Date(millis)
  const next = run.workerId === undefined
    ? cancelled({ timestamp, message: "Cancelled before a task worker started it." })
    : cancelling({ timestamp })
  runs.move(run, next, undefined)
  return Effect.succeed(next)
}

const claimRuns = (
  runs: RunIndex,
  { lease, limit, names, workerId }: Parameters<RunStore_.Service["claimRuns"]>[0],
  millis: number
): ReadonlyArray<RunStore_.ClaimedRun> => {
  const wanted = new Set(names)
  const claimed: Array<RunStore_.ClaimedRun> = []
  const skipped: Array<string> = []
  const queue = runs.scheduledQueue
  let i = 0
  for (; i < queue.length && claimed.length < limit; i++) {
    const run = runs.find(queue[i])
    if (run === undefined || run.state.type !== "SCHEDULED" || run.workerId !== undefined) continue
    if (!wanted.has(run.run!.name)) {
      skipped.push(queue[i])
      continue
    }
    const timestamp = new Date(millis)
    const scheduledAt = run.state.timestamp
    runs.move(run, pending({ timestamp }), undefined)
    runs.move(run, running({ timestamp, name: run.runCount === 0 ? "Running" : "Retrying" }), run.runCount + 1)
    run.workerId = workerId
    run.leaseExpiresAt = millis + lease
    claimed.push(run.toClaimed(scheduledAt))
  }
  runs.scheduledQueue = skipped.concat(queue.slice(i))
  return claimed
}

const heartbeat = (
  runs: RunIndex,
  workerId: string,
  runIds: ReadonlyArray<string>,
  lease: number,
  millis: number
): RunStore_.Heartbeat => {
  const cancelling: Array<string> = []
  const lost: Array<string> = []
  for (const runId of runIds) {
    const run = runs.find(runId)
    if (run === undefined || run.workerId !== workerId) {
      // A run that just finished is not held any more, but it is not lost either.
      if (run === undefined || !isFinal(run.state)) lost.push(runId)
      continue
    }
    run.leaseExpiresAt = millis + lease
    if (run.state.type === "CANCELLING") cancelling.push(runId)
  }
  return { cancelling, lost }
}

const recoverExpired = (
  runs: RunIndex,
  millis: number
): { readonly recovered: ReadonlyArray<string>; readonly crashed: ReadonlyArray<RunStore_.RunKind> } => {
  const recovered: Array<string> = []
  const crashed: Array<RunStore_.RunKind> = []
  for (const run of runs.all().values()) {
    if (run.workerId === undefined || run.leaseExpiresAt === undefined || run.leaseExpiresAt > millis) continue
    if (isFinal(run.state)) continue
    const workerId = run.workerId
    const state = recoveredState(run.state, run.runCount, run.run!.retries ?? 0, workerId, new Date(millis))
    runs.move(run, state, undefined, true)
    recovered.push(run.run!.id)
    if (state.type === "CRASHED") crashed.push(run.run!.kind)
  }
  return { recovered, crashed }
}

const subscribe = (runs: RunIndex, runId: string, onChange: (state: AnyState) => void): () => void => {
  const { listeners, run } = runs.listenersOf(runId)
  listeners.add(onChange)
  if (run.run !== undefined) {
    // The current state is delivered too (after this returns, so the caller holds its unsubscribe).
    queueMicrotask(() => {
      if (listeners.has(onChange)) onChange(run.state)
    })
  }
  return () => {
    listeners.delete(onChange)
  }
}

/** @internal */
export const memoryLayerWith = (options: RunStore_.MemoryOptions): Layer.Layer<RunStore> =>
  // The layer also records what runs log into the store (see runLogs.ts).
  Layer.scoped(
    RunStore,
    Effect.suspend(() => {
      const store = makeMemory(options)
      return Effect.as(installRunLogs(store), store)
    })
  )

/** @internal */
export const memoryLayer: Layer.Layer<RunStore> = memoryLayerWith({})
