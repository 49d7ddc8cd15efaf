/**
 * The typed errors of effect-taskflow. Every error is a `Schema.TaggedError` with a
 * `message`, so it can cross a process boundary and be matched with `Effect.catchTag`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A wait with a timeout ran out. Its message is one of Prefect's three:
 * "Task run <id> did not complete within <t> seconds", "<n> (of <m>) futures unfinished",
 * "Timed out waiting for all futures to complete within <t> seconds".
 *
 * @since 0.1.0
 * @category errors
 */
export class WaitTimeoutError extends Schema.TaggedError<WaitTimeoutError>()("WaitTimeoutError", {
  message: Schema.String
}) {}

/**
 * The run ended Cancelled, so it has no result.
 *
 * @since 0.1.0
 * @category errors
 */
export class CancelledRun extends Schema.TaggedError<CancelledRun>()("CancelledRun", {
  message: Schema.String
}) {}

/**
 * The run ended Crashed (its infrastructure failed, not its code), so it has no result.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrashedRun extends Schema.TaggedError<CrashedRun>()("CrashedRun", {
  message: Schema.String
}) {}

/**
 * The run is not in a final state (for example Pending named NotReady because an upstream
 * run did not complete, or Paused), so it has no result yet.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnfinishedRun extends Schema.TaggedError<UnfinishedRun>()("UnfinishedRun", {
  message: Schema.String
}) {}

/**
 * The run completed but its result was not kept (`persistResult: false`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingResult extends Schema.TaggedError<MissingResult>()("MissingResult", {
  message: Schema.String
}) {}

/**
 * An upstream run (a future passed as an argument or in `waitFor`) did not reach Completed.
 * A downstream run that sees one never runs: it ends Pending named NotReady with this message.
 * Under `Task.allowFailure` a NotReady upstream is passed to the task as this error.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamTaskError extends Schema.TaggedError<UpstreamTaskError>()("UpstreamTaskError", {
  message: Schema.String
}) {}

/**
 * `Task.map` was given iterables of different lengths.
 *
 * @since 0.1.0
 * @category errors
 */
export class MappingLengthMismatch extends Schema.TaggedError<MappingLengthMismatch>()("MappingLengthMismatch", {
  message: Schema.String
}) {}

/**
 * `Task.map` was given no iterable to map over (strings do not count, wrap static values in
 * `Task.unmapped`), or a future of an iterable that did not complete.
 *
 * @since 0.1.0
 * @category errors
 */
export class MappingMissingIterable extends Schema.TaggedError<MappingMissingIterable>()("MappingMissingIterable", {
  message: Schema.String
}) {}

