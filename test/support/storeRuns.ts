/**
 * What the run-store suites share (test/store/): two tasks registered by name, so the SQL stores
 * encode their values with these Schemas, and how a test makes a run.
 */
import { Effect, Schema } from "effect"
import { State, Task } from "effect-taskflow"

export class Point extends Schema.Class<Point>("StorePoint")({ x: Schema.Number, y: Schema.Number }) {
  get norm() {
    return Math.hypot(this.x, this.y)
  }
}
export class NotFound extends Schema.TaggedError<NotFound>()("StoreNotFound", { key: Schema.String }) {}

export const storePoint = Task.make(
  { name: "store-point", success: Point, failure: NotFound, parameters: Schema.Tuple(Point) },
  (p: Point) => Effect.succeed(p)
)
export const storePlain = Task.make("store-plain", (n: number) => Effect.succeed(n))

/** A new run of `name` (a task of that name), in `state`. */
export const newRun = (id: string, name = "store-plain", state: State.State<unknown, unknown> = State.pending()) => ({
  id,
  kind: "task" as const,
  name,
  state
})
export const uuid = () => crypto.randomUUID()
