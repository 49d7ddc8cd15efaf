/**
 * What the server was started with, as the handlers and the security middleware read it.
 * @internal
 */
import * as Context from "effect/Context"

/** The server's settings (see `ServerOptions` in src/Server.ts). */
export interface ServerSettings {
  readonly host: string
  readonly port: number
  readonly readOnly: boolean
  /** Undefined: no token (only on a loopback host). */
  readonly token: string | undefined
  /** "" or a path starting with "/" and not ending with one. */
  readonly basePath: string
}

/** The server's settings, for the handlers. */
export class ServerConfig extends Context.Tag("effect-taskflow/server/ServerConfig")<ServerConfig, ServerSettings>() {}

/** Whether `host` names this machine only (127.0.0.0/8, ::1, localhost). */
export const isLoopback = (host: string): boolean => {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase()
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare)
}
