/**
 * The web UI's pages (src/internal/server/pages/) over real HTTP (`NodeHttpServer.layerTest`): the
 * runs page's default view, filters, pagination and counts; flow and task run pages (a flow of many
 * mapped runs grouped, values cut, logs); cancel and rerun with their confirmation, CSRF and
 * read-only refusals; 404 and 400 pages; hostile text shown as text. On every store (memory, SQLite,
 * PostgreSQL when it answers), since the pages' reads differ by store.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
import { Errors, Flow, RunStore, State, Task, TaskRunner } from "effect-taskflow"
import * as vm from "node:vm"
import { appJs } from "../../src/internal/server/pages/appJs.js"
import { PageContext } from "../../src/internal/server/pages/context.js"
import { pagesRouter } from "../../src/internal/server/pages/router.js"
import { makeRun } from "../support/storeRuns.js"
import { storeCases } from "../support/stores.js"

const HOSTILE = "<img src=x onerror=alert(1)>"
const CSRF = "test-csrf-token"

const serverOf = (
  readOnly: boolean,
  store: Layer.Layer<RunStore.RunStore, unknown> = RunStore.memory,
  basePath = ""
) =>
  HttpServer.serve(pagesRouter).pipe(
    Layer.provide(Layer.succeed(PageContext, { readOnly, basePath })),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(store)
  )

const request = (req: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(req.pipe(HttpClientRequest.setHeader("cookie", `taskflow_csrf=${CSRF}`)))
    return { status: response.status, headers: response.headers, text: yield* response.text }
  })
const get = (path: string) => request(HttpClientRequest.get(path))
const post = (path: string, csrf: string | undefined) =>
  request(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUrlParams(csrf === undefined ? {} : { csrf })))

/** The full ids of the rows of `table#<table>`, in order. */
const rowIds = (text: string, table = "runs"): ReadonlyArray<string> => {
  const start = text.indexOf(`<table id="${table}"`)
  const body = text.slice(start, text.indexOf("</table>", start))
  return [...body.matchAll(/<tr data-run-id="([^"]+)"/g)].map((m) => m[1]!)
}
const hrefOf = (text: string, id: string): string | undefined =>
  new RegExp(`id="${id}" href="([^"]+)"`).exec(text)?.[1]?.replace(/&amp;/g, "&")
const countOf = (text: string, type: string): number | undefined => {
  const match = new RegExp(`<li data-state-type="${type}">.*?<span class="count">(\\d+)</span>`).exec(text)
  return match === null ? undefined : Number(match[1])
}

const double = Task.make("pages-double", (n: number) => Effect.succeed(n * 2))
const load = Task.make({ name: "pages-load", tags: ["io"] }, (n: number) => Effect.as(Effect.log(`loading ${n}`), n))
const mapped = Flow.make(
  { name: "pages-mapped", taskRunner: TaskRunner.concurrent() },
  (n: number) =>
    Effect.gen(function*() {
      yield* load(1)
      yield* load(2)
      const futures = yield* double.map(Array.from({ length: n }, (_, i) => i))
      return yield* futures.result()
    })
)
const chatty = Task.make(
  "pages-chatty",
  (n: number) =>
    Effect.forEach(Array.from({ length: n }, (_, i) => i + 1), (i) => Effect.log(`line ${i}`), { discard: true })
)
const hostile = Task.make(
  HOSTILE,
  (text: string) => Effect.zipRight(Effect.log(`${text} "><script>alert(2)</script>`), Effect.fail(new Error(text)))
)

