import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Metric } from "effect"
import { Errors, Flow, RunStore, Task, Telemetry } from "effect-taskflow"
import { makeTracing, spansNamed } from "../support/tracing.js"

const ended = (kind: string, name: string, stateType: string) =>
  Metric.value(
    Telemetry.runsEnded.pipe(
      Metric.tagged("taskflow.run.kind", kind),
      Metric.tagged("taskflow.run.name", name),
      Metric.tagged("taskflow.state.type", stateType)
    )
  ).pipe(Effect.map((state) => state.count))

/**
 * A memory store whose writes are asynchronous (only its string-keyed methods: not its synchronous
 * writes) and whose Completed write is `completed`'s.
 */
const storeWith = (
  completed: (write: Effect.Effect<void, any>) => Effect.Effect<void, any>
): Layer.Layer<RunStore.RunStore> => {
  const memory = RunStore.makeMemory() as unknown as Record<string, unknown>
  const plain = Object.fromEntries(Object.keys(memory).map((key) => [key, memory[key]])) as unknown as RunStore.Service
  const service: RunStore.Service = {
    ...plain,
    setState: (runId, state, options) => {
      const write = plain.setState(runId, state, options)
      return state.type === "COMPLETED" ? completed(write) : write
    }
  }
  return Layer.succeed(RunStore.RunStore, service)
}
const failing = storeWith(() => Effect.fail(new Errors.RunStoreError({ message: "the store went away" })))

describe("a run whose final write dies or is interrupted", () => {
  it.effect("a flow whose Completed write fails: its span ends and it is counted", () => {
    const tracing = makeTracing()
    const flow = Flow.make("ends-flow-fails", () => Effect.succeed(1))
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(flow())
      expect(exit._tag).toBe("Failure")
      const [run] = spansNamed(tracing.exporter, "flow-run ends-flow-fails")
      expect(run?.attributes["taskflow.state.type"]).toBe("COMPLETED")
      expect(yield* ended("flow", "ends-flow-fails", "COMPLETED")).toBe(1)
    }).pipe(Effect.provide(failing), Effect.provide(tracing.layer))
  })

  it.effect("an inline task call whose Completed write fails: its span ends and it is counted", () => {
    const tracing = makeTracing()
    const task = Task.make("ends-inline-fails", () => Effect.succeed(1))
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(task())
      expect(exit._tag).toBe("Failure")
      const [run] = spansNamed(tracing.exporter, "task-run ends-inline-fails")
      expect(run?.attributes["taskflow.state.type"]).toBe("COMPLETED")
      expect(yield* ended("task", "ends-inline-fails", "COMPLETED")).toBe(1)
    }).pipe(Effect.provide(failing), Effect.provide(tracing.layer))
  })

  it.effect("a flow interrupted while its final write is pending: its span ends and it is counted", () => {
    const tracing = makeTracing()
    const flow = Flow.make("ends-flow-interrupted", () => Effect.succeed(1))
    return Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const gated = storeWith(() => Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(never)))
      const fiber = yield* Effect.fork(Effect.provide(flow(), gated))
      yield* Deferred.await(reached)
      expect(spansNamed(tracing.exporter, "flow-run ends-flow-interrupted")).toHaveLength(0)
      yield* Fiber.interrupt(fiber)
      const [run] = spansNamed(tracing.exporter, "flow-run ends-flow-interrupted")
      expect(run?.attributes["taskflow.state.type"]).toBe("COMPLETED")
      expect(yield* ended("flow", "ends-flow-interrupted", "COMPLETED")).toBe(1)
    }).pipe(Effect.provide(tracing.layer))
  })
})
