import { forever } from "/work/main/test/fixtures/poolTasks.ts"
import { Effect, Fiber } from "effect"
import { TaskRunner } from "effect-taskflow"
const program = Effect.gen(function*() {
  const f = yield* forever.submit()
  yield* Effect.sleep(100)
  console.log("interrupting")
  yield* Fiber.interrupt(f.wrappedFuture)
  console.log("state", (yield* f.state).type)
})
Effect.runPromise(
  Effect.provide(
    program,
    TaskRunner.workerPool({ size: 1, module: "test/fixtures/poolTasks.ts", interruptGracePeriod: 2000 })
  )
).then(() => console.log("done"), (e) => console.error("ERR", e))