for (const store of storeCases.filter((store) => store.available)) {
  layer(serverOf(false, store.fresh()), { excludeTestServices: true })(`pages on ${store.name}`, (it) => {
    it.effect("/ redirects to /runs, the assets are served with a long cache", () =>
      Effect.gen(function*() {
        const root = yield* get("/")
        expect(root.status).toBe(302)
        expect(root.headers.location).toBe("/runs")
        const runs = yield* get("/runs")
        const js = /<script src="(\/assets\/app\.js\?v=[0-9a-f]+)" defer><\/script>/.exec(runs.text)?.[1]
        const css = /<link rel="stylesheet" href="(\/assets\/app\.css\?v=[0-9a-f]+)">/.exec(runs.text)?.[1]
        expect(js).toBeDefined()
        for (const path of [js!, css!]) {
          const asset = yield* get(path)
          expect(asset.status).toBe(200)
          expect(asset.headers["cache-control"]).toContain("immutable")
        }
        const script = (yield* get(js!)).text
        expect(script).toBe(appJs)
        expect(() => new vm.Script(script)).not.toThrow() // plain JavaScript, no build step
        expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/)
        // No inline script or style: the server's CSP allows neither.
        expect(runs.text.match(/<script/g)).toHaveLength(1)
        expect(runs.text).not.toMatch(/<style|style="/)
        // Forms POST with their Origin: `no-referrer` (the server's header) would make it "null".
        expect(runs.text).toContain(`<meta name="referrer" content="same-origin">`)
      }))

    it.effect("the default view: active runs and runs ended in 24 hours, with counts", () =>
      Effect.gen(function*() {
        const old = yield* makeRun(
          "pages-default",
          State.completed(1, { timestamp: new Date(Date.now() - 2 * 86_400_000) })
        )
        const done = yield* makeRun("pages-default", State.completed(2))
        const running = yield* makeRun("pages-default", State.running())
        const page = yield* get("/runs")
        expect(page.status).toBe(200)
        const ids = rowIds(page.text)
        expect(ids).toContain(running)
        expect(ids).toContain(done)
        expect(ids).not.toContain(old)
        expect(countOf(page.text, "RUNNING")).toBeGreaterThanOrEqual(1)
        expect(page.text).toMatch(
          new RegExp(`<tr data-run-id="${running}"><td><span class="state" data-state-type="RUNNING">Running</span>`)
        )
        expect(page.text).toContain(`<a class="run-name" href="/runs/${running}">pages-default</a>`)
      }))

    it.effect("filters by state (type or name), name, kind, tag and time; counts follow the filter", () =>
      Effect.gen(function*() {
        const a = yield* makeRun("pages-filter", State.completed(1), { tags: ["red"] })
        const b = yield* makeRun("pages-filter", State.failed(Cause.fail("x"), { name: "TimedOut" }))
        const c = yield* makeRun("pages-filter", State.running(), { kind: "flow" })
        // Runs made in one millisecond are ordered by id: compare as sets where several match.
        const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()
        expect(sorted(rowIds((yield* get("/runs?name=pages-filter")).text))).toEqual(sorted([a, b, c]))
        expect(rowIds((yield* get("/runs?name=pages-filter&state=COMPLETED")).text)).toEqual([a])
        expect(rowIds((yield* get("/runs?name=pages-filter&state=timedout")).text)).toEqual([b])
        expect(sorted(rowIds((yield* get("/runs?name=pages-filter&state=RUNNING&state=TimedOut")).text))).toEqual(
          sorted([b, c])
        )
        expect(rowIds((yield* get("/runs?name=pages-filter&kind=flow")).text)).toEqual([c])
        expect(rowIds((yield* get("/runs?name=pages-filter&tag=red")).text)).toEqual([a])
        expect(rowIds((yield* get("/runs?name=pages-filter&from=2999-01-01T00:00")).text)).toEqual([])
        const counted = yield* get("/runs?name=pages-filter")
        expect([countOf(counted.text, "COMPLETED"), countOf(counted.text, "FAILED"), countOf(counted.text, "RUNNING")])
          .toEqual([1, 1, 1])
        // The form echoes the filter, escaped.
        const echoed = yield* get(`/runs?name=${encodeURIComponent(HOSTILE)}`)
        expect(echoed.text).toContain(`<input name="name" value="&lt;img src=x onerror=alert(1)&gt;">`)
        expect(echoed.text).not.toContain("<img")
      }))

    it.effect("bad filter values are a 400 page that says why", () =>
      Effect.gen(function*() {
        for (
          const [query, reason] of [
            ["state=DONE", "state &quot;DONE&quot; is not a state"],
            ["kind=job", "kind &quot;job&quot; is not a kind"],
            ["from=yesterday", "from &quot;yesterday&quot; is not a time"],
            ["limit=0", "limit &quot;0&quot; is not a whole number"],
            ["cursor=nope", "is not a cursor"],
            [`flow=${crypto.randomUUID()}`, "flow: no run has the id"]
          ]
        ) {
          const page = yield* get(`/runs?${query}`)
          expect(page.status, query).toBe(400)
          expect(page.text, query).toContain(reason)
        }
      }))

    it.effect("pages by cursor, newest first, each run once (also the merged default view)", () =>
      Effect.gen(function*() {
        for (let i = 0; i < 7; i++) yield* makeRun("pages-paged", State.running())
        const store = yield* RunStore.RunStore
        // Newest first: creation time, then id (runs made in one millisecond).
        const ids = (yield* store.listRuns({ name: "pages-paged", order: "newest" })).map((run) => run.id)
        const seen: Array<string> = []
        let path: string | undefined = "/runs?name=pages-paged&limit=3"
        while (path !== undefined) {
          const page = yield* get(path)
          seen.push(...rowIds(page.text))
          path = hrefOf(page.text, "next-page")
        }
        expect(seen).toEqual(ids)
        const merged: Array<string> = []
        path = "/runs?limit=2"
        while (path !== undefined) {
          const page = yield* get(path)
          merged.push(...rowIds(page.text))
          path = hrefOf(page.text, "next-page")
        }
        expect(new Set(merged).size).toBe(merged.length)
        expect(merged.filter((id) => ids.includes(id))).toEqual(ids)
      }))

    it.effect("a flow run of many mapped runs: grouped timeline, bars for the rest, task runs table, logs", () =>
      Effect.gen(function*() {
        yield* mapped(30)
        const store = yield* RunStore.RunStore
        const [flow] = yield* store.listRuns({ name: "pages-mapped", order: "newest", limit: 1 })
        const page = yield* get(`/runs/${flow!.id}`)
        expect(page.status).toBe(200)
        expect(page.text).toContain(`<h1 id="run-name">pages-mapped</h1>`)
        expect(page.text).toMatch(/id="run-state" data-state-type="COMPLETED">Completed</)
        const group = /<div class="group" data-task-name="pages-double">.*?<\/div><\/div>/.exec(page.text)?.[0]
        expect(group).toContain("×30")
        expect(group).toMatch(/data-state-type="COMPLETED">COMPLETED<\/span> <span class="count">30</)
        const loads = yield* store.listRuns({ flowRunId: flow!.id, name: "pages-load" })
        for (const run of loads) expect(page.text).toContain(`<div class="bar" data-run-id="${run.id}"`)
        expect(page.text.match(/<div class="bar"/g)).toHaveLength(2)
        expect(rowIds(page.text, "task-runs")).toHaveLength(32)
        // The runs page's flow filter takes an id prefix too.
        expect(rowIds((yield* get(`/runs?flow=${flow!.id.slice(0, 30)}&limit=500`)).text)).toHaveLength(32)
        expect(page.text).toContain(`<pre id="result">[\n  0,\n  2,`)
        // A task run: its flow run, its logs.
        const task = yield* get(`/runs/${loads[0]!.id.slice(0, 30)}`)
        expect(task.status).toBe(200)
        expect(hrefOf(task.text, "flow-run")).toBe(`/runs/${flow!.id}`)
        expect(task.text).toMatch(/<div class="log-line" data-seq="1" data-level="Info">.*loading 1<\/div>/)
        const logs = yield* get(`/runs/${loads[0]!.id}/logs?after=1`)
        expect(logs.text).not.toContain(`class="log-line"`)
        expect(task.text).toContain(`<a id="rerun-run" href="/runs/${loads[0]!.id}/rerun">`)
      }))

    it.effect("a run page shows the last 500 of a run's 1,234 log lines", () =>
      Effect.gen(function*() {
        yield* chatty(1_234)
        const store = yield* RunStore.RunStore
        const [run] = yield* store.listRuns({ name: "pages-chatty", order: "newest", limit: 1 })
        const page = (yield* get(`/runs/${run!.id}`)).text
        const seqs = [...page.matchAll(/<div class="log-line" data-seq="(\d+)"/g)].map((m) => Number(m[1]))
        expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => 735 + i))
        expect(page).toContain("The last 500 of 1234 lines.")
        expect(page).toContain(`data-after="1234"`)
        const more = yield* get(`/runs/${run!.id}/logs?after=0`)
        expect(more.text.match(/class="log-line"/g)).toHaveLength(500)
        expect(hrefOf(more.text, "more-logs")).toBe(`/runs/${run!.id}/logs?after=500`)
      }))

    it.effect("hostile names, parameters, failures and log lines are text", () =>
      Effect.gen(function*() {
        const failed = yield* Effect.flip(hostile(HOSTILE))
        expect(failed).toBeInstanceOf(Error)
        const store = yield* RunStore.RunStore
        const [run] = yield* store.listRuns({ name: HOSTILE })
        const tagged = yield* makeRun(HOSTILE, State.running(), {
          tags: [HOSTILE],
          parameters: ["\"><script>x</script>"]
        })
        for (const path of [`/runs/${run!.id}`, `/runs/${tagged}`, `/runs?name=${encodeURIComponent(HOSTILE)}`]) {
          const page = yield* get(path)
          expect(page.status).toBe(200)
          expect(page.text).not.toContain("<img")
          expect(page.text.match(/<script/g)).toHaveLength(1)
          expect(page.text).toContain("&lt;img src=x onerror=alert(1)&gt;")
        }
        const runPage = (yield* get(`/runs/${run!.id}`)).text
        expect(runPage).toMatch(/<pre id="failure">Error: &lt;img src=x onerror=alert\(1\)&gt;/)
        expect(runPage).toContain("&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;")
      }))

    it.effect("values longer than 2,000 characters are cut, with a link to see them whole", () =>
      Effect.gen(function*() {
        const id = yield* makeRun("pages-long", State.completed("r".repeat(5_000)), { parameters: ["p".repeat(5_000)] })
        const page = (yield* get(`/runs/${id}`)).text
        expect(/<pre id="parameters">([^<]*)<\/pre>/.exec(page)?.[1]?.replace(/&quot;/g, "\"").length).toBe(2_000)
        expect(page).toContain(`<a class="show-all" href="/runs/${id}?full=parameters">`)
        expect(page).toContain(`<a class="show-all" href="/runs/${id}?full=result">`)
        const whole = (yield* get(`/runs/${id}?full=result`)).text
        expect(whole).toContain("r".repeat(5_000))
        expect(whole).not.toContain("p".repeat(2_001))
      }))

    it.effect("unknown ids are 404, short ones too; an ambiguous prefix is 400 with its candidates", () =>
      Effect.gen(function*() {
        expect((yield* get(`/runs/${crypto.randomUUID()}`)).status).toBe(404)
        expect((yield* get(`/runs/abc`)).status).toBe(404)
        const a = yield* makeRun("pages-prefix", State.running(), { id: "ffffee01-0000-4000-8000-000000000001" })
        const b = yield* makeRun("pages-prefix", State.running(), { id: "ffffee02-0000-4000-8000-000000000002" })
        const ambiguous = yield* get(`/runs/ffffee`)
        expect(ambiguous.status).toBe(400)
        expect(ambiguous.text).toContain(`href="/runs/${a}"`)
        expect(ambiguous.text).toContain(`href="/runs/${b}"`)
        expect((yield* get(`/runs/ffffee02`)).text).toContain(`<code>${b}</code>`)
      }))

    it.effect("cancel: a confirmation page, then a POST with the session's token; a final run is 409", () =>
      Effect.gen(function*() {
        const id = yield* makeRun("pages-cancel", State.running())
        const confirm = yield* get(`/runs/${id}/cancel`)
        expect(confirm.status).toBe(200)
        expect(confirm.text).toContain(`<form id="confirm" method="post" action="/runs/${id}/cancel">`)
        expect(confirm.text).toContain(`<input type="hidden" name="csrf" value="${CSRF}">`)
        const store = yield* RunStore.RunStore
        expect((yield* store.getRun(id)).state.type).toBe("RUNNING") // a GET changes nothing
        expect((yield* post(`/runs/${id}/cancel`, "forged")).status).toBe(403)
        expect((yield* post(`/runs/${id}/cancel`, undefined)).status).toBe(403)
        expect((yield* store.getRun(id)).state.type).toBe("RUNNING")
        const done = yield* post(`/runs/${id}/cancel`, CSRF)
        expect(done.status).toBe(303)
        expect(done.headers.location).toBe(`/runs/${id}?done=cancel`)
        expect((yield* store.getRun(id)).state.type).toBe("CANCELLED")
        expect((yield* get(`/runs/${id}?done=cancel`)).text).toContain(`<p id="outcome">Cancel requested`)
        const again = yield* post(`/runs/${id}/cancel`, CSRF)
        expect(again.status).toBe(409)
        expect(again.text).toContain("already Cancelled")
      }))

    it.effect("rerun: 303 to the new run's page; a run not finished is 409", () =>
      Effect.gen(function*() {
        const id = yield* makeRun("pages-rerun", State.completed(1))
        expect((yield* get(`/runs/${id}/rerun`)).text).toContain(`<form id="confirm"`)
        const done = yield* post(`/runs/${id}/rerun`, CSRF)
        expect(done.status).toBe(303)
        const next = /^\/runs\/([^?]+)\?done=rerun$/.exec(done.headers.location ?? "")?.[1]
        expect(next).toBeDefined()
        expect(next).not.toBe(id)
        const page = (yield* get(done.headers.location!)).text
        expect(page).toContain(`<p id="outcome">Rerun started`)
        expect((yield* post(`/runs/${next}/rerun`, CSRF)).status).toBe(409)
      }))
  })
}

