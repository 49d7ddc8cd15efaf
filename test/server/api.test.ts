/**
 * The server's JSON API in process (`NodeHttpServer.layerTest`), on a SQLite store seeded with real
 * runs: every endpoint, every filter, every error, and the guard (token, Host, Origin, CSRF,
 * read-only, security headers).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { beforeAll, describe, expect, layer } from "@effect/vitest"
import { Cause, Effect, Layer } from "effect"
import { Errors, RunStore, State } from "effect-taskflow"
import * as Http from "node:http"
import { appLayer } from "../../src/internal/server/app.js"
import type { ServerSettings } from "../../src/internal/server/config.js"
import { seed } from "../cli/helpers.js"
import type { Seeded } from "../cli/helpers.js"
import { makeRun } from "../support/storeRuns.js"
import { freshSqliteFile } from "../support/stores.js"

const file = freshSqliteFile()
let seeded: Seeded
beforeAll(async () => {
  seeded = await seed(RunStore.sqlite({ filename: file }))
}, 60_000)

const TOKEN = "0123456789abcdef-token"

const serverOn = (settings: Partial<ServerSettings>) =>
  appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "", ...settings }).pipe(
    Layer.provide(RunStore.sqlite({ filename: file })),
    Layer.provideMerge(NodeHttpServer.layerTest)
  )

/** Sends a request; the answer's status, headers and body (JSON when it is JSON). */
const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    const body: unknown = (response.headers["content-type"] ?? "").includes("json") ? JSON.parse(text) : text
    return { status: response.status, headers: response.headers, body, response }
  }).pipe(Effect.scoped)

const get = (url: string, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers)))
const post = (url: string, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.post(url).pipe(HttpClientRequest.setHeaders(headers)))

interface RunJson {
  readonly id: string
  readonly kind: string
  readonly name: string
  readonly state: { readonly type: string; readonly name: string }
  readonly flowRunId: string | null
  readonly rerunOf: string | null
  readonly tags: ReadonlyArray<string>
  readonly parameters: unknown
}
interface Page {
  readonly runs: ReadonlyArray<RunJson>
  readonly next: string | null
}

const list = (query: string) =>
  Effect.map(get(`/api/runs${query}`), ({ body, status }) => {
    expect(status, JSON.stringify(body)).toBe(200)
    return body as Page
  })
const names = (page: Page) => page.runs.map((run) => `${run.name}:${run.state.type}`)

const badRequest = (url: string, reason: RegExp) =>
  Effect.map(get(url), ({ body, status }) => {
    expect(status).toBe(400)
    expect(body).toMatchObject({ _tag: "BadRequest" })
    expect((body as { message: string }).message).toMatch(reason)
  })

const cookieOf = (response: HttpClientResponse.HttpClientResponse, name: string) => response.cookies.cookies[name]

