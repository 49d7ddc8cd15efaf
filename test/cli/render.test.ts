/** The command's rendering and parsing, as pure functions: no store, no process. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { resolveStore } from "../../src/cli/internal/location.js"
import { jsonValue } from "../../src/cli/internal/output.js"
import {
  formatDuration,
  logLine,
  oneLine,
  parseAge,
  printable,
  runsTable,
  runTree,
  stateLabel,
  table,
  timeline,
  tree,
  uniquePrefixes
} from "../../src/cli/internal/render.js"
import { commandPath } from "../../src/cli/main.js"

describe("durations and ages", () => {
  it("formats durations with at most two units", () => {
    expect(formatDuration(0)).toBe("0ms")
    expect(formatDuration(850)).toBe("850ms")
    expect(formatDuration(4_250)).toBe("4.2s")
    expect(formatDuration(184_000)).toBe("3m 04s")
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe("2h 05m")
    expect(formatDuration(2 * 3_600_000)).toBe("2h")
    expect(formatDuration(30 * 86_400_000)).toBe("30d")
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d 4h")
    expect(formatDuration(-1)).toBe("-")
    expect(formatDuration(Number.NaN)).toBe("-")
  })

  it("parses ages of one number and one unit, and nothing else", () => {
    expect(parseAge("90s")).toBe(90_000)
    expect(parseAge("2h")).toBe(7_200_000)
    expect(parseAge("30d")).toBe(30 * 86_400_000)
    expect(parseAge("1.5h")).toBe(5_400_000)
    expect(parseAge("2w")).toBe(14 * 86_400_000)
    expect(parseAge("250ms")).toBe(250)
    expect(parseAge("2")).toBeUndefined()
    expect(parseAge("-2h")).toBeUndefined()
    expect(parseAge("2 hours")).toBeUndefined()
    expect(parseAge("h")).toBeUndefined()
  })
})

describe("tables", () => {
  it("labels a state with its name only when it is not the default", () => {
    expect(stateLabel("COMPLETED", "Completed")).toBe("COMPLETED")
    expect(stateLabel("FAILED", "TimedOut")).toBe("FAILED (TimedOut)")
    expect(stateLabel("SCHEDULED", "AwaitingRetry")).toBe("SCHEDULED (AwaitingRetry)")
  })

  it("pads columns to the widest cell and leaves no trailing spaces", () => {
    expect(table(["A", "BB", "C"], [["xxx", "y", ""], ["x", "yyy", "z"]])).toBe(
      ["A    BB   C", "xxx  y", "x    yyy  z"].join("\n")
    )
  })

  it("shows each id by its shortest prefix of 8+ characters that no other run shares", () => {
    const prefixes = uniquePrefixes([
      "01a24ac6-6de5-7000-8000-000000000001",
      "01a24ac6-6de8-7000-8000-000000000002",
      "01a24ac6-6de9-7000-8000-000000000003",
      "ffffffff-0000-7000-8000-000000000004"
    ])
    expect([...prefixes.values()]).toEqual(["01a24ac6-6de5", "01a24ac6-6de8", "01a24ac6-6de9", "ffffffff"])
    expect(uniquePrefixes(["abc", "abc"]).get("abc")).toBe("abc")
  })

  it("the runs table: prefix, kind, name, state, start, duration, attempts", () => {
    const text = runsTable([{
      id: "01a24ac6-6de5-7000-8000-000000000001",
      kind: "task",
      name: "double",
      stateType: "FAILED",
      stateName: "TimedOut",
      startedAt: new Date("2026-12-06T09:00:00.000Z"),
      durationMs: 1_500,
      attempts: 3
    }, {
      id: "02000000-0000-7000-8000-000000000001",
      kind: "flow",
      name: "pipeline",
      stateType: "SCHEDULED",
      stateName: "Scheduled",
      startedAt: undefined,
      durationMs: undefined,
      attempts: 0
    }])
    expect(text.split("\n")).toEqual([
      "ID        KIND  NAME      STATE              STARTED              DURATION  ATTEMPTS",
      "01a24ac6  task  double    FAILED (TimedOut)  2026-12-06 09:00:00  1.5s      3",
      "02000000  flow  pipeline  SCHEDULED          -                    -         0"
    ])
  })

  it("a timeline gives each state the time since the one before", () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 11, 6, 9, 0, 0, ms))
    const text = timeline([
      { type: "PENDING", name: "Pending", message: undefined, timestamp: at(0) },
      { type: "RUNNING", name: "Running", message: undefined, timestamp: at(12) },
      { type: "FAILED", name: "TimedOut", message: "took too long\nreally", timestamp: at(512) }
    ])
    expect(text.split("\n")).toEqual([
      "TIME                     AFTER   STATE              MESSAGE",
      "2026-12-06 09:00:00.000          PENDING",
      "2026-12-06 09:00:00.012  +12ms   RUNNING",
      "2026-12-06 09:00:00.512  +500ms  FAILED (TimedOut)  took too long ⏎ really"
    ])
  })

  it("cuts long messages to one line with a marker", () => {
    expect(oneLine("a".repeat(200), 10)).toBe(`${"a".repeat(9)}…`)
  })

  it("draws a flow run's task runs as a tree by their parent links", () => {
    const runs = [
      { id: "a", parentTaskRunId: undefined, name: "first" },
      { id: "b", parentTaskRunId: "a", name: "child" },
      { id: "c", parentTaskRunId: "gone", name: "orphan" }
    ]
    const drawn = tree(runTree({ label: "flow", children: [] }, runs, (run) => run.name))
    expect(drawn.split("\n")).toEqual(["flow", "├─ first", "│  └─ child", "└─ orphan"])
  })
})

describe("log lines", () => {
  it("time, level, message, then annotations but the run's ids, and spans with how long they ran", () => {
    const timestamp = new Date(Date.UTC(2026, 11, 6, 9, 0, 1, 250))
    const line = logLine({
      level: "Warning",
      message: "slow\nanswer",
      timestamp,
      annotations: { "taskflow.run_id": "r1", "taskflow.flow_run_id": "f1", url: "https://x/3" },
      spans: [{ label: "fetch", startTime: new Date(timestamp.getTime() - 250) }]
    })
    expect(line).toBe("2026-12-06 09:00:01.250  WARNING  slow\n    answer  url=https://x/3 fetch=250ms")
    expect(logLine({ level: "Info", message: "hi", timestamp, annotations: {}, spans: [] })).toBe(
      "2026-12-06 09:00:01.250  INFO     hi"
    )
  })
})

describe("values and arguments", () => {
  it("stored values become plain JSON", () => {
    const value = jsonValue({
      n: 1n,
      when: new Date(0),
      map: new Map([["k", new Set([1])]]),
      nan: Number.NaN,
      none: undefined,
      bytes: new Uint8Array([1, 2])
    })
    expect(value).toEqual({
      n: "1",
      when: "1970-01-01T00:00:00.000Z",
      map: [["k", [1]]],
      nan: "NaN",
      none: null,
      bytes: [1, 2]
    })
  })

  it("names the subcommand typed, for the hint after bad usage", () => {
    expect(commandPath(["runs", "ls", "--bogus"])).toBe("taskflow runs ls")
    expect(commandPath(["--bogus"])).toBe("taskflow")
    expect(commandPath(["runs", "nope"])).toBe("taskflow runs")
  })
})

describe("choosing the store", () => {
  const flags = (store?: string, schema?: string) => ({
    store: Option.fromNullable(store),
    schema: Option.fromNullable(schema)
  })

  it.effect("--store, else TASKFLOW_STORE, else .taskflow/runs.db, saying which", () =>
    Effect.gen(function*() {
      const given = yield* resolveStore(flags("/tmp/x.db"), { TASKFLOW_STORE: "/tmp/y.db" })
      expect(given).toMatchObject({ kind: "sqlite", target: "/tmp/x.db", chosenBy: "from --store" })
      const env = yield* resolveStore(flags(), { TASKFLOW_STORE: "/tmp/y.db" })
      expect(env).toMatchObject({ target: "/tmp/y.db", chosenBy: "from TASKFLOW_STORE" })
      const byDefault = yield* resolveStore(flags(), {})
      expect(byDefault.target.endsWith(".taskflow/runs.db")).toBe(true)
      expect(byDefault.chosenBy).toContain("the default")
    }))

  it.effect("a PostgreSQL URL with --schema sets its search_path, and hides the password", () =>
    Effect.gen(function*() {
      const location = yield* resolveStore(flags("postgres://me:secret@db:5432/app", "runs_a"), {})
      expect(location.kind).toBe("postgres")
      expect(new URL(location.target).searchParams.get("options")).toBe("-c search_path=runs_a")
      expect(location.display).not.toContain("secret")
      expect(location.schema).toBe("runs_a")
    }))

  it.effect("a schema that is not an identifier, or --schema with a SQLite file, is bad usage", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(resolveStore(flags("postgres://db/app", "x; DROP TABLE y"), {}))
      expect(bad.exitCode).toBe(2)
      const sqlite = yield* Effect.flip(resolveStore(flags("/tmp/x.db", "runs"), {}))
      expect(sqlite.exitCode).toBe(2)
      expect(sqlite.message).toContain("SQLite")
      // Upper case would be quoted by CREATE SCHEMA and folded by the search_path: two schemas.
      const upper = yield* Effect.flip(resolveStore(flags("postgres://db/app", "MyStore"), {}))
      expect(upper.exitCode).toBe(2)
    }))

  it.effect("a store URL that does not parse is not echoed: it may hold a password", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(resolveStore(flags("postgres://me:secret@db:port/app"), {}))
      expect(bad.exitCode).toBe(2)
      expect(bad.message).not.toContain("secret")
    }))
})

// The bug this catches: a log line or a task name with an escape sequence reached the terminal raw
// (it could set the title, write the clipboard, overwrite lines).
describe("text a run controls", () => {
  it("shows control characters as escapes, in tables, log lines and plain text", () => {
    const hostile = "a\u001b]52;c;aGk=\u0007b\rc\u009bd"
    expect(printable(hostile)).toBe("a\\u001b]52;c;aGk=\\u0007b\\u000dc\\u009bd")
    expect(printable("two\nlines\tand tab")).toBe("two\nlines\tand tab")
    const timestamp = new Date("2026-12-06T10:00:00.000Z")
    const line = logLine({ level: "Info", message: hostile, timestamp, annotations: { k: "\u001b[2J" }, spans: [] })
    expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
    expect(line).toContain("a\\u001b]52")
    expect(table(["NAME"], [[hostile]])).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
  })
})
