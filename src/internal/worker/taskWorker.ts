import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as os from "node:os"
import type * as RunStore_ from "../../RunStore.js"
import type * as TaskWorker from "../../TaskWorker.js"
import { currentFlowRunId } from "../core/currentRun.js"
import { decodeDuration } from "../core/duration.js"
import { PROCESS_HOLDER_PREFIX, RunStore } from "../store/runStore.js"
import { claimLoop, makeClaimSignal } from "./claims.js"
import { forkHeartbeats, forkLeaseDeadline } from "./heartbeats.js"
import { HeldRuns } from "./heldRuns.js"
import { forkScheduledGauge } from "./scheduledGauge.js"
import { runStarter, servedDefinitions } from "./startRun.js"

const millisOf = (option: string, input: Duration.DurationInput | undefined, fallback: number): number => {
  const decoded = decodeDuration(option, input)
  return decoded === undefined ? fallback : Duration.toMillis(decoded)
}

/** A worker that could run nothing would serve forever in silence: its concurrency must be a positive integer. */
const concurrencyOf = (concurrency: number | undefined): number => {
  if (concurrency === undefined) return 10
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Cause.IllegalArgumentException(
      `TaskWorker.serve: 'concurrency' must be a positive integer, got ${String(concurrency)}`
    )
  }
  return concurrency
}

/**
 * A worker's id must not look like a process's holder (`process:…`): a run whose holder stopped
 * responding would be recovered as a process's run (Crashed), not retried as a worker's.
 */
const workerIdOf = (workerId: string | undefined): string => {
  if (workerId === undefined) return defaultWorkerId()
  if (workerId.startsWith(PROCESS_HOLDER_PREFIX)) {
    throw new Cause.IllegalArgumentException(
      `TaskWorker.serve: 'workerId' must not start with "${PROCESS_HOLDER_PREFIX}" (the store's name for the ` +
        `holder of a process's own runs), got ${JSON.stringify(workerId)}`
    )
  }
  return workerId
}

/** @internal */
export const defaultWorkerId = (): string => `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`

/** The serve options with their defaults, durations in milliseconds. */
const settingsOf = (options: TaskWorker.ServeOptions) => {
  const lease = millisOf("lease", options.lease, 30_000)
  return {
    concurrency: concurrencyOf(options.concurrency),
    lease,
    heartbeatEvery: millisOf("heartbeatInterval", options.heartbeatInterval, Math.min(1_000, lease / 3)),
    maxPoll: millisOf("pollInterval", options.pollInterval, 1_000),
    grace: millisOf("shutdownGracePeriod", options.shutdownGracePeriod, 10_000),
    workerId: workerIdOf(options.workerId)
  }
}

/** What the worker's own listening for SIGINT and SIGTERM tells its shutdown. */
interface Signals {
  /** Done with the signal that asked for the held runs to be given back at once. */
  readonly giveBackNow: Deferred.Deferred<NodeJS.Signals>
  /** Set once the worker stops (its shutdown began): a signal heard from then on gives back at once. */
  stopping: boolean
}

/**
 * A worker listens for SIGINT and SIGTERM itself from before its first claim until it has stopped
 * (`NodeRuntime.runMain` stops listening after the first, so a second one would end the process at
 * once, its runs left Running until their leases end), whatever its shutdown is waiting for: its
 * runs, or a claim trying a store out of reach again. The first signal, while it serves, is left to
 * whoever else listens for it (`runMain` interrupts the worker); with nobody else, it ends the
 * process as it would have without this listener. The next one, or the first once the worker is
 * stopping, gives the held runs back at once; one more ends the process as the signal would.
 */
const listenForSignals = (workerId: string, log: (message: string) => void) =>
  Effect.gen(function*() {
    const signals: Signals = { giveBackNow: yield* Deferred.make<NodeJS.Signals>(), stopping: false }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const othersListen = {
          SIGINT: process.listenerCount("SIGINT") > 0,
          SIGTERM: process.listenerCount("SIGTERM") > 0
        }
        let heard = false
        let givingBackNow = false
        const onSignal = (signal: NodeJS.Signals) => {
          if (!signals.stopping && !heard) {
            heard = true
            if (!othersListen[signal === "SIGINT" ? "SIGINT" : "SIGTERM"]) return endAsTheSignalWould(signal)
            return log(
              `Task worker ${workerId} heard ${signal}: stopping (another SIGINT or SIGTERM gives its runs back at once)`
            )
          }
          if (givingBackNow) return endAsTheSignalWould(signal)
          givingBackNow = true
          Deferred.unsafeDone(signals.giveBackNow, Exit.succeed(signal))
        }
        const stopListening = () => {
          process.removeListener("SIGINT", onSignal)
          process.removeListener("SIGTERM", onSignal)
        }
        const endAsTheSignalWould = (signal: NodeJS.Signals) => {
          stopListening()
          process.kill(process.pid, signal)
        }
        process.on("SIGINT", onSignal)
        process.on("SIGTERM", onSignal)
        return stopListening
      }),
      (stopListening) => Effect.sync(stopListening)
    )
    return signals
  })

