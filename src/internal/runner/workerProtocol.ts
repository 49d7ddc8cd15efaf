/**
 * The messages between a worker pool and its threads.
 * @internal
 */
import type { SpanIds, ThreadSpans } from "../telemetry/threadSpans.js"

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
  /** The flow run the run belongs to, if any (`Flow.currentRunId` in the body). */
  readonly flowRunId?: string
  /** The run's fiber's minimum log level (`LogLevel` tag), when not Info: the body logs what it lets through. */
  readonly minLevel?: string
  /**
   * Set only when the run's fiber traces: the thread records the body's spans and sends them back
   * with its Done. `parent`: the span the body runs under (the run's or attempt's span), if any.
   */
  readonly tracing?: { readonly parent?: SpanIds }
}

/** A line a run logged on a thread, sent to the pool, which logs it on the run's fiber (runLogs.ts). @internal */
export interface ThreadLogLine {
  readonly level: string
  readonly message: string
  readonly timestamp: number
  readonly annotations: Readonly<Record<string, string>>
  readonly spans: ReadonlyArray<{ readonly label: string; readonly startTime: number }>
  /**
   * Logged under a span the body made on the thread (a traced run): the line is an event of that
   * span already, so the pool does not make it one of the run's span too.
   */
  readonly inSpan?: true
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
  /**
   * `micros`: how long the run took on the thread, so the pool knows which tasks are fast. `spans`:
   * the spans the body made and ended, in start order, when the run was sent with `tracing`.
   */
  | {
    readonly _tag: "Done"
    readonly id: number
    readonly exit: unknown
    readonly micros: number
    readonly spans?: ThreadSpans
  }
  /** Lines the run `runId` logged, sent before its Done (and every 50 ms while it runs). */
  | { readonly _tag: "Logs"; readonly runId: string; readonly lines: ReadonlyArray<ThreadLogLine> }

/** An error as one line of text, for a message or a crashed run's reason. @internal */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
