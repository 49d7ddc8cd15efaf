/**
 * The web UI and JSON API of a run store (`taskflow server`): pages rendered on the server, a JSON
 * API declared with `HttpApi` (`Api`), and server-sent events of what changed, on
 * `@effect/platform`'s Node HTTP server. Import it on its own (`effect-taskflow/Server`): the main
 * entry does not load the HTTP stack. docs/ui.md documents the API and the security model.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"
import * as api from "./internal/server/api.js"
import { appLayer } from "./internal/server/app.js"
import type { ServerSettings } from "./internal/server/config.js"
import { isLoopback } from "./internal/server/config.js"
import type * as RunStore from "./RunStore.js"

/**
 * The JSON API, as an `HttpApi`: derive a typed client with `HttpApiClient.make(Server.Api, …)`,
 * or an OpenAPI document with `OpenApi.fromApi(Server.Api)`.
 *
 * @example
 * ```ts
 * import * as HttpApiClient from "@effect/platform/HttpApiClient"
 * import * as Effect from "effect/Effect"
 * import * as Server from "effect-taskflow/Server"
 *
 * const failedRuns = Effect.gen(function*() {
 *   const client = yield* HttpApiClient.make(Server.Api, { baseUrl: "http://127.0.0.1:4200" })
 *   const page = yield* client.runs.list({ urlParams: { state: "FAILED", limit: "20" } })
 *   return page.runs.map((run) => run.name)
 * })
 * ```
 * @since 0.1.0
 * @category api
 */
export const Api: typeof api.Api = api.Api

/**
 * Options of `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  /** The address to listen on (default 127.0.0.1). Any host but this machine's needs a `token`. */
  readonly host?: string
  /** The port (default 4200; 0 takes any free one). */
  readonly port?: number
  /** Refuse every action (cancel, rerun) with 403; the pages show none. */
  readonly readOnly?: boolean
  /**
   * The secret every request must carry (`Authorization: Bearer <token>`, or the cookie a visit to
   * `/?token=<token>` sets): 16 characters or more. Required on any host but this machine's.
   */
  readonly token?: string
  /** The path the server is reached under behind a proxy ("/taskflow"); links start with it. */
  readonly basePath?: string
}

/**
 * The server refused its options: a host other than this machine's without a token, a short
 * token, a bad port or base path. The message says what to pass instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerOptionsError extends Schema.TaggedError<ServerOptionsError>()("ServerOptionsError", {
  message: Schema.String
}) {}

/**
 * Serves the UI and the API of the `RunStore` provided, on `host`:`port`, until the layer's scope
 * closes. The layer gives the `HttpServer` (its `address` is where it listens).
 *
 * @example
 * ```ts
 * import * as HttpServer from "@effect/platform/HttpServer"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import { RunStore } from "effect-taskflow"
 * import * as Server from "effect-taskflow/Server"
 *
 * const main = Effect.gen(function*() {
 *   const server = yield* HttpServer.HttpServer
 *   yield* Effect.log(`Open http://127.0.0.1:${server.address._tag === "TcpAddress" ? server.address.port : 0}`)
 *   return yield* Effect.never
 * }).pipe(
 *   Effect.provide(Server.layer({ port: 4200, readOnly: true }).pipe(
 *     Layer.provide(RunStore.sqlite({ filename: ".taskflow/runs.db" }))
 *   ))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: ServerOptions = {}
): Layer.Layer<HttpServer.HttpServer, ServerOptionsError | HttpServerError.ServeError, RunStore.RunStore> =>
  Layer.unwrapEffect(Effect.map(settingsOf(options), (settings) => {
    const server = NodeHttpServer.layer(createServer, { host: settings.host, port: settings.port })
    return Layer.merge(appLayer(settings).pipe(Layer.provide(server)), server)
  }))

const settingsOf = (options: ServerOptions): Effect.Effect<ServerSettings, ServerOptionsError> =>
  Effect.suspend(() => {
    const refuse = (message: string) => Effect.fail(new ServerOptionsError({ message }))
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 4200
    const token = options.token === "" ? undefined : options.token
    const basePath = (options.basePath ?? "").replace(/\/+$/, "")
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
      return refuse(`The port must be a whole number from 0 to 65535, got ${port}.`)
    }
    if (token !== undefined && token.length < 16) {
      return refuse("The token must be 16 characters or more (e.g. `openssl rand -hex 32`).")
    }
    if (basePath !== "" && !/^\/[A-Za-z0-9._~\-/]*$/.test(basePath)) {
      return refuse(
        `The base path must start with "/" and hold only URL path characters, got ${JSON.stringify(basePath)}.`
      )
    }
    if (token === undefined && !isLoopback(host)) {
      return refuse(
        `Refusing to serve on ${host} without a token: anyone who reaches it could read and cancel runs. ` +
          "Pass --token (or set TASKFLOW_SERVER_TOKEN) with a secret of 16 characters or more, " +
          "or keep the default host 127.0.0.1."
      )
    }
    return Effect.succeed({ host, port, readOnly: options.readOnly ?? false, token, basePath })
  })