/**
 * On shutdown (SIGTERM, interruption): finish what is running within the grace period, then give
 * back what is left, Scheduled again for another worker; a second SIGINT or SIGTERM gives it back
 * at once. A give-back is not an attempt: the run is not named Retrying nor counted against its
 * retries when it runs again. Nothing held is lost.
 */
const finishOrGiveBack = (
  store: RunStore_.Service,
  held: HeldRuns,
  workerId: string,
  grace: number,
  signals: Signals
) =>
  Effect.gen(function*() {
    signals.stopping = true
    if (held.size === 0) return
    yield* Effect.logInfo(
      `Task worker ${workerId} stopping: waiting up to ${grace} ms for ${held.size} run(s) ` +
        `(a second SIGINT or SIGTERM gives them back at once)`
    )
    // Finalizers are uninterruptible: each side of the race must be interruptible for the others to
    // end it. Not the race itself: this fiber is being interrupted, and would be at once.
    const cut = yield* Effect.raceAll([
      Effect.interruptible(Effect.as(Fiber.awaitAll(held.fibers()), Option.none<string>())),
      Effect.interruptible(
        Effect.as(Effect.sleep(Duration.millis(grace)), Option.some(`its grace period of ${grace} ms ended`))
      ),
      Effect.interruptible(
        Effect.map(
          Deferred.await(signals.giveBackNow),
          (signal) => Option.some(`${signal} while it waited for its runs`)
        )
      )
    ])
    const left = held.releaseAll()
    if (left.length === 0) return
    const why = Option.getOrElse(cut, () => "its runs ended")
    yield* Effect.logInfo(`Task worker ${workerId} giving back ${left.length} run(s): ${why}`)
    yield* Fiber.interruptAll(held.fibers())
    yield* store.releaseRuns(workerId, left, `Given back by task worker ${workerId} on shutdown (${why}).`).pipe(
      Effect.catchAll((error) => Effect.logError(`Task worker ${workerId} could not give back its runs`, error))
    )
  })

/** @internal */
export const serve = (
  tasks: ReadonlyArray<TaskWorker.Servable>,
  options: TaskWorker.ServeOptions = {}
): Effect.Effect<never, never, RunStore> =>
  Effect.scoped(Effect.gen(function*() {
    // Bad options die here, before anything is claimed (they are programming errors).
    const { concurrency, grace, heartbeatEvery, lease, maxPoll, workerId } = yield* Effect.try({
      try: () => settingsOf(options),
      catch: (error) => error
    }).pipe(Effect.orDie)
    const definitions = yield* Effect.try({ try: () => servedDefinitions(tasks), catch: (error) => error }).pipe(
      Effect.orDie
    )
    const names = Array.from(definitions.keys())
    if (names.length === 0) {
      return yield* Effect.die(
        new Cause.IllegalArgumentException(
          "TaskWorker.serve was given no tasks or flows: it would claim nothing and serve forever. " +
            "Pass the tasks and flows this worker runs."
        )
      )
    }
    const store = yield* RunStore

    // The runs' fibers are started from this runtime (the serving fiber's services, logger and
    // settings), each on its own; the FiberMap interrupts whatever is left when the worker stops.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const signal = yield* makeClaimSignal(names)
    const held = new HeldRuns(yield* FiberMap.make<string>(), store, workerId, signal.signal, heartbeatEvery)
    const unsubscribe = store.unsafeSubscribeScheduled(signal.scheduled)
    yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
    const startRun = runStarter({
      definitions,
      held,
      runFork,
      servingFlowRunId: yield* FiberRef.get(currentFlowRunId)
    })

    // A cancel is stopped at once where the store pushes it; heartbeats catch those it cannot push.
    const unsubscribeCancelling = store.unsafeSubscribeCancelling(held.interrupt)
    yield* Effect.addFinalizer(() => Effect.sync(unsubscribeCancelling))
    const heartbeats = { store, held, workerId, names, lease, heartbeatEvery, scheduled: signal.scheduled }
    // The worker's own work makes no spans (nor do the fibers it forks): an idle worker's trace
    // would be nothing but polls. Its runs are forked from `runFork`, whose runtime traces.
    yield* untraced(forkHeartbeats(heartbeats))
    yield* untraced(forkLeaseDeadline(heartbeats))
    yield* untraced(forkScheduledGauge(store, names))
    // Listening before the first claim: a claim may keep the worker's shutdown waiting too.
    const signals = yield* listenForSignals(workerId, (message) => runFork(Effect.logInfo(message)))
    yield* Effect.addFinalizer(() => finishOrGiveBack(store, held, workerId, grace, signals))

    yield* Effect.logInfo(`Task worker ${workerId} serving ${names.join(", ")} (concurrency ${concurrency})`)
    return yield* untraced(claimLoop({
      store,
      held,
      signal,
      startRun,
      workerId,
      names,
      concurrency,
      lease,
      maxPoll,
      heartbeatEvery
    }))
  }))

const untraced = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracerEnabled(effect, false)
