/**
 * The pages' stylesheet and script as routes: served with a long cache, linked with a hash of
 * their content so a new version is fetched at once.
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import { appCss } from "./appCss.js"
import { appJs } from "./appJs.js"

const hashOf = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 12)

/** The assets' paths with their content hash, as the layout links them. */
export const assetPaths = {
  css: `/assets/app.css?v=${hashOf(appCss)}`,
  js: `/assets/app.js?v=${hashOf(appJs)}`
}

const CACHE = "public, max-age=31536000, immutable"

const asset = (body: string, contentType: string) =>
  HttpServerResponse.text(body, {
    contentType,
    headers: { "cache-control": CACHE, "x-content-type-options": "nosniff" }
  })

/** GET /assets/app.css and /assets/app.js. */
export const assetsRouter = HttpRouter.empty.pipe(
  HttpRouter.get("/assets/app.css", Effect.succeed(asset(appCss, "text/css; charset=utf-8"))),
  HttpRouter.get("/assets/app.js", Effect.succeed(asset(appJs, "text/javascript; charset=utf-8")))
)
