/**
 * The `taskflow` command: its subcommands, and how an outcome becomes an exit code (0 success, 1 a
 * failed run or operation, 2 bad usage). Nothing in src/ imports this folder but src/bin/.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { createRequire } from "node:module"
import { CliFailure } from "./internal/failure.js"
import { exitCodeOnInterrupt } from "./internal/interrupt.js"
import { runsCommand } from "./runs.js"
import { serverCommand } from "./server.js"
import { storeCommand } from "./store.js"
import { workerCommand } from "./worker.js"

/** The command tree. */
export const command = Command.make("taskflow").pipe(
  Command.withDescription(
    "Run task workers, see, cancel and clean up the runs of an effect-taskflow store, and serve its web UI."
  ),
  Command.withSubcommands([workerCommand, runsCommand, storeCommand, serverCommand])
)

// From src/cli/ and from dist/cli/ alike, the package's manifest is two folders up.
const version = (createRequire(import.meta.url)("../../package.json") as { readonly version: string }).version

const cli = Command.run(command, { name: "taskflow", version })

/** The subcommand path the user typed ("runs ls"), for the hint after bad usage. */
export const commandPath = (args: ReadonlyArray<string>): string => {
  const names = new Set([
    "worker",
    "runs",
    "store",
    "server",
    "ls",
    "inspect",
    "logs",
    "cancel",
    "rerun",
    "watch",
    "prune",
    "info",
    "migrate"
  ])
  const path: Array<string> = []
  for (const arg of args) {
    if (arg.startsWith("-") || !names.has(arg)) break
    path.push(arg)
  }
  return ["taskflow", ...path].join(" ")
}

/**
 * The exit code of an outcome: 0 success, 2 bad usage, 1 anything else; a Ctrl-C 0, or 130 for a
 * command whose status says how a run ended (`runs watch <id>`, `runs logs --follow`).
 */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.isInterruptedOnly(exit.cause)) return exitCodeOnInterrupt()
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    if (failure.value instanceof CliFailure) return failure.value.exitCode
    if (ValidationError.isValidationError(failure.value)) return 2
  }
  return 1
}

/** Runs the command on `args` (without node and the script), reporting failures on stderr. */
export const main = (args: ReadonlyArray<string>) =>
  cli(["node", "taskflow", ...args]).pipe(
    Effect.tapErrorCause((cause) =>
      Effect.sync(() => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure) && failure.value instanceof CliFailure) {
          process.stderr.write(`${failure.value.message}\n`)
        } else if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
          // @effect/cli has printed what was wrong; say where the full usage is.
          process.stderr.write(`See \`${commandPath(args)} --help\` for its usage.\n`)
        } else if (!Cause.isInterruptedOnly(cause)) {
          process.stderr.write(`${Cause.pretty(cause)}\n`)
        }
      })
    )
  )
