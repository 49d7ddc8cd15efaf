import { globalValue } from "effect/GlobalValue"
import * as Errors from "../../Errors.js"
import type { TaskDefinition } from "./definition.js"

// Global, not per module instance: a worker thread's entry and the user's module may load this
// library through different paths (src under tsx, build output), and must see the same tasks.
const registry = globalValue(Symbol.for("effect-taskflow/TaskRegistry"), () => new Map<string, TaskDefinition>())

/** Looks a task up by name (worker threads and task workers find tasks this way). @internal */
export const lookup = (name: string): TaskDefinition | undefined => registry.get(name)

/** @internal */
export const register = (def: TaskDefinition, kind: "task" | "flow"): void => {
  if (registry.has(def.name)) {
    throw new Errors.DuplicateTaskName({
      name: def.name,
      message: `A ${kind} named '${def.name}' is already defined. Task and flow names identify them across ` +
        `threads and processes, so each must be unique.`
    })
  }
  registry.set(def.name, def)
}
