import { Effect } from "effect"
import { Task } from "../src/index.js"

/** The no-op task both sides of the distributed benchmark know. */
export const noop = Task.make("bench-dist-noop", (n: number) => Effect.succeed(n))
