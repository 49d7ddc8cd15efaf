import type * as Fiber from "effect/Fiber"
import type * as State from "../../State.js"
import type { TaskDefinition } from "../core/definition.js"
import * as state_ from "../core/state.js"
import type { SyncRunHandle } from "../store/runStore.js"
import { recordRunEnd } from "../telemetry/runMetrics.js"
import type { RunSpan } from "../telemetry/runSpan.js"
import { endRunSpan, stateEvent } from "../telemetry/runSpan.js"

const noop = () => {}

/**
 * The state of one in-process run. The engine moves `state`; `complete` is called once, when the
 * run's execution ends, and notifies the observers synchronously.
 * @internal
 */
export class RunCell<A, E> {
  state: State.State<A, E>
  done: State.State<A, E> | undefined = undefined
  private observers: Array<(state: State.State<A, E>) => void> | undefined = undefined
  fiber: Fiber.RuntimeFiber<State.State<A, E>> | undefined = undefined
  /** Someone read the run's outcome (result, resolve, or a task argument), so a failure was seen. */
  outcomeRead = false
  /** The run in the runner's synchronous store (memory), when it was created there. */
  storeHandle: SyncRunHandle | undefined = undefined
  /** The run's task or flow, once the engine runs it: its metrics are tagged with it (cleared at its end). */
  def: TaskDefinition | undefined = undefined
  /** The run's span, when a tracer is installed: the engine adds an event per state (cleared at its end). */
  span: RunSpan | undefined = undefined
  /** When the run first ran (ms), for its duration metric. */
  runningAt: number | undefined
  constructor(readonly id: string, readonly name: string, initial: State.State<A, E>) {
    this.state = initial
    this.runningAt = initial.type === "RUNNING" ? initial.timestamp.getTime() : undefined
  }
  /** A state the engine recorded: an event on the run's span. */
  recorded(state: State.State<A, E>): void {
    if (state.type === "RUNNING" && this.runningAt === undefined) this.runningAt = state.timestamp.getTime()
    if (this.span !== undefined) stateEvent(this.span, state)
  }
  /**
   * The run's execution ended in `state` (final, or NotReady): its span ends and it is counted (a
   * NotReady run as PENDING, with no duration: it never ran). Once: the engine's final write and
   * the runner's `complete` both tell it, and the first clears what it used.
   */
  end(state: State.State<A, E>): void {
    const span = this.span
    if (span !== undefined) {
      this.span = undefined
      if (span.last !== state) stateEvent(span, state)
      endRunSpan(span, state)
    }
    const def = this.def
    if (def !== undefined) {
      this.def = undefined
      if (state_.isFinal(state)) recordRunEnd(def, state, this.runningAt)
      else if (state.type === "PENDING" && state.name === "NotReady") recordRunEnd(def, state, undefined)
    }
  }
  complete(state: State.State<A, E>): void {
    if (this.done !== undefined) return
    this.end(state)
    this.done = state
    this.state = state
    const observers = this.observers
    this.observers = undefined
    if (observers === undefined) return
    for (let i = 0; i < observers.length; i++) {
      try {
        observers[i](state)
      } catch {
        // Observers are internal and do not throw; this keeps one bug from stalling the rest.
      }
    }
  }
  observe(onDone: (state: State.State<A, E>) => void): () => void {
    if (this.done !== undefined) {
      onDone(this.done)
      return noop
    }
    const observers = this.observers ?? (this.observers = [])
    observers.push(onDone)
    return () => {
      const list = this.observers
      if (list === undefined) return
      const index = list.indexOf(onDone)
      if (index >= 0) list.splice(index, 1)
    }
  }
}
