/**
 * The web UI in a real browser (Debian's Chromium through playwright-core): the pages a user opens,
 * their live updates, an action from the page, and user-controlled text that must stay text. The
 * server runs in this process on a fresh SQLite store; runs are made in this process too (flows,
 * task runs, and a task worker that holds a run until the test lets it go).
 */
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Layer } from "effect"
import { Flow, RunStore, State, Task, TaskRunner, TaskWorker } from "effect-taskflow"
import type { Page } from "playwright-core"
import { browserAvailable, browserLayer, navigateBy, pw, serverLayer, ServerUrl, withPage } from "./browserHarness.js"

/** How long a page may take to show what the test waits for (never a fixed sleep). */
const SHOWN = { timeout: 10_000 }

const double = Task.make("browser-double", (n: number) => Effect.succeed(n * 2))
const picky = Task.make("browser-picky", (n: number) => n === 3 ? Effect.fail(`no ${n}`) : Effect.succeed(n))
const mapFlow = Flow.make(
  { name: "browser-map-flow", taskRunner: TaskRunner.concurrent() },
  (xs: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const doubled = yield* double.map(xs)
      const checked = yield* picky.map(xs)
      yield* checked.wait()
      return yield* doubled.result()
    })
)

/** The gates of `gated` runs, by key: started when its body runs, released by the test. */
const gates = new Map<
  string,
  { readonly started: Deferred.Deferred<void>; readonly release: Deferred.Deferred<void> }
>()
const gated = Task.make("browser-gated", (key: string) =>
  Effect.suspend(() => {
    const gate = gates.get(key)!
    return Deferred.succeed(gate.started, undefined).pipe(Effect.zipRight(Deferred.await(gate.release)), Effect.as(key))
  }))

/** A `gated` run a task worker of this process holds, Running until `release` is done. */
const startGated = Effect.gen(function*() {
  const key = crypto.randomUUID()
  const gate = { started: yield* Deferred.make<void>(), release: yield* Deferred.make<void>() }
  gates.set(key, gate)
  yield* Effect.forkScoped(TaskWorker.serve([gated], { heartbeatInterval: 100, shutdownGracePeriod: 0 }))
  const future = yield* gated.delay(key)
  yield* Deferred.await(gate.started)
  return { future, release: gate.release }
})

const EVIL = "<img src=x onerror=alert(1)>"
const evil = Task.make({ name: EVIL, tags: [EVIL] }, (text: string, more: string) =>
  Effect.gen(function*() {
    yield* Effect.log(EVIL)
    yield* Effect.log(more)
    return text
  }))

/** Counts the page's own navigations (reloads, link follows) from now on. */
const countNavigations = (page: Page) => {
  let count = 0
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) count++
  })
  return () => count
}

const runStateOf = (page: Page) => pw(() => page.getAttribute("#run-state", "data-state-type"))

describe.skipIf(!browserAvailable)("the browser harness", () => {
  layer(browserLayer, { excludeTestServices: true, timeout: 60_000 })("pages", (it) => {
    it.effect("fails a test whose page opened a dialog or threw, even when its own checks pass", () =>
      Effect.gen(function*() {
        const misbehaving = (html: string) =>
          withPage((page) => pw(() => page.setContent(html))).pipe(Effect.exit, Effect.map(Exit.isFailure))
        expect(yield* misbehaving("<img src=x onerror=alert(1)>")).toBe(true)
        expect(yield* misbehaving("<script>null.boom</script>")).toBe(true)
        expect(yield* misbehaving("<p>fine</p>")).toBe(false)
      }))
  })
})

