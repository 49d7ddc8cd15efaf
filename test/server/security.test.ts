/**
 * The guard with the pages, as a browser meets it: the CSRF cookie given on a first visit is the one
 * the confirm form carries, the form's POST acts only with it; a base path behind a proxy; and the
 * options `Server.layer` refuses.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { RunStore, State } from "effect-taskflow"
import * as Server from "effect-taskflow/Server"
import { appLayer } from "../../src/internal/server/app.js"
import type { ServerSettings } from "../../src/internal/server/config.js"
import { sameSecret } from "../../src/internal/server/security.js"
import { newRun, uuid } from "../support/storeRuns.js"

const serverOn = (settings: Partial<ServerSettings> = {}) =>
  appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "", ...settings }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(RunStore.memory)
  )

const noRedirects = Effect.map(HttpClient.HttpClient, HttpClient.followRedirects(0))

describe("the guard with the pages", () => {
  it.live("a first visit's CSRF cookie is the form's; the form's POST cancels with it, and only with it", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const id = uuid()
      yield* store.createRun({ ...newRun(id), state: State.scheduled() })
      const client = yield* noRedirects
      const confirm = yield* client.get(`/runs/${id}/cancel`)
      expect(confirm.status).toBe(200)
      const cookie = confirm.cookies.cookies["taskflow_csrf"]!.value
      const page = yield* confirm.text
      expect(page).toContain(`name="csrf" value="${cookie}"`)
      expect(page).toContain(`<form id="confirm" method="post"`)

      const submit = (csrf: string) =>
        client.execute(
          HttpClientRequest.post(`/runs/${id}/cancel`).pipe(
            HttpClientRequest.setHeaders({ cookie: `taskflow_csrf=${cookie}`, "sec-fetch-site": "same-origin" }),
            HttpClientRequest.bodyUrlParams({ csrf })
          )
        )
      const forged = yield* submit("forged")
      expect(forged.status).toBe(403)
      expect((yield* store.getRun(id)).state.type).toBe("SCHEDULED")
      const done = yield* submit(cookie)
      expect(done.status).toBe(303)
      expect(done.headers["location"]).toBe(`/runs/${id}?done=cancel`)
      expect((yield* store.getRun(id)).state.type).toBe("CANCELLED")
    }).pipe(Effect.scoped, Effect.provide(serverOn())))

  it.live("a base path: served under it (or stripped by the proxy); links and cookies carry it", () =>
    Effect.gen(function*() {
      const client = (yield* noRedirects).pipe(
        HttpClient.mapRequest(HttpClientRequest.bearerToken("0123456789abcdef"))
      )
      expect((yield* client.get("/taskflow/api/runs")).status).toBe(200)
      expect((yield* client.get("/api/runs")).status).toBe(200)
      const root = yield* client.get("/taskflow/")
      expect(root.status).toBe(302)
      expect(root.headers["location"]).toBe("/taskflow/runs")
      expect(root.cookies.cookies["taskflow_csrf"]?.options?.path).toBe("/taskflow")
      const visit = yield* client.get("/taskflow/runs?token=0123456789abcdef")
      expect(visit.status).toBe(303)
      expect(visit.headers["location"]).toBe("/taskflow/runs")
    }).pipe(Effect.scoped, Effect.provide(serverOn({ basePath: "/taskflow", token: "0123456789abcdef" }))))
})

describe("Server.layer's options", () => {
  const refusal = (options: Server.ServerOptions) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Server.layer(options).pipe(Layer.provide(RunStore.memory))))
      expect(Exit.isFailure(exit)).toBe(true)
      return Exit.isFailure(exit) ? String(exit.cause) : ""
    }).pipe(Effect.scoped)

  it.effect("refuses another host without a token, a short token, a bad port or base path", () =>
    Effect.gen(function*() {
      expect(yield* refusal({ host: "0.0.0.0" })).toContain("Refusing to serve on 0.0.0.0 without a token")
      expect(yield* refusal({ host: "192.168.1.5", token: "" })).toContain("without a token")
      expect(yield* refusal({ token: "short" })).toContain("16 characters or more")
      expect(yield* refusal({ port: 70000 })).toContain("The port must be a whole number from 0 to 65535")
      expect(yield* refusal({ basePath: "taskflow" })).toContain("The base path must start with")
    }))

  it.live("serves on a free port and gives its address", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(Server.layer({ port: 0 }).pipe(Layer.provide(RunStore.memory)))
      const { address } = Context.get(built, HttpServer.HttpServer)
      if (address._tag !== "TcpAddress") return expect.fail(`not a TCP address: ${address._tag}`)
      const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${address.port}/api/runs`))
      expect(response.status).toBe(200)
    }).pipe(Effect.scoped))
})

describe("sameSecret", () => {
  it("compares whole secrets of any length", () => {
    expect(sameSecret("abc", "abc")).toBe(true)
    expect(sameSecret("abc", "abd")).toBe(false)
    expect(sameSecret("abc", "abcd")).toBe(false)
    expect(sameSecret("", "x")).toBe(false)
  })
})