/** A GET whose path is sent as written (no URL parsing on the way out), as `curl --path-as-is`. */
const rawGet = (port: number, path: string) =>
  Effect.async<{ readonly status: number; readonly location: string | undefined }, Error>((resume) => {
    const request = Http.get({ host: "127.0.0.1", port, path }, (response) => {
      response.resume()
      resume(Effect.succeed({ status: response.statusCode ?? 0, location: response.headers.location }))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
  })

/** The ids in a runs page's table. */
const pageRowIds = (text: string) => [...text.matchAll(/<tr data-run-id="([^"]+)"/g)].map((match) => match[1]!)

describe("the API and the runs page read a query alike", () => {
  const agreeFile = freshSqliteFile()
  const agreeLayer = appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "" }).pipe(
    Layer.provideMerge(RunStore.sqlite({ filename: agreeFile })),
    Layer.provideMerge(NodeHttpServer.layerTest)
  )
  /** The API's answer and the page's to one query: both 200 with the same runs, or both 400. */
  const both = (query: string) =>
    Effect.gen(function*() {
      const api = yield* get(`/api/runs${query}`)
      const page = yield* get(`/runs${query}`)
      expect(api.status, `${query}: API ${JSON.stringify(api.body)}`).toBe(page.status)
      if (api.status !== 200) return { status: api.status, api: [], page: [] }
      return {
        status: 200,
        api: (api.body as Page).runs.map((run) => run.id).sort(),
        page: pageRowIds(page.body as string).sort()
      }
    })

  layer(agreeLayer, { excludeTestServices: true })((it) => {
    it.effect("state types and names together are either; unknown states are 400 in both", () =>
      Effect.gen(function*() {
        const cached = yield* makeRun("agree-state", State.completed(1, { name: "Cached" }))
        const retrying = yield* makeRun("agree-state", State.running({ name: "Retrying" }))
        const running = yield* makeRun("agree-state", State.running())
        yield* makeRun("agree-state", State.failed(Cause.fail("x")))
        const either = yield* both("?name=agree-state&state=COMPLETED&state=Cached")
        expect(either).toEqual({ status: 200, api: [cached], page: [cached] })
        const overlap = yield* both("?name=agree-state&state=RUNNING&state=Retrying")
        expect(overlap).toEqual({ status: 200, api: [retrying, running].sort(), page: [retrying, running].sort() })
        const mixed = yield* both("?name=agree-state&state=running&state=cached")
        expect(mixed.api).toEqual([cached, retrying, running].sort())
        expect(mixed.page).toEqual(mixed.api)
        // A run of both (RUNNING named Retrying) counts once.
        const counts = yield* get("/api/runs/counts?name=agree-state&state=RUNNING&state=Retrying")
        expect((counts.body as { counts: Record<string, number> }).counts).toMatchObject({ RUNNING: 2, COMPLETED: 0 })
        expect((yield* both("?state=Nonsense")).status).toBe(400)
        expect((yield* both("?state=")).status).toBe(200)
      }))

    it.effect("times are strict ISO, read as UTC whatever the server's zone", () =>
      Effect.gen(function*() {
        const run = yield* makeRun("agree-time", State.completed(1))
        for (const text of ["1", "2026", "12/06/2026", "yesterday", "2026-12-06T9:30"]) {
          expect((yield* both(`?name=agree-time&from=${encodeURIComponent(text)}`)).status, text).toBe(400)
        }
        const zone = process.env["TZ"]
        process.env["TZ"] = "America/New_York"
        try {
          // Half an hour ago in UTC, written without a zone: the run is after it (it would not be in New York time).
          const before = new Date(Date.now() - 30 * 60_000).toISOString().slice(0, 16)
          const from = yield* both(`?name=agree-time&from=${before}`)
          expect(from).toEqual({ status: 200, api: [run], page: [run] })
          const to = yield* both(`?name=agree-time&to=${before}`)
          expect(to).toEqual({ status: 200, api: [], page: [] })
        } finally {
          if (zone === undefined) delete process.env["TZ"]
          else process.env["TZ"] = zone
        }
      }))

    it.effect("flow= takes a unique id prefix in both; an unknown flow is 400 in both", () =>
      Effect.gen(function*() {
        const flow = yield* makeRun("agree-flow", State.running(), { kind: "flow" })
        const child = yield* makeRun("agree-flow-task", State.completed(1), { flowRunId: flow })
        expect(yield* both(`?flow=${flow.slice(0, 13)}`)).toEqual({ status: 200, api: [child], page: [child] })
        expect(yield* both(`?flow=${flow}`)).toEqual({ status: 200, api: [child], page: [child] })
        expect((yield* both(`?flow=${crypto.randomUUID()}`)).status).toBe(400)
      }))
  })
})

