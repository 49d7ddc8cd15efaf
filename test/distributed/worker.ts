/** A task worker process: `tsx test/distributed/worker.ts` with its target and options in the environment. */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { RunStore, TaskWorker } from "effect-taskflow"
import type { Target } from "./tasks.js"
import { served } from "./tasks.js"

const target = JSON.parse(process.env.TASKFLOW_DIST_TARGET!) as Target
const lease = Number(process.env.TASKFLOW_DIST_LEASE ?? 30_000)
const reconnectFor = process.env.TASKFLOW_DIST_RECONNECT === undefined
  ? {}
  : { reconnectFor: Number(process.env.TASKFLOW_DIST_RECONNECT) }
const store = target.kind === "sqlite"
  ? RunStore.sqlite({ filename: target.location, maxPollInterval: 200, ...reconnectFor })
  : RunStore.postgres({ url: target.location, maxPollInterval: 200, ...reconnectFor })

TaskWorker.serve(served, {
  concurrency: Number(process.env.TASKFLOW_DIST_CONCURRENCY ?? 50),
  lease,
  heartbeatInterval: Number(process.env.TASKFLOW_DIST_HEARTBEAT ?? Math.min(1_000, lease / 4)),
  pollInterval: 200,
  shutdownGracePeriod: Number(process.env.TASKFLOW_DIST_GRACE ?? 100),
  workerId: process.env.TASKFLOW_DIST_WORKER!
}).pipe(Effect.provide(store), NodeRuntime.runMain)