layer(serverOf(true, RunStore.memory, "/ui"), { excludeTestServices: true })("read-only pages under /ui", (it) => {
  it.effect("show no action links, and refuse the confirmation pages and POSTs with 403", () =>
    Effect.gen(function*() {
      const id = yield* makeRun("pages-readonly", State.running())
      const page = yield* get(`/runs/${id}`)
      expect(page.status).toBe(200)
      expect(page.text).not.toMatch(/id="(cancel|rerun)-run"/)
      // Every link of ours carries the prefix the pages are mounted under.
      expect(page.text).toContain(`<a class="home" href="/ui/runs">`)
      expect(page.text).toMatch(/<script src="\/ui\/assets\/app\.js\?v=/)
      expect(page.text).toContain(`data-events="/ui/api/events"`)
      expect((yield* get("/runs")).text).toContain(`<a class="run-name" href="/ui/runs/${id}">`)
      expect((yield* get(`/runs/${id}/cancel`)).status).toBe(403)
      expect((yield* post(`/runs/${id}/cancel`, CSRF)).status).toBe(403)
      expect((yield* post(`/runs/${id}/rerun`, CSRF)).status).toBe(403)
      const store = yield* RunStore.RunStore
      expect((yield* store.getRun(id)).state.type).toBe("RUNNING")
    }))
})

/** A memory store that counts the runs its listings return (what a page read), and tells when logs are followed. */
const countingStore = (read: { runs: number; onFollow: () => void }) =>
  Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.RunStore, (store): RunStore.Service => ({
      ...store,
      listRunsPage: (filter) => Effect.tap(store.listRunsPage(filter), (page) => void (read.runs += page.runs.length)),
      listRuns: (filter) => Effect.tap(store.listRuns(filter), (runs) => void (read.runs += runs.length)),
      followLogs: (runId, options) => Stream.suspend(() => (read.onFollow(), store.followLogs(runId, options)))
    }))
  ).pipe(Layer.provide(RunStore.memory))

