import type * as Fiber from "effect/Fiber"
import type * as State from "../../State.js"
import type { SyncRunHandle } from "../store/runStore.js"

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
  constructor(readonly id: string, readonly name: string, initial: State.State<A, E>) {
    this.state = initial
  }
  complete(state: State.State<A, E>): void {
    if (this.done !== undefined) return
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
