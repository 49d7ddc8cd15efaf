import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { currentFlowRunId, currentTaskRunId } from "./currentRun.js"

/** The run whose body is executing: the task run, else the flow run (in a flow's own body). @internal */
export const currentRunId: Effect.Effect<Option.Option<string>> = Effect.withFiberRuntime((fiber) =>
  Effect.succeed(Option.fromNullable(fiber.getFiberRef(currentTaskRunId) ?? fiber.getFiberRef(currentFlowRunId)))
)

/** The flow run the fiber works for (its body, or one of its task runs). @internal */
export const currentFlowRunIdOption: Effect.Effect<Option.Option<string>> = Effect.withFiberRuntime((fiber) =>
  Effect.succeed(Option.fromNullable(fiber.getFiberRef(currentFlowRunId)))
)
