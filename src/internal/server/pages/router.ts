/**
 * The web UI's pages as one router, which the server (src/Server.ts) mounts beside its JSON API
 * and provides with `PageContext` and `RunStore`. Every failure becomes a page: a `PageError` with
 * its status, anything else a 500 page that names no internals.
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as RunStore from "../../../RunStore.js"
import { actionRoute, confirmRoute } from "./actions.js"
import { assetsRouter } from "./assets.js"
import { PageContext } from "./context.js"
import { errorPage, PageError } from "./layout.js"
import { logsRoute } from "./logs.js"
import { runRoute } from "./runPage.js"
import { runsRoute } from "./runsPage.js"

const somethingWentWrong = new PageError({
  status: 500,
  title: "Something went wrong",
  message: "The page could not be shown."
})

/** A page handler whose failures are pages. */
const asPage = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(PageContext, ({ basePath }) =>
    handler.pipe(
      Effect.catchAll((error) => {
        // A page error is shown as it is; what caused it inside (a store's error) only goes to the log.
        const shown = error instanceof PageError ? error : somethingWentWrong
        const cause = error instanceof PageError ? error.cause : error
        return Effect.as(
          cause === undefined ? Effect.void : Effect.logError("A page failed", cause),
          errorPage(basePath, shown)
        )
      }),
      Effect.catchAllDefect((defect) =>
        Effect.as(
          Effect.logError("A page failed", defect),
          errorPage(basePath, somethingWentWrong)
        )
      )
    ))

/**
 * GET / (to /runs), /runs, /runs/:id, /runs/:id/logs, /runs/:id/cancel, /runs/:id/rerun (GET
 * confirms, POST does), and the /assets/ the pages link.
 *
 * @example
 * import * as HttpServer from "@effect/platform/HttpServer"
 * import * as Layer from "effect/Layer"
 * const serve = HttpServer.serve(pagesRouter).pipe(
 *   Layer.provide(Layer.succeed(PageContext, { readOnly: true, basePath: "" }))
 * )
 */
export const pagesRouter: HttpRouter.HttpRouter<never, RunStore.RunStore | PageContext> = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/",
    Effect.map(PageContext, ({ basePath }) => HttpServerResponse.redirect(`${basePath}/runs`, { status: 302 }))
  ),
  HttpRouter.get("/runs", asPage(runsRoute)),
  HttpRouter.get("/runs/:id", asPage(runRoute)),
  HttpRouter.get("/runs/:id/logs", asPage(logsRoute)),
  HttpRouter.get("/runs/:id/cancel", asPage(confirmRoute("cancel"))),
  HttpRouter.post("/runs/:id/cancel", asPage(actionRoute("cancel"))),
  HttpRouter.get("/runs/:id/rerun", asPage(confirmRoute("rerun"))),
  HttpRouter.post("/runs/:id/rerun", asPage(actionRoute("rerun"))),
  HttpRouter.concat(assetsRouter)
)
