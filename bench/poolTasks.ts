/** The tasks the worker-pool benchmark runs: its threads import this module. */
import { Effect } from "effect"
import { Task } from "../src/index.js"

/** Spins the CPU for `ms` milliseconds (the same function piscina's worker runs). */
export const busyWait = (ms: number): number => {
  const end = performance.now() + ms
  let spins = 0
  while (performance.now() < end) spins++
  return spins
}

export const cpu = Task.make("bench-pool-cpu", (ms: number) => Effect.sync(() => busyWait(ms)))
export const noop = Task.make("bench-pool-noop", (n: number) => Effect.succeed(n))
