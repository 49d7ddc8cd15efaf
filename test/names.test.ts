/**
 * Names and tags of tasks and flows are validated where they are made (`InvalidTaskName`), and a
 * worker that claims a run whose name it does not serve fails that run and goes on serving.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Errors, Flow, Futures, RunStore, State, Task, TaskWorker } from "effect-taskflow"
import { storeCases } from "./support/stores.js"

/** The error `f` throws (it must throw). */
const thrownBy = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected a throw")
}

const invalidName = (f: () => unknown): Errors.InvalidTaskName => {
  const error = thrownBy(f)
  expect(error).toBeInstanceOf(Errors.InvalidTaskName)
  return error as Errors.InvalidTaskName
}

const noop = () => Effect.void

describe("task and flow names", () => {
  it("a NUL, another control character, DEL or a C1 control is refused, with its position", () => {
    expect(invalidName(() => Task.make("abcd\u0000", noop)).message).toContain(
      "contains a NUL character at position 4"
    )
    expect(invalidName(() => Task.make("esc\u001b[0m", noop)).message).toContain(
      "contains a control character (U+001B) at position 3"
    )
    expect(invalidName(() => Task.make("line\nbreak", noop)).message).toContain("(U+000A) at position 4")
    expect(invalidName(() => Task.make("del\u007f", noop)).message).toContain("(U+007F) at position 3")
    expect(invalidName(() => Task.make("c1\u0085", noop)).message).toContain("(U+0085) at position 2")
    // The name in the message is escaped: the NUL itself does not reach a log.
    const error = invalidName(() => Task.make({ name: "names-nul\u0000x" }, noop))
    expect(error.taskName).toBe("names-nul\u0000x")
    expect(error.message).not.toContain("\u0000")
    expect(error.message).toContain("names-nul\\u0000x")
  })

  it("a lone surrogate is refused; a surrogate pair (an emoji) is a well-formed name", () => {
    expect(invalidName(() => Task.make("lone\uD800", noop)).message).toContain(
      "contains a lone surrogate (U+D800) at position 4: it is not well-formed Unicode"
    )
    expect(invalidName(() => Task.make("\uDC00trail", noop)).message).toContain("lone surrogate (U+DC00) at position 0")
    expect(invalidName(() => Task.make("pair-reversed-\uDE00\uD83D", noop)).message).toContain("lone surrogate")
    const emoji = Task.make("names-rocket-\uD83D\uDE80", noop)
    expect(emoji.name).toBe("names-rocket-🚀")
  })

  it("an empty name, or one longer than 200 characters, is refused; 200 is allowed", () => {
    expect(invalidName(() => Task.make("", noop)).message).toContain("the name is empty")
    // 8,000 bytes made `delay` fail with PostgreSQL's "payload string too long" (the notification).
    const long = invalidName(() => Task.make("n".repeat(8000), noop))
    expect(long.message).toContain("is 8,000 characters; at most 200 are allowed")
    expect(long.message.length).toBeLessThan(600)
    expect(invalidName(() => Task.make("n".repeat(201), noop)).message).toContain("is 201 characters")
    expect(Task.make("names-" + "n".repeat(194), noop).name.length).toBe(200)
  })

  it("Flow.make and task.with({ name }) follow the same rules", () => {
    expect(invalidName(() => Flow.make("flow\u0000", noop)).message).toContain(
      "A flow cannot be named 'flow\\u0000': the name contains a NUL character at position 4"
    )
    const base = Task.make("names-with-base", noop)
    expect(invalidName(() => base.with({ name: "renamed\uD800" })).message).toContain("lone surrogate")
    expect(invalidName(() => base.with({ name: "x".repeat(300) })).message).toContain("is 300 characters")
    // A refused name is not registered: the valid name stays free.
    expect(base.with({ name: "names-with-renamed" }).name).toBe("names-with-renamed")
  })

  it("tags follow the same rules, with at most 100 characters each; the error names the task and the tag", () => {
    const error = invalidName(() => Task.make({ name: "names-tagged", tags: ["ok", "bad\u0000"] }, noop))
    expect(error.taskName).toBe("names-tagged")
    expect(error.message).toContain(
      "Tag 2 ('bad\\u0000') of task 'names-tagged' contains a NUL character at position 3"
    )
    expect(invalidName(() => Task.make({ name: "names-tagged-2", tags: [""] }, noop)).message).toContain("is empty")
    expect(invalidName(() => Task.make({ name: "names-tagged-3", tags: ["t".repeat(101)] }, noop)).message)
      .toContain("is 101 characters; at most 100")
    expect(invalidName(() => Flow.make({ name: "names-tagged-flow", tags: ["\uD800"] }, noop)).message)
      .toContain("of flow 'names-tagged-flow' contains a lone surrogate")
    const base = Task.make("names-tagged-with", noop)
    expect(invalidName(() => base.with({ tags: ["\u0007"] })).message).toContain("U+0007")
    // The refused task names were not registered.
    expect(Task.make({ name: "names-tagged", tags: ["ok"] }, noop).name).toBe("names-tagged")
  })
})

const double = Task.make("names-double", (n: number) => Effect.succeed(n * 2))
/** A name no worker here serves; the store wrapper below claims it as well (the surrogate becomes U+FFFD on the SQL stores). */
const ODD = "names-odd-\uD800"

for (const store of storeCases) {
  describe.skipIf(!store.available)(`a worker on ${store.name}`, () => {
    it.live("is unaffected by refused names: it serves its valid tasks", () =>
      Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(TaskWorker.serve([double], { heartbeatInterval: 20 }))
        invalidName(() => Task.make(`names-${store.name}-lone\uD800`, noop))
        invalidName(() => Task.make(`names-${store.name}-nul\u0000`, noop))
        invalidName(() => double.with({ name: `names-${store.name}-\u0000` }))
        const future = yield* double.delay(21)
        expect(yield* future.result({ timeout: "10 seconds" })).toBe(42)
      })).pipe(Effect.provide(store.fresh())))

    // The bug this catches: a claimed run of a name the worker does not serve (a lone surrogate the
    // store kept as U+FFFD) threw a TypeError in the claim handling, and the worker stopped.
    it.live("fails a claimed run whose name it does not serve, and goes on serving its other runs", () =>
      Effect.scoped(Effect.gen(function*() {
        const runStore = yield* RunStore.RunStore
        // A store that returns runs of a name the worker did not ask for.
        const strange: RunStore.Service = {
          ...runStore,
          claimRuns: (options) => runStore.claimRuns({ ...options, names: [...options.names, ODD] })
        }
        const oddId = crypto.randomUUID()
        yield* runStore.createRun({ id: oddId, kind: "task", name: ODD, state: State.scheduled() })
        const valid = yield* double.delay(1)
        yield* Effect.forkScoped(
          TaskWorker.serve([double], { concurrency: 4, heartbeatInterval: 20 }).pipe(
            Effect.provideService(RunStore.RunStore, strange)
          )
        )
        expect(yield* valid.result({ timeout: "10 seconds" })).toBe(2)
        const odd = yield* Futures.PrefectDistributedFuture.make(oddId)
        yield* odd.wait({ timeout: "10 seconds" })
        const state = yield* odd.state
        expect(state.type).toBe("FAILED")
        expect(state.message).toContain("which this task worker does not serve")
        expect(state.message).toContain(`Run ${oddId} is of task "names-odd-`)
        // The worker is still serving.
        const later = yield* double.delay(5)
        expect(yield* later.result({ timeout: "10 seconds" })).toBe(10)
      })).pipe(Effect.provide(store.fresh())))
  })
}
