/**
 * What the command prints, as small pure functions over plain data: durations, state labels, the
 * runs table, a run's timeline and a flow run's tree. No Effect, no store: each is unit-tested alone.
 * @internal
 */

/** "850ms", "4.2s", "3m 04s", "2h", "3d 4h": two units at most, the larger first, a zero second one left out. */
export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "-"
  if (ms < 1_000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`
  const seconds = Math.floor(ms / 1_000)
  const two = (big: string, small: number, unit: string) => small === 0 ? big : `${big} ${pad2(small)}${unit}`
  if (seconds < 3_600) return two(`${Math.floor(seconds / 60)}m`, seconds % 60, "s")
  if (seconds < 86_400) return two(`${Math.floor(seconds / 3_600)}h`, Math.floor(seconds / 60) % 60, "m")
  const hours = Math.floor(seconds / 3_600) % 24
  return hours === 0 ? `${Math.floor(seconds / 86_400)}d` : `${Math.floor(seconds / 86_400)}d ${hours}h`
}

const pad2 = (n: number): string => String(n).padStart(2, "0")

const AGE_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * An age as the flags take it ("90s", "2h", "30d", "1.5h"): milliseconds, or undefined when the
 * text is not one number and one unit of ms, s, m, h, d or w.
 */
export const parseAge = (text: string): number | undefined => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(text)
  if (match === null) return undefined
  return Number(match[1]) * AGE_UNITS[match[2]!]!
}

/** A state as shown everywhere: its type, and its name in brackets when it is not the default one. */
export const stateLabel = (type: string, name: string): string =>
  name.toUpperCase() === type ? type : `${type} (${name})`

/** "2026-12-06 09:47:28" in UTC: the same on every machine, sortable, and short. */
export const formatTime = (date: Date | undefined): string =>
  date === undefined || Number.isNaN(date.getTime()) ? "-" : date.toISOString().slice(0, 19).replace("T", " ")

/** The shortest id prefix tables show. */
export const SHORT_ID = 8

const commonLength = (a: string, b: string): number => {
  let n = 0
  while (n < a.length && a[n] === b[n]) n++
  return n
}

/**
 * Each id's shortest prefix, of at least `min` characters, that no other of `ids` shares. Run ids
 * are UUIDv7: their first characters are a timestamp, so runs made together share a long prefix.
 */
export const uniquePrefixes = (ids: ReadonlyArray<string>, min = SHORT_ID): Map<string, string> => {
  const sorted = [...new Set(ids)].sort()
  const prefixes = new Map<string, string>()
  sorted.forEach((id, i) => {
    const before = i > 0 ? commonLength(id, sorted[i - 1]!) : 0
    const after = i < sorted.length - 1 ? commonLength(id, sorted[i + 1]!) : 0
    prefixes.set(id, id.slice(0, Math.max(min, before + 1, after + 1)))
  })
  return prefixes
}

/**
 * Text a run's code controls (names, messages, log lines, values) as the terminal may show it: C0
 * and C1 control characters and DEL (but newline and tab) as visible `\u001b`-style escapes. Printed
 * raw, an escape sequence in a log line could set the terminal's title, write its clipboard or
 * overwrite lines.
 */
export const printable = (text: string): string =>
  text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** A table with a header row, columns padded to their widest cell, the last one not padded. */
export const table = (headers: ReadonlyArray<string>, source: ReadonlyArray<ReadonlyArray<string>>): string => {
  const rows = source.map((row) => row.map(printable))
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/** A run as one row of `runs ls` and `runs watch`. */
export interface RunRow {
  readonly id: string
  readonly kind: string
  readonly name: string
  readonly stateType: string
  readonly stateName: string
  readonly startedAt: Date | undefined
  /** How long it ran (to its end, or to now while it runs); undefined before it started. */
  readonly durationMs: number | undefined
  readonly attempts: number
}

/** The runs table: id prefix, name, state, start, duration, attempts. */
export const runsTable = (runs: ReadonlyArray<RunRow>): string => {
  const prefixes = uniquePrefixes(runs.map((run) => run.id))
  return table(
    ["ID", "KIND", "NAME", "STATE", "STARTED", "DURATION", "ATTEMPTS"],
    runs.map((run) => [
      prefixes.get(run.id)!,
      run.kind,
      run.name,
      stateLabel(run.stateType, run.stateName),
      formatTime(run.startedAt),
      run.durationMs === undefined ? "-" : formatDuration(run.durationMs),
      String(run.attempts)
    ])
  )
}

/** A state of a run's history, for its timeline. */
export interface TimelineState {
  readonly type: string
  readonly name: string
  readonly message: string | undefined
  readonly timestamp: Date
}

/** A run's history, one state a line: its time, the time since the state before, its label and message. */
export const timeline = (states: ReadonlyArray<TimelineState>): string =>
  table(
    ["TIME", "AFTER", "STATE", "MESSAGE"],
    states.map((state, i) => [
      formatTime(state.timestamp) + `.${String(state.timestamp.getUTCMilliseconds()).padStart(3, "0")}`,
      i === 0 ? "" : `+${formatDuration(state.timestamp.getTime() - states[i - 1]!.timestamp.getTime())}`,
      stateLabel(state.type, state.name),
      oneLine(state.message ?? "")
    ])
  )

/** A message on one line, cut at `max` characters with a marker. */
export const oneLine = (text: string, max = 120): string => {
  const flat = printable(text).replace(/\s*\n\s*/g, " ⏎ ")
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`
}

