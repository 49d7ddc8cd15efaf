/**
 * CPU-bound task runs on worker threads: `npx tsx --conditions=taskflow-source examples/workerPool.ts`.
 * The flow is the same as on the concurrent runner; only its `taskRunner` changes.
 */
import { Effect } from "effect"
import { Flow, TaskRunner } from "effect-taskflow"
import { pathToFileURL } from "node:url"
import { countPrimes } from "./primes.js"

const pool = TaskRunner.workerPool({ size: 2, module: new URL("./primes.js", import.meta.url) })

/** Counts primes below each limit, two at a time on worker threads. */
export const primes = Flow.make(
  { name: "examples-primes", taskRunner: pool },
  (limits: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const futures = yield* countPrimes.map(limits)
      return futures // resolved to their results when the flow returns
    })
)

export const main = Effect.gen(function*() {
  const limits = [50_000, 100_000, 150_000, 200_000]
  const counts = yield* primes(limits)
  limits.forEach((limit, i) => console.log(`primes below ${limit.toLocaleString("en")}: ${counts[i]}`))
  return counts
})

// pathToFileURL: a path with spaces is %20 in import.meta.url.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main).catch(console.error)
}
