/**
 * Placeholder (replaced by the pages): a router that answers 404 to every page.
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { RunStore } from "../../../RunStore.js"
import type { PageContext } from "./context.js"

/** The pages: none yet, every page 404. */
export const pagesRouter: HttpRouter.HttpRouter<never, RunStore | PageContext> = HttpRouter.empty.pipe(
  HttpRouter.all("*", HttpServerResponse.text("No pages yet.", { status: 404 }))
)
