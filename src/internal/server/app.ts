/**
 * The server's app: the JSON API (`HttpApi`) and the pages on one router, behind the guard
 * (security.ts), with the change feed; served on whatever `HttpServer` is provided.
 * @internal
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RunStore from "../../RunStore.js"
import { Api } from "./api.js"
import type { ServerSettings } from "./config.js"
import { ServerConfig } from "./config.js"
import type { FeedOptions } from "./feed.js"
import { feedLayer } from "./feed.js"
import { runsHandlers } from "./handlers.js"
import { PageContext } from "./pages/context.js"
import { pagesRouter } from "./pages/router.js"
import { secure } from "./security.js"

/** The pages, on the router the API's endpoints are on, given the store and their context. */
const pagesLayer = (settings: ServerSettings) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.flatMap(RunStore.RunStore, (store) =>
      router.concat(
        pagesRouter.pipe(
          HttpRouter.provideService(RunStore.RunStore, store),
          HttpRouter.provideService(PageContext, { readOnly: settings.readOnly, basePath: settings.basePath })
        )
      ))
  )

/** The API and the pages, guarded, served on the `HttpServer` provided. */
export const appLayer = (
  settings: ServerSettings,
  feedOptions: FeedOptions = {}
): Layer.Layer<never, never, HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices | RunStore.RunStore> =>
  HttpApiBuilder.serve(secure(settings)).pipe(
    Layer.provide(pagesLayer(settings)),
    Layer.provide(HttpApiBuilder.api(Api)),
    Layer.provide(runsHandlers),
    Layer.provide(feedLayer(feedOptions)),
    Layer.provide(Layer.succeed(ServerConfig, settings)),
    Layer.provide(HttpApiBuilder.Router.Live)
  )
