import type * as RunStore_ from "../../../RunStore.js"
import type { LogLine, RunLogSink } from "../runLogs.js"
import { toRunLog } from "../runLogs.js"
import type { MemoryRun } from "./memoryRun.js"
import type { RunIndex } from "./runIndex.js"

/** A run's lines, with the run (a forgotten run's lines go with it). */
interface RunLines {
  readonly run: MemoryRun
  readonly lines: Array<RunStore_.RunLog>
}

/**
 * The memory store's run logs: each run's lines in an array, numbered as they arrive, and the
 * followers of each run woken at once. The lines of runs the store forgot (`keepFinished`) are
 * dropped with them, so a runner's own store stays bounded.
 * @internal
 */
export class MemoryLogs implements RunLogSink {
  private readonly byRun = new Map<string, RunLines>()
  private readonly listeners = new Map<string, Set<() => void>>()
  /** The size past which the lines of forgotten runs are swept. */
  private sweepAt = 1024

  constructor(private readonly runs: RunIndex) {}

  append(line: LogLine): void {
    let entry = this.byRun.get(line.runId)
    if (entry === undefined || entry.run.forgotten) {
      const run = this.runs.find(line.runId)
      if (run === undefined) return
      entry = { run, lines: [] }
      this.byRun.set(line.runId, entry)
      if (this.byRun.size > this.sweepAt) this.sweep()
    }
    entry.lines.push(toRunLog(line, entry.lines.length + 1))
    this.listeners.get(line.runId)?.forEach((listener) => listener())
  }

  /** The run's lines after `after`, at most `limit`. */
  read(runId: string, after: number, limit: number): ReadonlyArray<RunStore_.RunLog> {
    const entry = this.byRun.get(runId)
    if (entry === undefined || entry.run.forgotten) return []
    return entry.lines.slice(after, limit === Number.POSITIVE_INFINITY ? undefined : after + limit)
  }

  /** Deletes the run's lines (it is pruned); returns how many there were. */
  drop(runId: string): number {
    const entry = this.byRun.get(runId)
    if (entry === undefined) return 0
    this.byRun.delete(runId)
    return entry.run.forgotten ? 0 : entry.lines.length
  }

  subscribe(runId: string, listener: () => void): () => void {
    let set = this.listeners.get(runId)
    if (set === undefined) this.listeners.set(runId, set = new Set())
    set.add(listener)
    const listeners = set
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.listeners.get(runId) === listeners) this.listeners.delete(runId)
    }
  }

  private sweep(): void {
    for (const [runId, entry] of this.byRun) if (entry.run.forgotten) this.byRun.delete(runId)
    this.sweepAt = Math.max(1024, this.byRun.size * 2)
  }
}
