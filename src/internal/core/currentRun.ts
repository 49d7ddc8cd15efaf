import * as FiberRef from "effect/FiberRef"

/** The flow run the current fiber works for. @internal */
export const currentFlowRunId: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(
  undefined
)
/** The task run the current fiber works for. @internal */
export const currentTaskRunId: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(
  undefined
)
