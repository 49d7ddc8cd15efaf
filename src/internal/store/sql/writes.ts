/**
 * A SQL store's writes outside a task worker's own: creating runs, guarded state changes (through
 * the group-commit writer), cancels.
 * @internal
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Errors from "../../../Errors.js"
import type * as RunStore_ from "../../../RunStore.js"
import type * as State from "../../../State.js"
import * as state_ from "../../core/state.js"
import type { AnyState } from "../../core/state.js"
import { checkTransition, notAttempt, notFound, notHeld } from "../rules.js"
import type { Dialect } from "./dialect.js"
import type { InProcessHolds } from "./inProcess.js"
import { readRun } from "./reads.js"
import type { Call } from "./retry.js"
import type { NewRunRow } from "./rows.js"
import { heldInProcess, makeNewRow } from "./rows.js"
import type { Subscriptions } from "./subscriptions.js"
import type { Condition, Writer } from "./writer.js"

/** Why a guarded update changed nothing. */
export const refusal = (sql: SqlClient.SqlClient) => (runId: string, stored: AnyState, condition: Condition) =>
  Effect.map(readRun(sql, runId), (current): Errors.RunNotFound | Errors.InvalidTransition => {
    if (current === undefined) return notFound(runId)
    if (condition.workerId !== undefined && current.worker_id !== condition.workerId) {
      return notHeld(runId, condition.workerId)
    }
    if (condition.attempt !== undefined && Number(current.run_count) !== condition.attempt) {
      return notAttempt(runId, condition.attempt, Number(current.run_count))
    }
    const currentState = state_.make(current.state_type as State.StateType) as AnyState
    return checkTransition(runId, currentState, stored) ?? new Errors.InvalidTransition({
      runId,
      message: `Run ${runId} changed while it was being moved to ${stored.type}.`
    })
  })

/** A guarded state change of a run, through the write queue. */
export type Transition = (
  runId: string,
  state: AnyState,
  setOptions: { readonly runCount?: number | undefined; readonly name?: string | undefined },
  condition: Condition
) => Effect.Effect<void, Errors.RunNotFound | Errors.InvalidTransition | SqlError>

/** A guarded state change, through the writer's batch. @internal */
export const makeTransition = (sql: SqlClient.SqlClient, writer: Writer): Transition =>
(
  runId,
  state,
  setOptions,
  condition
) =>
  // A worker's writes name the task: no read first (the hot path, without a generator).
  setOptions.name !== undefined
    ? writer.move(runId, setOptions.name, state, setOptions.runCount, condition)
    : Effect.flatMap(
      readRun(sql, runId),
      (row) =>
        row === undefined
          ? Effect.fail(notFound(runId))
          : writer.move(runId, row.name, state, setOptions.runCount, condition)
    )

