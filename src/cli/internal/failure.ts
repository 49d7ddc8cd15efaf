/**
 * How a command fails: a message for the user (what was wrong, what to do) and the exit code.
 * @internal
 */
import * as Data from "effect/Data"

/** A command failed: 1 for a failed run or operation, 2 for bad usage. */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: 1 | 2
}> {}

/** A failed run or operation (exit 1). */
export const failed = (message: string): CliFailure => new CliFailure({ message, exitCode: 1 })

/** Bad usage (exit 2). */
export const badUsage = (message: string): CliFailure => new CliFailure({ message, exitCode: 2 })