describe.skipIf(!browserAvailable)("web UI in Chromium", () => {
  layer(Layer.mergeAll(browserLayer, serverLayer), { excludeTestServices: true, timeout: 60_000 })("pages", (it) => {
    it.effect("the runs page shows finished runs by state; the state filter keeps only that state", () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* ServerUrl
        const name = `browser-listed-${crypto.randomUUID().slice(0, 8)}`
        const run = (state: State.State<unknown, unknown>) => ({
          id: crypto.randomUUID(),
          kind: "task" as const,
          name,
          state
        })
        const completed = [run(State.completed(1)), run(State.completed(2))]
        const failed = [
          run(State.failed(Cause.fail("no"))),
          run(State.failed(Cause.fail("slow"), { name: "TimedOut" }))
        ]
        yield* store.createRuns([...completed, ...failed])

        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs`))
            for (const { id } of completed) {
              const badge = page.locator(`table#runs tr[data-run-id="${id}"] .state[data-state-type="COMPLETED"]`)
              expect(yield* pw(() => badge.textContent())).toBe("Completed")
              expect(yield* pw(() => page.locator(`tr[data-run-id="${id}"] a.run-name`).textContent())).toBe(name)
            }
            const timedOut = page.locator(`tr[data-run-id="${failed[1].id}"] .state[data-state-type="FAILED"]`)
            expect(yield* pw(() => timedOut.textContent())).toBe("TimedOut")
            const failedCount = yield* pw(() => page.textContent(`#counts [data-state-type="FAILED"] .count`))
            expect(Number(failedCount)).toBeGreaterThanOrEqual(2)

            yield* pw(() => page.selectOption("form#filters select[name=state]", "FAILED"))
            yield* navigateBy(page, /[?&]state=FAILED/, () => page.click("form#filters button[type=submit]"))
            const states = yield* pw(() =>
              page.$$eval("table#runs tr[data-run-id] .state", (badges) =>
                badges.map((b) => b.getAttribute("data-state-type")))
            )
            expect(states.length).toBeGreaterThanOrEqual(2)
            expect(new Set(states)).toEqual(new Set(["FAILED"]))
            const ids = yield* pw(() =>
              page.$$eval("table#runs tr[data-run-id]", (rows) =>
                rows.map((row) => row.getAttribute("data-run-id")))
            )
            expect(ids).toEqual(expect.arrayContaining(failed.map(({ id }) => id)))
            expect(ids).not.toContain(completed[0].id)
          })
        )
      }))

    it.effect("a flow run's page shows one bar per task run on its timeline, and its task runs", () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* ServerUrl
        yield* mapFlow([1, 2, 3, 4]).pipe(Effect.exit)
        const [flowRun] = yield* store.listRuns({ kind: "flow", name: "browser-map-flow", order: "newest", limit: 1 })
        const taskRuns = yield* store.listRuns({ flowRunId: flowRun.id })
        expect(taskRuns).toHaveLength(8)

        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs?kind=flow&name=browser-map-flow`))
            yield* navigateBy(
              page,
              `${base}/runs/${flowRun.id}`,
              () => page.click(`tr[data-run-id="${flowRun.id}"] a.run-name`)
            )
            expect(yield* pw(() => page.textContent("h1#run-name"))).toBe("browser-map-flow")
            const bars = yield* pw(() =>
              page.$$eval("#timeline .bar[data-run-id]", (bars) => bars.map((bar) => bar.getAttribute("data-run-id")))
            )
            expect([...bars].sort()).toEqual(taskRuns.map(({ id }) => id).sort())
            const rows = yield* pw(() => page.locator("table#task-runs tr[data-run-id]").count())
            expect(rows).toBe(8)
            const failedRun = taskRuns.find((run) => run.state.type === "FAILED")!
            const badge = `table#task-runs tr[data-run-id="${failedRun.id}"] .state`
            expect(yield* pw(() => page.getAttribute(badge, "data-state-type"))).toBe("FAILED")
          })
        )
      }))

    it.effect("a flow run's many runs of one task show as one group on the timeline, counted by state", () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* ServerUrl
        const flowRunId = crypto.randomUUID()
        yield* store.createRuns([{
          id: flowRunId,
          kind: "flow",
          name: "browser-wide-flow",
          state: State.completed(null)
        }])
        const mapped = Array.from({ length: 30 }, (_, i) => ({
          id: crypto.randomUUID(),
          kind: "task" as const,
          name: "browser-mapped",
          flowRunId,
          state: i < 26 ? State.completed(i) : State.failed(Cause.fail("no"))
        }))
        yield* store.createRuns(mapped)

        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs/${flowRunId}`))
            const group = page.locator(`#timeline .group[data-task-name="browser-mapped"]`)
            expect(yield* pw(() => group.count())).toBe(1)
            expect(yield* pw(() => page.locator("#timeline .bar[data-run-id]").count())).toBe(0)
            const count = (type: string) => pw(() => group.locator(`[data-state-type="${type}"] .count`).textContent())
            expect(yield* count("COMPLETED")).toBe("26")
            expect(yield* count("FAILED")).toBe("4")
          })
        )
      }))

    it.effect("a running run's page turns Completed live, without a reload", () =>
      Effect.scoped(Effect.gen(function*() {
        const base = yield* ServerUrl
        const { future, release } = yield* startGated
        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs/${future.taskRunId}`))
            expect(yield* runStateOf(page)).toBe("RUNNING")
            const navigations = countNavigations(page)
            yield* Deferred.succeed(release, undefined)
            yield* pw(() => page.waitForSelector(`#run-state[data-state-type="COMPLETED"]`, SHOWN))
            expect(yield* pw(() => page.textContent("#run-state"))).toBe("Completed")
            expect(navigations()).toBe(0)
          })
        )
      })))

    it.effect("cancelling a running run from its page, after confirming, ends it Cancelled in the store", () =>
      Effect.scoped(Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* ServerUrl
        const { future } = yield* startGated
        const id = future.taskRunId
        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs/${id}`))
            yield* navigateBy(page, `${base}/runs/${id}/cancel`, () => page.click("a#cancel-run"))
            // The confirmation page changes nothing: the run is still running.
            expect((yield* store.getRun(id)).state.type).toBe("RUNNING")
            yield* navigateBy(page, `${base}/runs/${id}?done=cancel`, () =>
              page.click("form#confirm button[type=submit]"))
            yield* pw(() =>
              page.waitForSelector("#outcome", SHOWN)
            )
            yield* future.wait({ timeout: "10 seconds" })
            expect((yield* future.state).type).toBe("CANCELLED")
            yield* pw(() => page.waitForSelector(`#run-state[data-state-type="CANCELLED"]`, SHOWN))
          })
        )
      })))

    it.effect("a task's name, parameters and log lines that hold HTML show as text, and run no script", () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        const base = yield* ServerUrl
        const script = "<script>alert(2)</script>"
        const future = yield* Effect.tap(evil.submit(EVIL, script), (future) => future.wait()).pipe(
          Effect.provide(TaskRunner.concurrent())
        )
        expect((yield* store.getRun(future.taskRunId)).state.type).toBe("COMPLETED")

        const noInjectedElements = (page: Page) =>
          Effect.gen(function*() {
            const images = yield* pw(() => page.locator(`img[src="x"], [onerror]`).count())
            const scripts = yield* pw(() => page.locator("script", { hasText: "alert" }).count())
            const injected = images + scripts
            expect(injected).toBe(0)
          })

        yield* withPage((page) =>
          Effect.gen(function*() {
            yield* pw(() => page.goto(`${base}/runs/${future.taskRunId}`))
            expect(yield* pw(() => page.textContent("h1#run-name"))).toBe(EVIL)
            expect(yield* pw(() => page.textContent("#parameters"))).toContain(script)
            expect(yield* pw(() => page.textContent("#result"))).toContain(EVIL)
            const lines = yield* pw(() =>
              page.$$eval("#logs .log-line", (lines) => lines.map((line) => line.textContent))
            )
            expect(lines.join("\n")).toContain(EVIL)
            expect(lines.join("\n")).toContain(script)
            yield* noInjectedElements(page)

            yield* pw(() => page.goto(`${base}/runs?name=${encodeURIComponent(EVIL)}`))
            const link = page.locator(`tr[data-run-id="${future.taskRunId}"] a.run-name`)
            expect(yield* pw(() => link.textContent())).toBe(EVIL)
            yield* noInjectedElements(page)
          })
        )
      }))
  })
})
