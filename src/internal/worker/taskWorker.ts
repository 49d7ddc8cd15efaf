import { Cause, Clock, Duration, Effect, Either, Exit, Fiber, FiberRef, Option, Queue, Runtime, Schedule } from "effect"
import * as os from "node:os"
import type * as RunStore_ from "../../RunStore.js"
import type * as TaskWorker from "../../TaskWorker.js"
import type { TaskDefinition } from "../core/definition.js"
import { decodeTimeout } from "../core/duration.js"
import * as state_ from "../core/state.js"
import { cancel, currentFlowRunId, executeTaskRun, record } from "../engine/engine.js"
import type { FlowDefinition } from "../flow/flow.js"
import { executeFlowRun, flowDefinition, isFlow } from "../flow/flow.js"
import { RunCell } from "../run/runCell.js"
import type { MaybeSyncWrites } from "../store/runStore.js"
import { RunStore, SyncWritesKey } from "../store/runStore.js"
import { isTask, taskDefinition } from "../task/task.js"

const millisOf = (input: Duration.DurationInput | undefined, fallback: number): number => {
  const decoded = decodeTimeout(input)
  return decoded === undefined ? fallback : Duration.toMillis(decoded)
}

/** Milliseconds of a monotonic clock: only differences of it are used. */
const monotonicMillis = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1_000_000n))

/** @internal */
export const defaultWorkerId = (): string => `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`