describe("a store that fails", () => {
  const failing = Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.RunStore, (store): RunStore.Service => {
      const fail = Effect.fail(new Errors.RunStoreError({ message: "SQLITE_CANTOPEN: /srv/secret/runs.db" }))
      return { ...store, getRun: () => fail, listRunsPage: () => fail, countRuns: () => fail, listRuns: () => fail }
    })
  ).pipe(Layer.provide(RunStore.memory))
  layer(
    appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "" }).pipe(
      Layer.provide(failing),
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("is a 503 StoreFailed with a fixed message, never the store's own", () =>
      Effect.gen(function*() {
        for (const url of ["/api/runs", "/api/runs/counts", `/api/runs/${crypto.randomUUID()}`]) {
          const answer = yield* get(url)
          expect(answer.status, url).toBe(503)
          expect(answer.body).toMatchObject({ _tag: "StoreFailed", message: expect.stringContaining("did not answer") })
          expect(JSON.stringify(answer.body)).not.toMatch(/SQLITE|secret/)
        }
      }))
  })
})

describe("counts on a large store", () => {
  const asked: Array<RunStore.CountOptions | undefined> = []
  /** A store whose counts say 25,000 completed runs and 3 failed ones (as a capped count would: 10,001). */
  const large = Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.RunStore, (store): RunStore.Service => ({
      ...store,
      countRuns: (_filter, options) =>
        Effect.sync(() => {
          asked.push(options)
          const at = new Date()
          const cap = options?.cap ?? Infinity
          return [
            {
              name: "big",
              kind: "task",
              stateType: "COMPLETED",
              count: Math.min(25_000, cap + 1),
              firstCreatedAt: at,
              lastEndedAt: at
            },
            { name: "big", kind: "task", stateType: "FAILED", count: 3, firstCreatedAt: at, lastEndedAt: at }
          ]
        })
    }))
  ).pipe(Layer.provide(RunStore.memory))
  layer(
    appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "" }).pipe(
      Layer.provide(large),
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    { excludeTestServices: true }
  )((it) => {
    it.effect("GET /api/runs/counts asks the store for capped counts, and says which are over the cap", () =>
      Effect.gen(function*() {
        const answer = yield* get("/api/runs/counts")
        expect(answer.status).toBe(200)
        expect(asked).toEqual([{ cap: 10_000 }])
        expect(answer.body).toMatchObject({
          counts: { COMPLETED: 10_001, FAILED: 3 },
          capped: ["COMPLETED"],
          cap: 10_000
        })
      }))
  })
})