/**
 * Two tasks or flows (a task and a flow too) were given the same name. Names identify tasks
 * across threads and processes, so they must be unique. Thrown by `Task.make`, `Flow.make` and
 * `task.with({ name })` (which may take a new name, but not one another task or flow has).
 * The name is in `taskName` (a field called `name` would hide the tag when the error prints).
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateTaskName extends Schema.TaggedError<DuplicateTaskName>()("DuplicateTaskName", {
  message: Schema.String,
  taskName: Schema.String
}) {}

/**
 * A task or flow run exceeded its `timeout`. The run ends Failed named TimedOut (its state's
 * `message` says so), with this error as a typed failure in its cause: `result()`, an inline call
 * and `State.result` fail with it, so `Effect.either`, `catchAll` and `catchTag("TaskTimeoutError")`
 * see it. A task or flow made with a `timeout` has it in its error type `E` (`Task.TimeoutErrorOf`).
 * It survives the run store and worker threads as this class.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Task, TaskRunner } from "effect-taskflow"
 *
 * const slow = Task.make({ name: "slow-timeout-example", timeout: "1 second" }, () => Effect.never)
 *
 * const program = Effect.gen(function*() {
 *   const future = yield* slow.submit()
 *   return yield* future.result().pipe(
 *     Effect.catchTag("TaskTimeoutError", (error) => Effect.succeed(error.message))
 *   )
 * }).pipe(Effect.provide(TaskRunner.concurrent()))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskTimeoutError extends Schema.TaggedError<TaskTimeoutError>()("TaskTimeoutError", {
  message: Schema.String
}) {}

/**
 * The run store does not know this run id. The stores always set `runId`; it is optional so that
 * the error can be made from a message alone, as the API contract declares it.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", {
  message: Schema.String,
  runId: Schema.optional(Schema.String)
}) {}

/**
 * The run store refused a state change its orchestration rules forbid (for example any
 * transition out of a final state).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()("InvalidTransition", {
  message: Schema.String,
  runId: Schema.String
}) {}

/**
 * The run store could not be reached or answered with an error. `unreachable` is true when the
 * store stayed out of reach (refused or dropped connections, a restart, SQLite busy) for the whole
 * of the SQL store's `reconnectFor`: the same call may succeed later. Other failures (a full disk,
 * a read-only file, a statement the server refused) will not.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunStoreError extends Schema.TaggedError<RunStoreError>()("RunStoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect),
  unreachable: Schema.optional(Schema.Boolean)
}) {}

/**
 * A value cannot cross a boundary (a run store, a worker thread) exactly as it was sent: without a
 * Schema, one that is not plain data or one of the rich values carried exactly (`Date`, `Map`,
 * `Set`, `bigint`, typed arrays, `undefined`, Errors) — a function, a symbol, a class instance, a
 * cyclic value, … — or one the task's `parameters`/`success`/`failure` Schema rejects. The message
 * names the argument (or the result, or the error), the place inside it and the fix: give the task
 * a Schema, or (for a result) `persistResult: false`. `delay`, `mapDelay` and `flow.delay` fail
 * with it in their error channel and create no run; a result or failure that cannot be kept ends
 * the run Failed with it as a defect. Nothing is stored or sent half-encoded. Values nest at most
 * 1000 levels deep (containers inside containers); a deeper one is refused naming the argument and
 * the bound. A run's row that does not read back (a result or failure that does not decode, tags
 * that are not a JSON array of strings, a state type no library writes) fails `getRun` with this
 * error, its `runId` and message naming the run and the column (see `RunRecord.corrupt`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SerializationError extends Schema.TaggedError<SerializationError>()("SerializationError", {
  message: Schema.String,
  /** The run whose value it was (always set by the library; optional as the API contract declares it). */
  runId: Schema.optional(Schema.String)
}) {}

/**
 * A worker pool's module does not define a task of this name (in `taskName`). The run ends
 * Failed with this error as a defect.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", {
  message: Schema.String,
  taskName: Schema.String
}) {}

/**
 * A worker pool could not start: its module failed to load in a worker thread (the error it
 * threw is in `message`), or no worker became ready within the start-up timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkerPoolError extends Schema.TaggedError<WorkerPoolError>()("WorkerPoolError", {
  message: Schema.String,
  module: Schema.String
}) {}

/**
 * A task or flow name (`Task.make`, `Flow.make`, `task.with({ name })`), or one of its tags, is not
 * one the run store and the workers can carry. Names must be 1 to 200 characters, tags 1 to 100, of
 * well-formed Unicode (no lone UTF-16 surrogate) without control characters (no NUL, C0, DEL or
 * C1). Thrown where the task or flow is made; `message` says what is wrong and where, `taskName` is
 * the name (the task's, for a tag).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Errors, Task } from "effect-taskflow"
 *
 * try {
 *   Task.make("bad\u0000name", () => Effect.void)
 * } catch (error) {
 *   if (error instanceof Errors.InvalidTaskName) {
 *     console.log(error.message) // "… the name contains a NUL character at position 3. …"
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTaskName extends Schema.TaggedError<InvalidTaskName>()("InvalidTaskName", {
  message: Schema.String,
  taskName: Schema.String
}) {}
