/**
 * PostgreSQL's final-state notifications (FINAL_CHANNEL), both ends of their format: a payload
 * holds a line per run, each `id`, or `id TAB seq TAB [name, type, stateName, message, timestamp,
 * cause, result]` when the state fits.
 * @internal
 */
import type { AnyState } from "../../core/state.js"
import { decodedOrCrashed } from "./rows.js"
import { NOTICE_BYTES } from "./schema.js"

/** A move's notice: its line's JSON when the state fits a payload, and its size in UTF-8 bytes. */
export interface Notice {
  readonly notice: string | null
  readonly noticeBytes: number
}

/** A write that notifies no one. @internal */
export const noNotice: Notice = { notice: null, noticeBytes: 0 }

/** A final state as a notification line carries it, if it fits PostgreSQL's 8,000-byte payload. */
export const noticeOf = (name: string, state: AnyState, cause: string | null, result: string | null): Notice => {
  const notice = JSON.stringify([
    name,
    state.type,
    state.name,
    state.message ?? null,
    state.timestamp.getTime(),
    cause,
    result
  ])
  // The id, the state number and the separators take about 60 bytes more.
  const noticeBytes = Buffer.byteLength(notice)
  return noticeBytes < NOTICE_BYTES - 200 ? { notice, noticeBytes } : noNotice
}

/**
 * The final-state notification each move's line goes in: lines are packed in order into
 * payloads of at most NOTICE_BYTES (each line is shorter than that on its own).
 */
export const noticeChunks = (
  batch: ReadonlyArray<{ readonly runId: string; readonly final: boolean; readonly noticeBytes: number }>
): Array<number> => {
  let chunk = 0
  let bytes = 0
  return batch.map((move) => {
    if (!move.final) return 0
    // id TAB seq TAB notice NEWLINE: the state number takes at most 10 digits.
    const line = move.runId.length * 3 + 13 + move.noticeBytes
    if (bytes + line > NOTICE_BYTES && bytes > 0) {
      chunk++
      bytes = 0
    }
    bytes += line
    return chunk
  })
}

/** What a final-state notification is read into. */
export interface NoticeReader {
  /** Whether anyone here cares about this run's changes. */
  readonly wants: (runId: string) => boolean
  /**
   * Run `runId` changed to state number `seq` (undefined: unknown); `state` decodes the new state when
   * the line carried it. It is decoded when it is pushed: a task's Schemas may be registered after
   * the notice arrives and before the run is followed.
   */
  readonly heard: (runId: string, seq: number | undefined, state: (() => AnyState) | undefined) => void
}

/** Reads a final-state notification's lines. */
export const readFinalNotice = (payload: string, reader: NoticeReader) => {
  let start = 0
  while (start < payload.length) {
    const newline = payload.indexOf("\n", start)
    const end = newline < 0 ? payload.length : newline
    readLine(payload, start, end, reader)
    start = end + 1
  }
}

const readLine = (payload: string, start: number, end: number, reader: NoticeReader) => {
  const tab = payload.indexOf("\t", start)
  if (tab < 0 || tab > end) return reader.heard(payload.slice(start, end), undefined, undefined)
  const runId = payload.slice(start, tab)
  // Most lines are of runs nobody here follows (a worker hears every run's end): skip the parse
  // and the decode of their state.
  if (!reader.wants(runId)) return
  const second = payload.indexOf("\t", tab + 1)
  const seq = Number(payload.slice(tab + 1, second))
  try {
    const [name, type, stateName, message, timestamp, cause, result] = JSON.parse(
      payload.slice(second + 1, end)
    ) as [string, string, string, string | null, number, string | null, string | null]
    reader.heard(
      runId,
      seq,
      () => decodedOrCrashed(name, runId, { type, name: stateName, message, timestamp, cause }, result)
    )
  } catch {
    reader.heard(runId, seq, undefined)
  }
}