describe("server API", () => {
  layer(serverOn({}), { excludeTestServices: true })((it) => {
    it.effect("GET /api/runs: every run, newest first, as RunJson", () =>
      Effect.gen(function*() {
        const page = yield* list("")
        expect(page.runs).toHaveLength(7)
        expect(page.next).toBeNull()
        expect(page.runs[0]!.id).toBe(seeded.scheduled)
        expect(page.runs.at(-1)!.id).toBe(seeded.flowRunId)
        expect(Object.keys(page.runs[1]!).sort()).toEqual([
          "createdAt",
          "flowRunId",
          "id",
          "kind",
          "name",
          "parameters",
          "parentTaskRunId",
          "rerunOf",
          "retries",
          "runCount",
          "state",
          "tags",
          "workerId"
        ])
        expect(page.runs[1]).toMatchObject({
          id: seeded.failed,
          name: "cli-boom",
          tags: ["risky"],
          parameters: ["no luck"],
          runCount: 1,
          state: { type: "FAILED", name: "Failed" }
        })
      }))

    it.effect("GET /api/runs: each filter, and pages through a cursor", () =>
      Effect.gen(function*() {
        expect(names(yield* list("?state=FAILED"))).toEqual(["cli-boom:FAILED"])
        expect(names(yield* list("?state=Failed"))).toEqual(["cli-boom:FAILED"])
        expect(names(yield* list("?state=FAILED&state=SCHEDULED"))).toEqual(["cli-double:SCHEDULED", "cli-boom:FAILED"])
        expect(names(yield* list("?kind=flow"))).toEqual(["cli-pipeline:COMPLETED"])
        expect((yield* list("?kind=task")).runs).toHaveLength(6)
        expect((yield* list("?name=cli-double")).runs).toHaveLength(5)
        expect(names(yield* list("?tag=risky"))).toEqual(["cli-boom:FAILED"])
        const inFlow = yield* list(`?flow=${seeded.flowRunId}`)
        expect(inFlow.runs.map((run) => run.flowRunId)).toEqual([seeded.flowRunId, seeded.flowRunId, seeded.flowRunId])
        expect((yield* list("?from=2000-01-01T00:00:00Z")).runs).toHaveLength(7)
        expect((yield* list("?to=2000-01-01T00:00:00Z")).runs).toHaveLength(0)
        expect((yield* list(`?from=${new Date(Date.now() + 60_000).toISOString()}`)).runs).toHaveLength(0)
        // Empty values (a form's blank fields) are no filter.
        expect((yield* list("?state=&kind=&name=&tag=&flow=&from=&to=&cursor=")).runs).toHaveLength(7)

        const first = yield* list("?limit=3")
        expect(first.runs).toHaveLength(3)
        expect(first.next).not.toBeNull()
        const second = yield* list(`?limit=3&cursor=${first.next}`)
        const third = yield* list(`?limit=3&cursor=${second.next}`)
        expect(third.next).toBeNull()
        expect([...first.runs, ...second.runs, ...third.runs].map((run) => run.id)).toEqual(
          (yield* list("")).runs.map((run) => run.id)
        )
      }))

    it.effect("GET /api/runs: a bad filter is a 400 that says why", () =>
      Effect.gen(function*() {
        yield* badRequest("/api/runs?state=nope", /state "nope" is not a state: use a type .* or a name/)
        yield* badRequest("/api/runs?kind=job", /kind "job" is not a kind: use task or flow/)
        yield* badRequest("/api/runs?from=yesterday", /from "yesterday" is not a time/)
        yield* badRequest("/api/runs?to=2024-13-45", /to "2024-13-45" is not a time/)
        yield* badRequest("/api/runs?limit=0", /limit "0" is not a whole number from 1 to 500/)
        yield* badRequest("/api/runs?limit=ten", /limit "ten" is not a whole number/)
        yield* badRequest("/api/runs?cursor=garbage", /cursor "garbage" is not a cursor this library made/)
        yield* badRequest("/api/runs/counts?state=x", /state "x" is not a state/)
        yield* badRequest("/api/runs?flow=00000000-0000", /flow: no run has the id 00000000-0000/)
      }))

    it.effect("GET /api/runs/counts: counts per state type, with the filters", () =>
      Effect.gen(function*() {
        const all = yield* get("/api/runs/counts")
        expect(all.status).toBe(200)
        expect(all.body).toEqual({
          counts: {
            SCHEDULED: 1,
            PENDING: 0,
            RUNNING: 0,
            COMPLETED: 5,
            FAILED: 1,
            CANCELLED: 0,
            CRASHED: 0,
            PAUSED: 0,
            CANCELLING: 0
          },
          capped: [],
          cap: 10_000
        })
        const flows = yield* get("/api/runs/counts?kind=flow&limit=1")
        expect((flows.body as { counts: Record<string, number> }).counts).toMatchObject({ COMPLETED: 1, FAILED: 0 })
        const failed = yield* get("/api/runs/counts?state=FAILED&tag=risky")
        expect((failed.body as { counts: Record<string, number> }).counts).toMatchObject({ COMPLETED: 0, FAILED: 1 })
      }))

    it.effect("GET /api/runs/:id: the run with its result or failure; a prefix; 404", () =>
      Effect.gen(function*() {
        const completed = yield* get(`/api/runs/${seeded.completed}`)
        expect(completed.status).toBe(200)
        expect(completed.body).toMatchObject({
          id: seeded.completed,
          parameters: [21],
          result: 42,
          failure: null,
          state: { type: "COMPLETED" }
        })
        const failed = yield* get(`/api/runs/${seeded.failed}`)
        expect(failed.body).toMatchObject({ result: null })
        expect((failed.body as { failure: string }).failure).toMatch(/CliBoom[\s\S]*no luck/)
        const byPrefix = yield* get(`/api/runs/${seeded.completed.slice(0, 13).toUpperCase()}`)
        expect(byPrefix.body).toMatchObject({ id: seeded.completed })
        const unknown = yield* get("/api/runs/00000000-0000-7000-8000-000000000000")
        expect(unknown.status).toBe(404)
        expect(unknown.body).toMatchObject({ _tag: "RunNotFound" })
        expect((unknown.body as { message: string }).message).toContain("00000000-0000-7000-8000-000000000000")
        expect((yield* get("/api/runs/abc")).status).toBe(404)
      }))

    it.effect("GET history, logs and task runs of a run", () =>
      Effect.gen(function*() {
        const history = yield* get(`/api/runs/${seeded.completed}/history`)
        expect(history.status).toBe(200)
        const types = (history.body as { states: ReadonlyArray<{ type: string }> }).states.map((s) => s.type)
        expect(types[0]).toBe("PENDING")
        expect(types.at(-1)).toBe("COMPLETED")
        expect(types).toContain("RUNNING")
        expect((yield* get("/api/runs/00000000-0000-7000-8000-000000000000/history")).status).toBe(404)

        const logs = yield* get(`/api/runs/${seeded.completed}/logs?after=0&limit=10`)
        expect(logs.status).toBe(200)
        expect(logs.body).toEqual({ logs: [] })
        yield* badRequest(`/api/runs/${seeded.completed}/logs?after=-1`, /after must be a whole number/)
        yield* badRequest(`/api/runs/${seeded.completed}/logs?limit=100000`, /limit "100000" is not a whole number/)
        expect((yield* get("/api/runs/00000000-0000-7000-8000-000000000000/logs")).status).toBe(404)

        const taskRuns = yield* get(`/api/runs/${seeded.flowRunId}/task-runs?limit=2`)
        const page = taskRuns.body as Page
        expect(page.runs.map((run) => run.parameters)).toEqual([[1], [2]])
        const rest = (yield* get(`/api/runs/${seeded.flowRunId}/task-runs?limit=2&cursor=${page.next}`)).body as Page
        expect(rest).toMatchObject({ next: null })
        expect(rest.runs.map((run) => run.parameters)).toEqual([[3]])
        expect(((yield* get(`/api/runs/${seeded.completed}/task-runs`)).body as Page).runs).toEqual([])
        yield* badRequest(`/api/runs/${seeded.flowRunId}/task-runs?cursor=x`, /cursor "x"/)
      }))

    it.effect("POST cancel and rerun: 409 in the wrong state, else done", () =>
      Effect.gen(function*() {
        const cancelFinished = yield* post(`/api/runs/${seeded.completed}/cancel`)
        expect(cancelFinished.status).toBe(409)
        expect(cancelFinished.body).toMatchObject({ _tag: "RunStateConflict", state: { type: "COMPLETED" } })
        expect((cancelFinished.body as { message: string }).message).toMatch(/already ended Completed/)

        const rerunUnfinished = yield* post(`/api/runs/${seeded.scheduled}/rerun`)
        expect(rerunUnfinished.status).toBe(409)
        expect(rerunUnfinished.body).toMatchObject({ _tag: "RunStateConflict", state: { type: "SCHEDULED" } })

        expect((yield* post("/api/runs/00000000-0000-7000-8000-000000000000/cancel")).status).toBe(404)

        const rerun = yield* post(`/api/runs/${seeded.failed}/rerun`)
        expect(rerun.status).toBe(200)
        expect(rerun.body).toMatchObject({ name: "cli-boom", rerunOf: seeded.failed, state: { type: "SCHEDULED" } })
        const rerunId = (rerun.body as RunJson).id
        const cancelled = yield* post(`/api/runs/${rerunId}/cancel`)
        expect(cancelled.status).toBe(200)
        expect(cancelled.body).toMatchObject({ state: { type: "CANCELLED" } })
        expect((yield* get(`/api/runs/${rerunId}`)).body).toMatchObject({ state: { type: "CANCELLED" } })
      }))

    it.effect("every response carries the security headers, and a GET sets the CSRF cookie", () =>
      Effect.gen(function*() {
        for (const url of ["/api/runs", "/api/runs/00000000-0000-7000-8000-000000000000", "/no-such-page"]) {
          const { headers } = yield* get(url)
          expect(headers["content-security-policy"]).toBe(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
              "base-uri 'none'; frame-ancestors 'none'"
          )
          expect(headers["x-content-type-options"]).toBe("nosniff")
          expect(headers["referrer-policy"]).toBe("no-referrer")
        }
        const first = yield* get("/runs")
        const csrf = cookieOf(first.response, "taskflow_csrf")
        expect(csrf?.value).toMatch(/^[\w-]{20,}$/)
        // Lax: a link opened from another site carries it, so the session's is never replaced.
        expect(csrf?.options).toMatchObject({ httpOnly: true, sameSite: "lax", path: "/" })
        // A request that has it is not given another.
        const again = yield* get("/runs", { cookie: `taskflow_csrf=${csrf!.value}` })
        expect(cookieOf(again.response, "taskflow_csrf")).toBeUndefined()
      }))

    it.effect("a POST from another origin is refused (403), whatever it carries", () =>
      Effect.gen(function*() {
        const refused = yield* post(`/api/runs/${seeded.completed}/cancel`, {
          origin: "http://evil.example",
          cookie: "taskflow_csrf=abc",
          "x-taskflow-csrf": "abc"
        })
        expect(refused.status).toBe(403)
        expect(refused.body).toMatchObject({ _tag: "CrossOrigin" })
        expect((yield* post(`/api/runs/${seeded.completed}/cancel`, { origin: "null" })).status).toBe(403)
      }))

    it.effect("a browser POST needs the CSRF token (cookie = header or form field); a script needs none", () =>
      Effect.gen(function*() {
        const url = `/api/runs/${seeded.completed}/cancel`
        // A browser: it sends its cookies (and its own Origin).
        const noEcho = yield* post(url, { cookie: "taskflow_csrf=s3cret-csrf-value" })
        expect(noEcho.status).toBe(403)
        expect(noEcho.body).toMatchObject({ _tag: "CsrfRefused" })
        const wrong = yield* post(url, { cookie: "taskflow_csrf=s3cret-csrf-value", "x-taskflow-csrf": "other" })
        expect(wrong.status).toBe(403)
        const noCookie = yield* post(url, { "sec-fetch-site": "same-origin", "x-taskflow-csrf": "s3cret-csrf-value" })
        expect(noCookie.status).toBe(403)
        // The right token gets through the guard (to the 409 of a finished run).
        const server = (yield* get("/api/runs")).response.request.url.replace(/\/api\/runs$/, "")
        const echoed = yield* post(url, {
          cookie: "taskflow_csrf=s3cret-csrf-value",
          "x-taskflow-csrf": "s3cret-csrf-value",
          origin: server
        })
        expect(echoed.status).toBe(409)
        const form = yield* send(
          HttpClientRequest.post(url).pipe(
            HttpClientRequest.setHeaders({ cookie: "taskflow_csrf=s3cret-csrf-value" }),
            HttpClientRequest.bodyUrlParams({ csrf: "s3cret-csrf-value" })
          )
        )
        expect(form.status).toBe(409)
        const badForm = yield* send(
          HttpClientRequest.post(url).pipe(
            HttpClientRequest.setHeaders({ cookie: "taskflow_csrf=s3cret-csrf-value" }),
            HttpClientRequest.bodyUrlParams({ csrf: "guess" })
          )
        )
        expect(badForm.status).toBe(403)
        // A script: no cookies, no Origin.
        expect((yield* post(url)).status).toBe(409)
      }))

    it.effect("a request for another Host is refused on a server without a token (DNS rebinding)", () =>
      Effect.gen(function*() {
        const refused = yield* get("/api/runs", { host: "evil.example" })
        expect(refused.status).toBe(403)
        expect(refused.body).toMatchObject({ _tag: "HostRefused" })
        expect((yield* get("/api/runs", { host: "localhost:4200" })).status).toBe(200)
      }))
  })

  layer(serverOn({ readOnly: true }), { excludeTestServices: true })((it) => {
    it.effect("--read-only: every action is 403, reads work", () =>
      Effect.gen(function*() {
        for (const action of ["cancel", "rerun"]) {
          const refused = yield* post(`/api/runs/${seeded.scheduled}/${action}`)
          expect(refused.status).toBe(403)
          expect(refused.body).toMatchObject({ _tag: "ReadOnly" })
        }
        const refusedPage = yield* post(`/runs/${seeded.scheduled}/cancel`)
        expect(refusedPage.status).toBe(403)
        expect((yield* list("")).runs.length).toBeGreaterThan(0)
        expect(((yield* get(`/api/runs/${seeded.scheduled}`)).body as RunJson).state.type).toBe("SCHEDULED")
      }))
  })

  layer(serverOn({ token: TOKEN, host: "0.0.0.0" }), { excludeTestServices: true })((it) => {
    it.effect("with a token: 401 without it, the bearer token or its cookie let in", () =>
      Effect.gen(function*() {
        const none = yield* get("/api/runs")
        expect(none.status).toBe(401)
        expect(none.body).toMatchObject({ _tag: "Unauthorized" })
        expect(none.headers["www-authenticate"]).toBe("Bearer")
        expect((yield* get("/runs")).status).toBe(401)
        expect((yield* get("/api/runs", { authorization: "Bearer wrong-token-of-some-length" })).status).toBe(401)
        expect((yield* get("/api/runs", { authorization: `Bearer ${TOKEN}` })).status).toBe(200)
        // Any Host: the token is the guard.
        expect((yield* get("/api/runs", { authorization: `Bearer ${TOKEN}`, host: "ui.example" })).status).toBe(200)
        expect((yield* get("/api/runs", { cookie: `taskflow_token=${TOKEN}` })).status).toBe(200)
        // A script acts with the bearer token alone.
        expect((yield* post(`/api/runs/${seeded.completed}/cancel`, { authorization: `Bearer ${TOKEN}` })).status)
          .toBe(409)
        expect((yield* post(`/api/runs/${seeded.completed}/cancel`)).status).toBe(401)
      }))

    it.effect("visiting /?token=… sets the cookie and redirects to the URL without it", () =>
      Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.followRedirects(0))
        const visit = yield* client.get(`/runs?state=FAILED&token=${TOKEN}`).pipe(Effect.scoped)
        expect(visit.status).toBe(303)
        expect(visit.headers["location"]).toBe("/runs?state=FAILED")
        expect(cookieOf(visit, "taskflow_token")).toMatchObject({
          value: TOKEN,
          options: { httpOnly: true, sameSite: "lax" }
        })
        const wrong = yield* client.get("/?token=not-the-token-at-all").pipe(Effect.scoped)
        expect(wrong.status).toBe(401)
        // Never to another site: `//host/…` is an address of another host.
        const { port } = new URL(visit.request.url)
        for (const path of ["//evil.example/x", "/a/..//evil.example/x", "///evil.example"]) {
          const open = yield* rawGet(Number(port), `${path}?token=${TOKEN}`)
          expect(open.status).toBe(303)
          expect(open.location).toMatch(/^\/(?!\/)/)
        }
      }))
  })
})
