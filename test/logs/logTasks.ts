/**
 * Tasks that log, for the run-log tests: a worker pool's threads and a task worker process import
 * this module and find them by name; the tests import it to run them.
 */
import { Effect, Option } from "effect"
import { Flow, Task } from "effect-taskflow"

/** Logs `n` lines, one with an annotation and a span; returns its own run id and flow run id as it sees them. */
export const logSome = Task.make("logs-fixture-log-some", (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* Effect.log(`line ${i}`)
    yield* Effect.logWarning("annotated").pipe(
      Effect.annotateLogs("fixture", "yes"),
      Effect.withLogSpan("fixture-span")
    )
    yield* Effect.logDebug("debug line")
    return {
      runId: Option.getOrNull(yield* Task.currentRunId),
      flowRunId: Option.getOrNull(yield* Flow.currentRunId)
    }
  }))

/** Logs, sleeps (the body suspends: it keeps its fiber on a thread), logs again. */
export const logAcrossSleep = Task.make("logs-fixture-across-sleep", () =>
  Effect.gen(function*() {
    yield* Effect.log("before sleep")
    yield* Effect.sleep("60 millis")
    yield* Effect.log("after sleep")
  }))

/** A flow that logs, delays a task run that logs and waits for it. */
export const logFlow = Flow.make("logs-fixture-flow", (n: number) =>
  Effect.gen(function*() {
    yield* Effect.log("flow line")
    const future = yield* logSome.delay(n)
    return yield* future.result()
  }))
