/**
 * What `taskflow server` does (loaded only when it runs): open the store, serve `Server.layer` on
 * it, print where, and wait for Ctrl-C.
 * @internal
 */
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Server from "../../Server.js"
import { badUsage, failed } from "./failure.js"
import type { StoreFlags } from "./flags.js"
import { describeStore, resolveStore } from "./location.js"
import type { OtlpFlags } from "./otlpSettings.js"
import { prepareOtlp, withOtlp } from "./otlpSettings.js"
import { storeLayer } from "./store.js"

/** What `taskflow server` parses. */
export interface ServerFlags extends StoreFlags, OtlpFlags {
  readonly host: string
  readonly port: number
  readonly readOnly: boolean
  readonly basePath: string
  readonly token: Option.Option<string>
}

/** The URL a browser opens: the token rides along once (the server swaps it for a cookie). */
export const openUrl = (host: string, port: number, basePath: string, token: string | undefined): string => {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host
  const path = `${basePath.replace(/\/+$/, "")}/`
  return `http://${shown}:${port}${path}${token === undefined ? "" : `?token=${encodeURIComponent(token)}`}`
}

/** Serves until interrupted (Ctrl-C: exit 0). */
export const serveUi = (flags: ServerFlags) =>
  Effect.gen(function*() {
    const location = yield* resolveStore(flags)
    const otlp = yield* prepareOtlp(flags, process.env, "taskflow-server")
    // An empty TASKFLOW_SERVER_TOKEN is none.
    const token = Option.getOrUndefined(Option.filter(flags.token, (t) => t !== ""))
    const server = Server.layer({
      host: flags.host,
      port: flags.port,
      readOnly: flags.readOnly,
      basePath: flags.basePath,
      ...(token === undefined ? {} : { token })
    }).pipe(
      Layer.provide(storeLayer(location)),
      Layer.catchAll((error) =>
        Layer.fail(
          error._tag === "ServerOptionsError"
            ? badUsage(error.message)
            : error._tag === "ServeError"
            ? failed(`Could not listen on ${flags.host}:${flags.port}: ${serveReason(error)}`)
            : error
        )
      )
    )
    // Outside the server: its request spans are sent, and flushed after it stops.
    return yield* withOtlp(
      otlp,
      Effect.gen(function*() {
        const { address } = yield* HttpServer.HttpServer
        const port = address._tag === "TcpAddress" ? address.port : flags.port
        yield* Console.log(`Serving ${describeStore(location)}${flags.readOnly ? ", read-only" : ""}.`)
        if (otlp !== undefined) {
          yield* Console.log(
            `Exporting spans, metrics and logs to ${otlp.settings.baseUrl} (${otlp.settings.protocol}).`
          )
        }
        yield* Console.log(`Open ${openUrl(flags.host, port, flags.basePath, token)}  (Ctrl-C to stop)`)
        return yield* Effect.never
      }).pipe(Effect.provide(server))
    )
  })

const serveReason = (error: HttpServerError.ServeError): string =>
  error.cause instanceof Error ? error.cause.message : String(error.cause)