const read = { runs: 0, onFollow: () => {} }
const gate = Effect.runSync(Deferred.make<void>())
const gated = Task.make("pages-gated", () =>
  Effect.gen(function*() {
    yield* Effect.log("first")
    yield* Deferred.await(gate)
    yield* Effect.log("second")
  }))

layer(serverOf(false, countingStore(read)), { excludeTestServices: true })("counted reads", (it) => {
  it.effect("a logs request with wait=1 answers with the line that arrives while it waits", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const fiber = yield* Effect.fork(gated())
      const [run] = yield* Effect.repeat(store.listRuns({ name: "pages-gated" }), { until: (runs) => runs.length > 0 })
      yield* store.followLogs(run!.id).pipe(Stream.take(1), Stream.runDrain)
      // The run logs its second line only once the page follows its logs.
      read.onFollow = () => Deferred.unsafeDone(gate, Exit.void)
      const page = yield* get(`/runs/${run!.id}`)
      expect(page.text).toContain(`data-follow="/runs/${run!.id}/logs"`)
      const logs = yield* get(`/runs/${run!.id}/logs?after=1&wait=1`)
      expect(logs.text).toMatch(/<div class="log-line" data-seq="2" data-level="Info">.*second<\/div>/)
      yield* Fiber.join(fiber)
    }))

  it.effect("its page reads at most a few hundred of its 5,000 task runs", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const flow = crypto.randomUUID()
      yield* store.createRun({ id: flow, kind: "flow", name: "pages-large", state: State.running() })
      const run = (name: string, i: number): RunStore.NewRun => ({
        id: crypto.randomUUID(),
        kind: "task",
        name,
        flowRunId: flow,
        parameters: [i],
        state: i % 3 === 0 ? State.completed(i) : State.scheduled()
      })
      yield* store.createRuns(Array.from({ length: 4_990 }, (_, i) => run("pages-large-mapped", i)))
      yield* store.createRuns(Array.from({ length: 10 }, (_, i) => run(`pages-large-step-${i}`, i)))
      read.runs = 0
      const page = yield* get(`/runs/${flow}`)
      expect(page.status).toBe(200)
      expect(page.text).toMatch(/<div class="group" data-task-name="pages-large-mapped">.*?×4990/)
      expect(page.text.match(/<div class="bar"/g)).toHaveLength(10)
      expect(rowIds(page.text, "task-runs")).toHaveLength(50)
      expect(read.runs).toBeLessThanOrEqual(300)
    }))
})

