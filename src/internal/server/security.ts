/**
 * The server's guard, around the API and the pages alike: the token (header, cookie, or `?token=`
 * once), the Host check against DNS rebinding, the Origin check and the per-session CSRF token on
 * every POST, read-only mode, and the security headers on every response. docs/ui.md, "Security",
 * says why each is there.
 * @internal
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import type { ServerSettings } from "./config.js"
import { isLoopback } from "./config.js"

/** The cookie that carries the token after a visit to `/?token=…`. */
export const TOKEN_COOKIE = "taskflow_token"
/** The per-session CSRF token's cookie; forms echo it in a field `csrf`, scripts in the header below. */
export const CSRF_COOKIE = "taskflow_csrf"
export const CSRF_FIELD = "csrf"
export const CSRF_HEADER = "x-taskflow-csrf"

/** Sent with every response. */
export const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
} as const

/** Whether two secrets are equal, in time that does not depend on where they differ (or on their lengths). */
export const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

/** A refusal: JSON under /api (`{ _tag, message }`, as the API's own errors), text elsewhere. */
const refuse = (request: HttpServerRequest.HttpServerRequest, status: number, tag: string, message: string) =>
  request.url.startsWith("/api/") || request.url === "/api"
    ? HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })
    : HttpServerResponse.text(`${message}\n`, { status })

/** The request's URL without the base path (a proxy may or may not strip it). */
const withoutBase = (url: string, basePath: string) =>
  basePath !== "" && (url === basePath || url.startsWith(`${basePath}/`) || url.startsWith(`${basePath}?`))
    ? url.slice(basePath.length) || "/"
    : url

/** The host of a `Host` header, without its port. */
const hostName = (host: string) => host.replace(/:\d+$/, "")

/** The bearer token of an `Authorization` header, or the token cookie. */
const presentedToken = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const authorization = request.headers["authorization"]
  const bearer = authorization === undefined ? undefined : /^Bearer\s+(\S+)$/i.exec(authorization)?.[1]
  return bearer ?? request.cookies[TOKEN_COOKIE]
}

/** Whether a request came from a browser (it sends cookies, Origin or Fetch metadata; a script sends none). */
const fromBrowser = (request: HttpServerRequest.HttpServerRequest) =>
  request.headers["cookie"] !== undefined || request.headers["origin"] !== undefined ||
  request.headers["sec-fetch-site"] !== undefined

/**
 * The CSRF token a POST echoes: the header, else the form field `csrf` (read from `request`, the
 * one handed on, which keeps the body it read for the page's handler).
 */
const echoedCsrf = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    const header = request.headers[CSRF_HEADER]
    if (header !== undefined) return header
    if (!(request.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) return undefined
    const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => [])
    return form.find(([key]) => key === CSRF_FIELD)?.[1]
  })

/**
 * The checks of a request that may change something (every method but GET, HEAD and OPTIONS):
 * `sent` as it came, `request` as handed on.
 */
const checkAction = (
  sent: HttpServerRequest.HttpServerRequest,
  request: HttpServerRequest.HttpServerRequest,
  settings: ServerSettings
) =>
  Effect.gen(function*() {
    const origin = sent.headers["origin"]
    if (origin !== undefined) {
      let originHost: string | undefined
      try {
        originHost = new URL(origin).host
      } catch {
        originHost = undefined
      }
      if (originHost === undefined || originHost !== sent.headers["host"]) {
        return refuse(request, 403, "CrossOrigin", `Refused: a request from ${origin} may not act on this server.`)
      }
    }
    if (settings.readOnly) {
      return refuse(request, 403, "ReadOnly", "Refused: this server was started with --read-only.")
    }
    if (fromBrowser(sent)) {
      const cookie = sent.cookies[CSRF_COOKIE]
      const echoed = yield* echoedCsrf(request)
      if (cookie === undefined || echoed === undefined || !sameSecret(echoed, cookie)) {
        return refuse(
          request,
          403,
          "CsrfRefused",
          "Refused: this form is stale or came from another site (no matching CSRF token). Reload the page and try again."
        )
      }
    }
    return undefined
  })