/** A node of a tree: its own line, and its children below it. */
export interface TreeNode {
  readonly label: string
  readonly children: ReadonlyArray<TreeNode>
}

/** A tree drawn with box-drawing characters, the root's label on the first line. */
export const tree = (root: TreeNode): string => {
  const lines: Array<string> = [root.label]
  const walk = (nodes: ReadonlyArray<TreeNode>, indent: string) =>
    nodes.forEach((node, i) => {
      const last = i === nodes.length - 1
      lines.push(`${indent}${last ? "└─ " : "├─ "}${node.label}`)
      walk(node.children, indent + (last ? "   " : "│  "))
    })
  walk(root.children, "")
  return lines.join("\n")
}

/** Builds the tree of a flow run's task runs from parent links: a run whose parent is not among them sits at the top. */
export const runTree = <R extends { readonly id: string; readonly parentTaskRunId: string | undefined }>(
  root: TreeNode,
  runs: ReadonlyArray<R>,
  label: (run: R) => string
): TreeNode => {
  const ids = new Set(runs.map((run) => run.id))
  const children = new Map<string | undefined, Array<R>>()
  for (const run of runs) {
    const parent = run.parentTaskRunId !== undefined && ids.has(run.parentTaskRunId) ? run.parentTaskRunId : undefined
    const list = children.get(parent) ?? []
    list.push(run)
    children.set(parent, list)
  }
  const build = (parent: string | undefined): ReadonlyArray<TreeNode> =>
    (children.get(parent) ?? []).map((run) => ({ label: label(run), children: build(run.id) }))
  return { label: root.label, children: [...root.children, ...build(undefined)] }
}

/** ANSI: the cursor to the top left, and the screen below it cleared (a redraw in place). */
export const REDRAW = "\x1b[H\x1b[J"

/** A line a run logged, as `logLine` shows it. */
export interface LogLineView {
  readonly level: string
  readonly message: string
  readonly timestamp: Date
  readonly annotations: Readonly<Record<string, string>>
  readonly spans: ReadonlyArray<{ readonly label: string; readonly startTime: Date }>
}

/** The annotations every line of a run carries (its ids): the header says them once. */
const RUN_ANNOTATIONS = /^taskflow\.(run_id|flow_run_id)$/

/**
 * One log line: time, level, message, then the annotations (but the run's own ids) and spans with
 * how long each had run, as `key=value`. A message of several lines keeps its lines, indented.
 */
export const logLine = (line: LogLineView): string => {
  const time = `${formatTime(line.timestamp)}.${String(line.timestamp.getUTCMilliseconds()).padStart(3, "0")}`
  const extras = [
    ...Object.entries(line.annotations).filter(([key]) => !RUN_ANNOTATIONS.test(key)).map(([key, value]) =>
      `${key}=${value}`
    ),
    ...line.spans.map((span) => `${span.label}=${formatDuration(line.timestamp.getTime() - span.startTime.getTime())}`)
  ]
  const message = printable(line.message).replace(/\n/g, "\n    ")
  return `${time}  ${line.level.toUpperCase().padEnd(7)}  ${message}${
    extras.length === 0 ? "" : `  ${printable(extras.join(" "))}`
  }`
}