/**
 * app.js in a `vm` context with the few browser objects it touches: an EventSource whose events the
 * test fires, and a `fetch` that counts the page's re-fetches.
 */
const scriptWorld = () => {
  const fetched: Array<string> = []
  const sources: Array<{ url: string; fire: (type: string, event?: object) => void }> = []
  class FakeEventSource {
    readonly listeners = new Map<string, Array<(event: object) => void>>()
    constructor(readonly url: string) {
      sources.push({
        url,
        fire: (type, event = {}) => this.listeners.get(type)?.forEach((listener) => listener(event))
      })
    }
    addEventListener(type: string, listener: (event: object) => void) {
      this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
    }
    close() {}
  }
  const document = {
    hidden: false,
    body: { dataset: { events: "/api/events", watch: "ids" } },
    querySelectorAll: () => [],
    querySelector: () => null,
    getElementById: () => null,
    addEventListener: () => {}
  }
  vm.runInNewContext(appJs, {
    document,
    location: { href: "http://ui/runs/abc" },
    EventSource: FakeEventSource,
    fetch: (url: string) => {
      fetched.push(url)
      return Promise.resolve({ ok: false })
    },
    setInterval: () => 0,
    setTimeout: () => 0,
    CSS: { escape: (s: string) => s },
    DOMParser: class {}
  })
  return { fetched, sources }
}