/** @internal */
export const serve = (
  tasks: ReadonlyArray<TaskWorker.Servable>,
  options: TaskWorker.ServeOptions = {}
): Effect.Effect<never, never, RunStore> =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* RunStore
    const concurrency = options.concurrency ?? 10
    const lease = millisOf(options.lease, 30_000)
    const heartbeatEvery = millisOf(options.heartbeatInterval, Math.min(1_000, lease / 3))
    const maxPoll = millisOf(options.pollInterval, 1_000)
    const grace = millisOf(options.shutdownGracePeriod, 10_000)
    const workerId = options.workerId ?? defaultWorkerId()
    const definitions = new Map<string, TaskDefinition | FlowDefinition>()
    for (const task of tasks) {
      if (!isFlow(task) && !isTask(task)) {
        throw new Cause.IllegalArgumentException(
          `TaskWorker.serve takes tasks and flows made with Task.make or Flow.make, got ${String(task)}`
        )
      }
      const def = isFlow(task) ? flowDefinition(task) : taskDefinition(task)
      definitions.set(def.name, def)
    }
    const names = Array.from(definitions.keys())

    /** The fibers of the runs this worker holds, by run id. */
    const running = new Map<string, Fiber.RuntimeFiber<unknown, unknown>>()
    /**
     * Held runs whose body is over and whose final state is being written: their slots count as free,
     * so the next claim can ride in the same write as those final states.
     */
    const finishing = new Set<string>()
    /** Runs given back (lease lost, or released at shutdown): their late writes are dropped. */
    const released = new Set<string>()
    /**
     * When each held run's lease was last known renewed: when the claim or the heartbeat that renewed
     * it was sent (monotonic ms). The store's lease runs from a moment after that, so a run whose lease
     * this worker could not renew for `lease` ms may be another worker's by now.
     */
    const renewedAt = new Map<string, number>()
    /** How long a run may go unrenewed before this worker stops it: a heartbeat's time before its lease ends. */
    const stopUnrenewedAfter = lease - Math.min(heartbeatEvery, lease / 2)
    /** Runs stopped because their lease could not be renewed: given back once the store answers again. */
    const stoppedUnrenewed = new Set<string>()
    // The runs' fibers are started from this runtime (the serving fiber's services and settings),
    // each on its own, tracked in `running`: whatever is left when the worker stops is interrupted.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    yield* Effect.addFinalizer(() => Fiber.interruptAll(Array.from(running.values())))
    const wake = yield* Queue.sliding<void>(1)
    const signal = () => {
      Queue.unsafeOffer(wake, undefined)
    }
    /**
     * Whether a claim may find runs the last one did not: that one came back full, or runs became
     * Scheduled since it was sent (a push, a recovery, the polling fallback). A slot that frees does
     * not make it so: after a short claim, claiming again as each run ends finds nothing (in a
     * `delay` → `result` round trip, one statement in five was that claim).
     */
    let mayHaveMore = true
    /** Runs may be claimable: of `name` (a push for a name this worker does not serve wakes nothing), or of any name. */
    const scheduled = (name?: string) => {
      if (name !== undefined && !definitions.has(name)) return
      mayHaveMore = true
      signal()
    }
    const unsubscribe = store.unsafeSubscribeScheduled(scheduled)
    yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))

    /** The task name of each run this worker holds, from its claim until its fiber ends. */
    const heldNames = new Map<string, string>()
    /**
     * The store as the held runs see it: a held run's own writes carry the worker's id, so a lost
     * lease refuses them. One object for all runs (a run's flow may write other runs: those go as they are).
     */
    const heldStore: RunStore_.Service & MaybeSyncWrites = {
      ...store,
      // The memory store's synchronous writes would go around the guard.
      [SyncWritesKey]: undefined,
      setState: (id, state, setOptions) => {
        const name = heldNames.get(id)
        if (name === undefined) return store.setState(id, state, setOptions)
        if (released.has(id)) return Effect.void
        if (state_.isFinal(state) && !finishing.has(id)) {
          finishing.add(id)
          signal()
        }
        return store.setState(id, state, { ...setOptions, workerId, name })
      }
    }

    /** The flow run id the serving fiber has (none, unless served inside a flow): runs of other flows set theirs. */
    const servingFlowRunId = yield* FiberRef.get(currentFlowRunId)

    /** A claimed run's body; `cell` is its state here. */
    const execute = (run: RunStore_.ClaimedRun, cell: RunCell<unknown, unknown>): Effect.Effect<unknown> => {
      const def = definitions.get(run.name)!
      if (Either.isLeft(run.parameters)) {
        const error = run.parameters.left
        return record(
          heldStore,
          cell,
          (timestamp) => state_.failed(Cause.die(error), { timestamp, message: error.message })
        )
      }
      const args = run.parameters.right
      // The claim recorded this attempt's Running (and took its run count).
      const claimed = run.runCount
      if (def.kind === "flow") {
        const flowRun = executeFlowRun(def as FlowDefinition, run.id, heldStore, args, run.state, claimed)
        return Effect.exit(flowRun) as Effect.Effect<unknown>
      }
      // The run has its fiber to itself: its task run id is set on it once.
      const body = executeTaskRun({ def, cell, store: heldStore, args, waitFor: [], ownFiber: true, claimed })
      // A task that requires services a worker cannot provide fails its run; it cannot reach here typed.
      return (run.flowRunId === servingFlowRunId
        ? body
        : Effect.locally(body, currentFlowRunId, run.flowRunId)) as Effect.Effect<unknown>
    }

    /** A held run's fiber is over: its slot is free. */
    const ended = (runId: string) => {
      running.delete(runId)
      renewedAt.delete(runId)
      heldNames.delete(runId)
      finishing.delete(runId)
      released.delete(runId)
      signal()
    }

    /**
     * Starts a claimed run on a fiber of its own, at once: it runs until it first waits (a no-op task,
     * until its final state is queued). Synchronous, so nothing interrupts a start halfway.
     */
    const start = (run: RunStore_.ClaimedRun, claimSentAt: number) => {
      heldNames.set(run.id, run.name)
      renewedAt.set(run.id, claimSentAt)
      const cell = new RunCell<unknown, unknown>(run.id, run.name, run.state)
      const fiber = runFork(execute(run, cell))
      running.set(run.id, fiber)
      fiber.addObserver((exit) => {
        // An interrupted task run (a cancel, a lost lease, shutdown) is recorded Cancelled once its
        // fiber is over, while the worker still counts it as held (a released run's write is dropped).
        // Here rather than as a finalizer in every run's fiber: interruptions are rare. (A flow run
        // records its own.)
        if (
          Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) && !state_.isFinal(cell.state) &&
          definitions.get(run.name)!.kind === "task"
        ) {
          runFork(Effect.ensuring(cancel(heldStore, cell), Effect.sync(() => ended(run.id))))
        } else {
          ended(run.id)
        }
      })
    }

    /**
     * Whether this worker knows of a run the store says it holds: one it runs, or one it stopped and
     * has yet to give back. Any other is a claim whose answer was lost (see `claimRuns`).
     */
    const knows = (runId: string) => running.has(runId) || stoppedUnrenewed.has(runId)

    /** Interrupts a held run's fiber in the background (its observer then records and frees it). */
    const interrupt = (runId: string) => {
      const fiber = running.get(runId)
      fiber?.unsafeInterruptAsFork(fiber.id())
    }

    // A cancel is stopped at once where the store pushes it; heartbeats catch those it cannot push.
    const unsubscribeCancelling = store.unsafeSubscribeCancelling(interrupt)
    yield* Effect.addFinalizer(() => Effect.sync(unsubscribeCancelling))

    // Heartbeats: keep the leases, learn about cancels and lost runs, recover runs of dead workers.
    yield* Effect.gen(function*() {
      const sentAt = yield* monotonicMillis
      const held = Array.from(running.keys())
      const beat = yield* store.heartbeat(workerId, held, lease)
      const lost = new Set(beat.lost)
      for (const runId of held) {
        if (!lost.has(runId) && renewedAt.has(runId)) renewedAt.set(runId, sentAt)
      }
      beat.cancelling.forEach(interrupt)
      for (const runId of beat.lost) {
        released.add(runId)
        interrupt(runId)
      }
      if (stoppedUnrenewed.size > 0) {
        // The store answers again: what this worker stopped and still holds goes to another worker
        // (or back to this one), rather than waiting for its lease to end and be recovered as Crashed.
        // After the beat's cancels and lost runs, and on its own: a failed give-back (tried again at
        // the next beat) must not hold them, or the recovery below, back.
        const stopped = Array.from(stoppedUnrenewed)
        yield* store.releaseRuns(
          workerId,
          stopped,
          `Released by task worker ${workerId}, which could not renew its lease in time and stopped the run.`
        ).pipe(
          Effect.tap(() => stopped.forEach((runId) => stoppedUnrenewed.delete(runId))),
          Effect.catchAll((error) =>
            Effect.logWarning(`Task worker ${workerId}: giving back the runs it stopped failed, trying again`, error)
          )
        )
      }
      const recovered = yield* store.recoverExpired()
      if (recovered.length > 0) {
        yield* Effect.logWarning(
          `Task worker ${workerId} recovered ${recovered.length} run(s) of stopped workers: ${recovered.join(", ")}`
        )
        scheduled()
      }
    }).pipe(
      Effect.catchAll((error) => Effect.logWarning(`Task worker ${workerId}: heartbeat failed`, error)),
      Effect.repeat(Schedule.spaced(Duration.millis(heartbeatEvery))),
      Effect.forkScoped
    )

    // The heartbeats' deadline: when the store stays out of reach of this worker (and only of this
    // worker, perhaps), its leases end and another worker recovers the runs and runs them again. This
    // worker stops them first, a heartbeat's time before their leases can have ended, and drops their
    // late writes: a run never runs twice at once. (The heartbeat itself may be waiting on the store.)
    yield* Effect.gen(function*() {
      const now = yield* monotonicMillis
      const unrenewed: Array<string> = []
      for (const [runId, at] of renewedAt) {
        if (now - at >= stopUnrenewedAfter && !released.has(runId)) unrenewed.push(runId)
      }
      if (unrenewed.length === 0) return
      yield* Effect.logWarning(
        `Task worker ${workerId} could not renew its lease of ${unrenewed.length} run(s) for ${stopUnrenewedAfter} ms: ` +
          `stopping them, as another worker may take them once their lease ends: ${unrenewed.join(", ")}`
      )
      for (const runId of unrenewed) {
        released.add(runId)
        stoppedUnrenewed.add(runId)
        interrupt(runId)
      }
    }).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(heartbeatEvery))),
      Effect.forkScoped
    )

    // On shutdown (SIGTERM, interruption): finish what is running within the grace period, then
    // give back what is left, Scheduled again for another worker. Nothing held is lost.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (running.size === 0) return
        yield* Effect.logInfo(`Task worker ${workerId} stopping: waiting for ${running.size} run(s)`)
        // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
        yield* Effect.interruptible(Fiber.awaitAll(Array.from(running.values()))).pipe(
          Effect.timeoutOption(Duration.millis(grace))
        )
        const left = Array.from(running.keys())
        if (left.length === 0) return
        for (const runId of left) released.add(runId)
        yield* Fiber.interruptAll(Array.from(running.values()))
        yield* store.releaseRuns(workerId, left).pipe(
          Effect.catchAll((error) => Effect.logError(`Task worker ${workerId} could not release its runs`, error))
        )
      })
    )

    yield* Effect.logInfo(`Task worker ${workerId} serving ${names.join(", ")} (concurrency ${concurrency})`)
    let idle = 10
    while (true) {
      // A slot frees when its run's final state is queued: the claim for it then rides in the same
      // write as that state (the store's writer lets this fiber queue it first).
      const free = concurrency - running.size + finishing.size
      if (free > 0 && mayHaveMore) {
        // Cleared before the claim is sent: a push that arrives while it is on its way sets it again.
        mayHaveMore = false
        const claimSentAt = yield* monotonicMillis
        const claimed = yield* store.claimRuns({ workerId, names, limit: free, lease, knows }).pipe(
          Effect.catchAll((error) => {
            mayHaveMore = true
            return Effect.as(
              Effect.logWarning(`Task worker ${workerId}: claiming runs failed, trying again`, error),
              []
            )
          })
        )
        if (claimed.length > 0) {
          yield* Effect.sync(() => claimed.forEach((run) => start(run, claimSentAt)))
          idle = 10
          if (claimed.length === free) {
            mayHaveMore = true
            continue
          }
        }
      }
      if (concurrency - running.size + finishing.size <= 0) {
        // No room: only a signal frees a slot. A plain take resumes this fiber in one step, before
        // the store's writer takes the finished runs' states, so the next claim rides with them.
        yield* Queue.take(wake)
        continue
      }
      // Nothing to claim: wait for a push, a finished run, or the polling fallback.
      const woken = yield* Queue.take(wake).pipe(Effect.timeoutOption(Duration.millis(idle)))
      if (Option.isNone(woken)) mayHaveMore = true
      idle = Math.min(maxPoll, idle * 2)
    }
  })) as Effect.Effect<never, never, RunStore>
