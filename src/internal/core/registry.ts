import { globalValue } from "effect/GlobalValue"
import * as Errors from "../../Errors.js"
import type { TaskDefinition } from "./definition.js"

// Global, not per module instance: a worker thread's entry and the user's module may load this
// library through different paths (src under tsx, build output), and must see the same tasks.
const registry = globalValue(Symbol.for("effect-taskflow/TaskRegistry"), () => new Map<string, TaskDefinition>())

/** Looks a task up by name (worker threads and task workers find tasks this way). @internal */
export const lookup = (name: string): TaskDefinition | undefined => registry.get(name)

/**
 * Registers a task or flow under its name; a name that is taken throws `DuplicateTaskName`.
 * `derived` is for `task.with({ name })`: the same body may take the same new name again (a
 * `with` evaluated twice), but a name held by another body is refused, since a worker or a pool
 * would run that other body for it.
 * @internal
 */
export const register = (def: TaskDefinition, kind: "task" | "flow", derived = false): void => {
  const holder = registry.get(def.name)
  if (holder !== undefined) {
    if (derived && holder.kind === kind && holder.fn === def.fn) return
    throw new Errors.DuplicateTaskName({
      taskName: def.name,
      message: `A ${kind} cannot be named '${def.name}': a ${holder.kind} named '${def.name}' is already ` +
        `defined. Task and flow names identify them across threads and processes, so each must be unique.`
    })
  }
  registry.set(def.name, def)
}
