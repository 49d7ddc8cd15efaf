/**
 * CPU-bound tasks for examples/workerPool.ts. The pool's worker threads import this module and
 * find the tasks by name, so tasks are defined at the top level.
 */
import { Effect } from "effect"
import { Task } from "effect-taskflow"

/** How many primes lie below `limit`, by trial division: deliberately CPU-bound. */
export const countPrimes = Task.make("examples-count-primes", (limit: number) =>
  Effect.sync(() => {
    let count = 0
    for (let n = 2; n < limit; n++) {
      let prime = true
      for (let d = 2; d * d <= n; d++) {
        if (n % d === 0) {
          prime = false
          break
        }
      }
      if (prime) count++
    }
    return count
  }))
