/**
 * `taskflow runs logs <id>`: what a run logged (its last `--tail` lines), and with `--follow` each
 * new line until the run is final.
 * @internal
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as RunStore from "../../RunStore.js"
import { storeFailed, withStore } from "./context.js"
import type { OutputFormat, StoreFlags } from "./flags.js"
import { resolveRun } from "./ids.js"
import { interruptMeansUnfinished } from "./interrupt.js"
import { logLine, printable } from "./render.js"

/** Prints lines as text, a JSON array, or one JSON object a line. */
export const printLogs = (lines: ReadonlyArray<RunStore.RunLog>, format: OutputFormat) =>
  format === "table"
    ? Effect.forEach(lines, (line) => Console.log(logLine(line)), { discard: true })
    : format === "json"
    ? Effect.flatMap(
      Effect.orDie(Schema.encode(Schema.Array(RunStore.RunLog))(lines)),
      (encoded) => Console.log(JSON.stringify(encoded, null, 2))
    )
    : Effect.forEach(
      lines,
      (line) =>
        Effect.flatMap(Effect.orDie(Schema.encode(RunStore.RunLog)(line)), (encoded) =>
          Console.log(JSON.stringify(encoded))),
      { discard: true }
    )

/** The run's last `tail` lines (every line without one). */
export const lastLines = (runId: string, tail: number | undefined) =>
  Effect.flatMap(
    RunStore.RunStore,
    (store) =>
      Effect.map(store.getLogs(runId), (lines) =>
        tail === undefined ? lines : lines.slice(Math.max(0, lines.length - tail)))
  )

/** `runs logs`. With `--follow`, `-o json` prints one object a line (a stream has no end to close an array). */
export const logs = (
  flags: StoreFlags & {
    readonly output: OutputFormat
    readonly id: string
    readonly follow: boolean
    readonly tail: Option.Option<number>
  }
) =>
  withStore(flags, (location) =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const run = yield* resolveRun(location, flags.id)
      const format = flags.follow && flags.output === "json" ? "jsonl" : flags.output
      const lines = yield* lastLines(run.id, Option.getOrUndefined(flags.tail)).pipe(
        Effect.mapError(storeFailed(location))
      )
      if (!flags.follow && lines.length === 0 && format === "table") {
        return yield* Console.error(`Run ${run.id} (${run.kind} ${printable(run.name)}) logged nothing.`)
      }
      yield* printLogs(lines, format)
      if (!flags.follow) return
      yield* interruptMeansUnfinished
      // On stderr: stdout stays the lines alone, for a pipe.
      yield* Console.error(
        `Following the logs of ${run.id} (${run.kind} ${printable(run.name)}) until it ends; Ctrl-C to stop.`
      )
      yield* store.followLogs(run.id, { after: lines.at(-1)?.seq ?? 0 }).pipe(
        Stream.mapError(storeFailed(location)),
        Stream.runForEach((line) => printLogs([line], format))
      )
    }))
