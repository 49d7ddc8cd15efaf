import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Schema } from "effect"
import { Errors, State } from "effect-taskflow"

describe("State", () => {
  it("names default to the capitalised type and can be refined", () => {
    expect(State.pending().name).toBe("Pending")
    expect(State.cancelling().name).toBe("Cancelling")
    const notReady = State.pending({ name: "NotReady", message: "upstream failed" })
    expect(notReady).toMatchObject({ type: "PENDING", name: "NotReady", message: "upstream failed" })
    expect(State.running().message).toBeUndefined()
    expect(State.running().timestamp).toBeInstanceOf(Date)
  })

  it("isFinal holds for Completed, Failed, Crashed and Cancelled only", () => {
    const all: ReadonlyArray<State.State<number, string>> = [
      State.scheduled(),
      State.pending(),
      State.running(),
      State.completed(1),
      State.failed(Cause.fail("e")),
      State.crashed(Cause.die("x")),
      State.cancelled(),
      State.paused(),
      State.cancelling()
    ]
    expect(all.filter(State.isFinal).map((s) => s.type)).toEqual(["COMPLETED", "FAILED", "CRASHED", "CANCELLED"])
    expect(all.filter(State.isPaused).length).toBe(1)
    expect(all.filter(State.isScheduled).length).toBe(1)
    expect(all.filter(State.isPending).length).toBe(1)
    expect(all.filter(State.isRunning).length).toBe(1)
    expect(all.filter(State.isCompleted).length).toBe(1)
    expect(all.filter(State.isFailed).length).toBe(1)
    expect(all.filter(State.isCrashed).length).toBe(1)
    expect(all.filter(State.isCancelled).length).toBe(1)
  })

  it.effect("result returns a Completed value and re-raises a Failed cause as it was", () =>
    Effect.gen(function*() {
      expect(yield* State.result(State.completed(42))).toBe(42)
      const typed = yield* Effect.exit(State.result(State.failed(Cause.fail("typed"))))
      expect(typed).toEqual(Exit.fail("typed"))
      const defect = yield* Effect.exit(State.result(State.failed(Cause.die("boom"))))
      expect(Exit.isFailure(defect) && Cause.isDie(defect.cause)).toBe(true)
    }))

  it.effect("result fails with CrashedRun, CancelledRun, UnfinishedRun and MissingResult", () =>
    Effect.gen(function*() {
      const crashed = yield* Effect.flip(
        State.result<never, never>(State.crashed(Cause.die("x"), { message: "worker died" }))
      )
      expect(crashed).toBeInstanceOf(Errors.CrashedRun)
      expect(crashed.message).toBe("worker died")
      const cancelled = yield* Effect.flip(State.result<never, never>(State.cancelled()))
      expect(cancelled).toEqual(new Errors.CancelledRun({ message: "Run cancelled." }))
      const paused = yield* Effect.flip(State.result<never, never>(State.paused()))
      expect(paused._tag).toBe("UnfinishedRun")
      const notReady = yield* Effect.flip(State.result<never, never>(State.pending({ name: "NotReady" })))
      expect(notReady.message).toContain("PENDING state (NotReady)")
      const missing = yield* Effect.flip(State.result<never, never>(State.completedWithoutResult()))
      expect(missing._tag).toBe("MissingResult")
    }))

  it.effect("result with raiseOnFailure: false returns the outcome as an Exit", () =>
    Effect.gen(function*() {
      expect(yield* State.result(State.completed(1), { raiseOnFailure: false })).toEqual(Exit.succeed(1))
      expect(yield* State.result(State.failed(Cause.fail("e")), { raiseOnFailure: false })).toEqual(Exit.fail("e"))
      const cancelled = yield* State.result(State.cancelled(), { raiseOnFailure: false })
      expect(cancelled).toEqual(Exit.fail(new Errors.CancelledRun({ message: "Run cancelled." })))
      const unfinished = yield* Effect.flip(State.result(State.running(), { raiseOnFailure: false }))
      expect(unfinished._tag).toBe("UnfinishedRun")
    }))

  it.effect("schema round-trips every state through JSON", () =>
    Effect.gen(function*() {
      const schema = State.schema(Schema.Number, Schema.String)
      const states: ReadonlyArray<State.State<number, string>> = [
        State.scheduled({ name: "AwaitingRetry", message: "retry 1" }),
        State.pending({ name: "NotReady" }),
        State.running(),
        State.completed(7),
        State.completedWithoutResult(),
        State.failed(Cause.fail("bad"), { name: "Failed" }),
        State.crashed(Cause.die(new Error("gone"))),
        State.cancelled(),
        State.paused(),
        State.cancelling()
      ]
      for (const state of states) {
        const encoded = JSON.parse(JSON.stringify(yield* Schema.encode(schema)(state)))
        const decoded = yield* Schema.decodeUnknown(schema)(encoded)
        expect(decoded.type).toBe(state.type)
        expect(decoded.name).toBe(state.name)
        expect(decoded.timestamp.getTime()).toBe(state.timestamp.getTime())
        if (state.type === "COMPLETED" && decoded.type === "COMPLETED") {
          expect(State.hasResult(decoded)).toBe(State.hasResult(state))
          if (State.hasResult(state)) expect(decoded.value).toBe(state.value)
        }
      }
      const failed = yield* Schema.decodeUnknown(schema)(
        JSON.parse(JSON.stringify(yield* Schema.encode(schema)(State.failed(Cause.fail("bad")))))
      )
      expect(failed.type === "FAILED" && Cause.failures(failed.cause).pipe(Chunk.toReadonlyArray)).toEqual(["bad"])
    }))

  it.effect("schema rejects a value its success schema does not accept", () =>
    Effect.gen(function*() {
      const schema = State.schema(Schema.Number, Schema.String)
      const error = yield* Effect.flip(
        Schema.decodeUnknown(schema)({
          type: "COMPLETED",
          name: "Completed",
          timestamp: new Date().toISOString(),
          value: "x"
        })
      )
      expect(error._tag).toBe("ParseError")
    }))
})
