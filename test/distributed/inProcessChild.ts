/**
 * A process that runs one long task in-process (`submit` on the concurrent runner, no task worker)
 * on the target's store, with the in-process lease of TASKFLOW_DIST_LEASE ms, and prints the run's id:
 * `tsx test/distributed/inProcessChild.ts`, started by `startWorker(target, { script })`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { RunStore, Task, TaskRunner } from "effect-taskflow"
import type { Target } from "./tasks.js"

const target = JSON.parse(process.env.TASKFLOW_DIST_TARGET!) as Target
const inProcessLease = Number(process.env.TASKFLOW_DIST_LEASE ?? 30_000)
const store = target.kind === "sqlite"
  ? RunStore.sqlite({ filename: target.location, maxPollInterval: 200, inProcessLease })
  : RunStore.postgres({ url: target.location, maxPollInterval: 200, inProcessLease })

const forever = Task.make(
  "in-process-forever",
  () => Effect.zipRight(Effect.logInfo("in-process body started"), Effect.never)
)

Effect.gen(function*() {
  const future = yield* forever.submit()
  // The harness's `ready` waits for "serving".
  yield* Effect.sync(() => console.log(`serving run ${future.taskRunId}`))
  yield* future.wait()
}).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(store), NodeRuntime.runMain)
