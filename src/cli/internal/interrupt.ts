/**
 * The exit code of a Ctrl-C. 0 for most commands, but 130 (a shell's code for SIGINT) for those
 * whose exit status says how a run ended: `taskflow runs watch <id> && deploy` must not deploy
 * when the watch was stopped before the run completed.
 * @internal
 */
import * as Effect from "effect/Effect"

let interruptedExitCode = 0

/** From now on, a Ctrl-C ends the command with 130. */
export const interruptMeansUnfinished: Effect.Effect<void> = Effect.sync(() => {
  interruptedExitCode = 130
})

/** The exit code of a Ctrl-C for the command that ran. */
export const exitCodeOnInterrupt = (): number => interruptedExitCode
