import * as Effect from "effect/Effect"
import { Task } from "../src/index.js"

/** The task bench/workerStartup.bench.ts enqueues before it spawns a worker: says "ran" when its body runs. */
export const startupTask = Task.make("bench-startup", (n: number) =>
  Effect.sync(() => {
    process.stdout.write("ran\n")
    return n
  }))
