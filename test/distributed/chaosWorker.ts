/**
 * A task worker of the chaos test: `tsx test/distributed/chaosWorker.ts`, configured as worker.ts is.
 * Light to start (no @effect/platform-node, Effect's modules by path, the one store it needs): the
 * test starts one every ~2 s on a loaded machine. SIGTERM or SIGINT stops it as `runMain` would.
 */
import * as RunStore from "effect-taskflow/RunStore"
import * as TaskWorker from "effect-taskflow/TaskWorker"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { chaosTasks, recordStalls } from "./chaosTasks.js"
import type { Target } from "./tasks.js"

const target = JSON.parse(process.env.TASKFLOW_DIST_TARGET!) as Target
const lease = Number(process.env.TASKFLOW_DIST_LEASE ?? 30_000)
const store = target.kind === "sqlite"
  ? RunStore.sqlite({ filename: target.location, maxPollInterval: 200 })
  : RunStore.postgres({ url: target.location, maxPollInterval: 200 })

// Stalls of more than a quarter of the lease: the worker's guard stops runs a heartbeat before their
// leases end, so a stall about that long may already cost it a run.
recordStalls(lease / 4)

const fiber = TaskWorker.serve(chaosTasks, {
  concurrency: Number(process.env.TASKFLOW_DIST_CONCURRENCY ?? 50),
  lease,
  heartbeatInterval: Number(process.env.TASKFLOW_DIST_HEARTBEAT ?? Math.min(1_000, lease / 4)),
  pollInterval: 200,
  shutdownGracePeriod: Number(process.env.TASKFLOW_DIST_GRACE ?? 100),
  workerId: process.env.TASKFLOW_DIST_WORKER!
}).pipe(Effect.provide(store), Effect.runFork)

const stop = () => {
  process.off("SIGTERM", stop)
  process.off("SIGINT", stop)
  fiber.unsafeInterruptAsFork(fiber.id())
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
fiber.addObserver((exit) => process.exit(Exit.isSuccess(exit) || Exit.isInterrupted(exit) ? 0 : 1))