describe("app.js", () => {
  it("re-fetches the page once when its first connection opens: no change between render and listen is missed", () => {
    const { fetched, sources } = scriptWorld()
    expect(sources.map((source) => source.url)).toEqual(["/api/events"])
    expect(fetched).toEqual([])
    sources[0]!.fire("open")
    expect(fetched).toEqual(["http://ui/runs/abc"])
    // A reconnect that resumes from an event id replays what it missed: no extra look.
    sources[0]!.fire("change", { lastEventId: "e1-3", data: JSON.stringify({ runs: ["other"] }) })
    sources[0]!.fire("open")
    expect(fetched).toEqual(["http://ui/runs/abc"])
  })
})

/** A store whose reads fail with a message that names its internals. */
const failingStore = Layer.effect(
  RunStore.RunStore,
  Effect.map(RunStore.RunStore, (store): RunStore.Service => {
    const fail = Effect.fail(new Errors.RunStoreError({ message: "SQLITE_CANTOPEN: /srv/secret/runs.db" }))
    return { ...store, getRun: () => fail, listRunsPage: () => fail, countRuns: () => fail, listRuns: () => fail }
  })
).pipe(Layer.provide(RunStore.memory))

layer(serverOf(false, failingStore), { excludeTestServices: true })((it) => {
  it.effect("a store that fails: a 500 page with a fixed message, never the store's own", () =>
    Effect.gen(function*() {
      for (const path of ["/runs", "/runs?state=FAILED", `/runs/${crypto.randomUUID()}`]) {
        const page = yield* get(path)
        expect(page.status, path).toBe(500)
        expect(page.text).toContain("The run store did not answer")
        expect(page.text).not.toMatch(/SQLITE|secret/)
      }
    }))
})
