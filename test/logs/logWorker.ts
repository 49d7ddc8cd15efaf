/** A task worker process serving the run-log fixtures: `tsx test/logs/logWorker.ts` with its store in the environment. */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { RunStore, TaskWorker } from "effect-taskflow"
import { logAcrossSleep, logFlow, logSome } from "./logTasks.js"

const kind = process.env.TASKFLOW_LOGS_STORE_KIND!
const location = process.env.TASKFLOW_LOGS_STORE!
const store = kind === "sqlite"
  ? RunStore.sqlite({ filename: location, maxPollInterval: 200 })
  : RunStore.postgres({ url: location, maxPollInterval: 200 })

TaskWorker.serve([logSome, logAcrossSleep, logFlow], { concurrency: 4, pollInterval: 200, shutdownGracePeriod: 100 })
  .pipe(Effect.provide(store), NodeRuntime.runMain)