/** Many runs in few statements (500 a statement): how `mapDelay` schedules thousands at once. */
export const makeCreateRuns = (
  { call, dialect, holds, subscriptions }: {
    readonly call: Call
    readonly dialect: Dialect
    readonly subscriptions: Subscriptions
    /** The holder of runs of this process, and their lease in ms. */
    readonly holds: { readonly holder: string; readonly lease: number; readonly track: InProcessHolds["track"] }
  }
) => {
  const newRow = makeNewRow(holds)
  const create = (runs: ReadonlyArray<RunStore_.NewRun>) =>
    Effect.gen(function*() {
      const createdIn = subscriptions.creatingIn()
      // A plain loop, not a fiber step per run: `mapDelay` creates thousands at once.
      const rows: Array<NewRunRow> = new Array(runs.length)
      for (let i = 0; i < runs.length; i++) {
        const row = newRow(runs[i])
        if (Either.isLeft(row)) return yield* Effect.fail(row.left)
        rows[i] = row.right
      }
      const scheduled = Array.from(
        new Set(runs.filter((run) => run.state.type === "SCHEDULED").map((run) => run.name))
      )
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500)
        // Known before the statement is sent: a worker can claim and finish a run, and its final
        // state be heard, before this process reads the statement's answer (or sends the batch's
        // next statement). Heard before the run was known, that state was dropped, and the run's
        // future waited for the polling fallback (up to `maxPollInterval`).
        for (let j = i; j < i + chunk.length; j++) subscriptions.remember(runs[j].id, runs[j].state, createdIn)
        yield* call(
          `create ${chunk.length === 1 ? `run ${chunk[0].id}` : `${chunk.length} runs`}`,
          // A retried insert after a lost reply finds its own rows: nothing is created twice.
          dialect.insertRuns(chunk)
        ).pipe(
          // Not created (or not known to be): read at subscription, as any run not created here.
          Effect.tapError(() =>
            Effect.sync(() => {
              for (let j = i; j < i + chunk.length; j++) subscriptions.forget(runs[j].id)
            })
          ),
          i === 0 ? identity : Effect.mapError(partlyCreated(i, rows.length))
        )
      }
      // Created held (rows.ts): renewed from now on. A batch that failed part-way leaves its runs
      // of this process unstarted and unrenewed: recovered, Crashed, once their leases end.
      holds.track(runs.filter((run) => heldInProcess(run.state)).map((run) => run.id))
      for (const run of runs) subscriptions.push(run.id, run.state)
      scheduled.forEach((name) => subscriptions.pushScheduled(name))
    })
  // Runs created held are tracked in the same step as their insert: an interrupt while the insert is
  // in flight (which may commit) would leave them held and never renewed, nor stopped.
  return (runs: ReadonlyArray<RunStore_.NewRun>) =>
    runs.some((run) => heldInProcess(run.state)) ? Effect.uninterruptible(create(runs)) : create(runs)
}

/**
 * A batch's failure after its first `created` runs were written (each statement commits its own):
 * those exist and will run, and the error says so, since the caller gets no futures for them.
 */
const partlyCreated = (created: number, total: number) => <E>(error: E): E | Errors.RunStoreError =>
  error instanceof Errors.RunStoreError
    ? new Errors.RunStoreError({
      message: `${error.message} The batch's first ${created} of ${total} runs were created before that, ` +
        `and will run (listRuns finds them); the other ${total - created} were not created.`,
      cause: error.cause
    })
    : error

/**
 * Asks for a run to be cancelled: at once if no worker holds it, or if this store holds it and
 * nothing here runs it yet (see `InProcessHolds.attached`); else through Cancelling.
 */
export const makeCancelRun = (
  { call, getRun, holds, transition }: {
    readonly call: Call
    readonly getRun: RunStore_.Service["getRun"]
    readonly holds: Pick<InProcessHolds, "holder" | "holds" | "attached" | "settled">
    readonly transition: Transition
  }
): RunStore_.Service["cancelRun"] =>
(runId) =>
  Effect.gen(function*() {
    while (true) {
      const run = yield* getRun(runId)
      if (state_.isFinal(run.state) || run.state.type === "CANCELLING") return run.state
      const timestamp = new Date(yield* Clock.currentTimeMillis)
      const unheld = run.workerId === undefined
      const unstarted = run.workerId === holds.holder && holds.holds(runId) && !holds.attached(runId)
      const next = unheld
        ? state_.cancelled({ timestamp, message: "Cancelled before a task worker started it." })
        : unstarted
        ? state_.cancelled({ timestamp, message: `Cancelled before process ${holds.holder} started it.` })
        : state_.cancelling({ timestamp })
      const moved = yield* call(
        `cancel run ${runId}`,
        Effect.either(
          transition(runId, next, { name: run.name }, unheld ? { unheld } : { workerId: run.workerId })
        )
      )
      if (unstarted) holds.settled(runId, next)
      // Refused: a worker claimed or finished it meanwhile. Read again and decide again.
      if (Either.isRight(moved)) return next
    }
  })
