/**
 * What the run-store suites share (test/store/): two tasks registered by name, so the SQL stores
 * encode their values with these Schemas, and how a test makes a run.
 */
import { Effect, Schema } from "effect"
import { RunStore, State, Task } from "effect-taskflow"

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

/** Makes a task run of `name` in the context's store, moved from Pending to `state`, with `extra`'s fields; its id. */
export const makeRun = (name: string, state: State.State<unknown, unknown>, extra: Partial<RunStore.NewRun> = {}) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const id = extra.id ?? crypto.randomUUID()
    yield* store.createRun({ kind: "task", name, state: State.pending(), ...extra, id })
    if (state.type !== "PENDING") yield* store.setState(id, state)
    return id
  })