/** `?token=…` on a GET: checked, then a cookie and a redirect to the same URL without it. */
const tokenVisit = (request: HttpServerRequest.HttpServerRequest, settings: ServerSettings, token: string) => {
  const url = new URL(request.url, "http://server")
  const given = url.searchParams.get("token")
  if (given === null || request.method !== "GET") return undefined
  if (!sameSecret(given, token)) return refuse(request, 401, "Unauthorized", "Refused: the token is not this server's.")
  url.searchParams.delete("token")
  // One leading slash: `//evil.example/x` would be another site's URL (an open redirect).
  const path = `/${url.pathname.replace(/^\/+/, "")}`
  return HttpServerResponse.empty({ status: 303 }).pipe(
    HttpServerResponse.setHeader("location", `${settings.basePath}${path}${url.search}`),
    // Lax: a link to this server shared in a chat or a mail (a cross-site navigation) still carries it.
    HttpServerResponse.unsafeSetCookie(TOKEN_COOKIE, token, {
      httpOnly: true,
      sameSite: "lax",
      path: settings.basePath === "" ? "/" : settings.basePath
    })
  )
}

/** The guard, as a middleware around the whole app (API and pages). */
export const secure = (settings: ServerSettings) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.gen(function*() {
    const original = yield* HttpServerRequest.HttpServerRequest
    const url = withoutBase(original.url, settings.basePath)
    // A page's GET that has no CSRF token yet gets one (the forms it renders carry it).
    const newCsrf = original.method === "GET" && original.cookies[CSRF_COOKIE] === undefined
      ? randomBytes(24).toString("base64url")
      : undefined
    // The pages read the CSRF token from the request: a first visit gets the one its response sets.
    const request = original.modify({
      url,
      ...(newCsrf === undefined ? {} : {
        headers: {
          ...original.headers,
          cookie: [original.headers["cookie"], `${CSRF_COOKIE}=${newCsrf}`].filter((c) => c !== undefined).join("; ")
        }
      })
    })
    yield* HttpApp.appendPreResponseHandler((_, response) =>
      Effect.succeed(
        HttpServerResponse.setHeaders(response, SECURITY_HEADERS).pipe((r) =>
          // Lax, as the token's: a cross-site navigation carries it, so it is not replaced by a new one
          // (which would make the forms open in other tabs stale). A cross-site POST does not carry it.
          newCsrf === undefined ? r : HttpServerResponse.unsafeSetCookie(r, CSRF_COOKIE, newCsrf, {
            httpOnly: true,
            sameSite: "lax",
            path: settings.basePath === "" ? "/" : settings.basePath
          })
        )
      )
    )
    const host = request.headers["host"] ?? ""
    if (settings.token === undefined) {
      // Bound to this machine without a token: a page of another site that resolves its own name
      // to 127.0.0.1 (DNS rebinding) sends its own Host, and is refused.
      if (!isLoopback(hostName(host))) {
        return refuse(request, 403, "HostRefused", `Refused: Host ${JSON.stringify(host)} is not this machine.`)
      }
    } else {
      const visit = tokenVisit(request, settings, settings.token)
      if (visit !== undefined) return visit
      const given = presentedToken(request)
      if (given === undefined || !sameSecret(given, settings.token)) {
        return refuse(
          request,
          401,
          "Unauthorized",
          "Refused: this server needs its token (Authorization: Bearer <token>, or open the URL it printed)."
        ).pipe(HttpServerResponse.setHeader("www-authenticate", "Bearer"))
      }
    }
    if (request.method !== "GET" && request.method !== "HEAD" && request.method !== "OPTIONS") {
      // As sent: without the CSRF cookie a first visit is given.
      const refused = yield* checkAction(original, request, settings)
      if (refused !== undefined) return refused
    }
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, request)
  })
