/**
 * The messages between a worker pool and its threads.
 * @internal
 */

/** What a thread is started with (its `workerData`). @internal */
export interface ThreadData {
  /** The URL of the module that defines the tasks. */
  readonly module: string
  /** The counters shared with the pool (see `runProgress.ts`). */
  readonly shared: SharedArrayBuffer
}

/** One run for a thread. @internal */
export interface Run {
  readonly _tag: "Run"
  readonly id: number
  readonly runId: string
  readonly name: string
  readonly args: unknown
}

/** From the pool to a thread. @internal */
export type FromPool =
  | Run
  /** Several runs in one message (one wake-up of the thread), started in order. */
  | { readonly _tag: "RunMany"; readonly runs: ReadonlyArray<Run> }
  | { readonly _tag: "Interrupt"; readonly id: number }

/** From a thread to the pool. @internal */
export type ToPool =
  | { readonly _tag: "Ready" }
  | { readonly _tag: "LoadFailed"; readonly message: string }
  /** `micros`: how long the run took on the thread, so the pool knows which tasks are fast. */
  | { readonly _tag: "Done"; readonly id: number; readonly exit: unknown; readonly micros: number }

/** An error as one line of text, for a message or a crashed run's reason. @internal */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
