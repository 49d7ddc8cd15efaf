/**
 * What the server tells the pages about how it runs them.
 * @internal
 */
import * as Context from "effect/Context"

/**
 * The pages' settings: whether actions are refused (`taskflow server --read-only`) and the path
 * prefix under which the pages are mounted ("" at the root). The server (src/Server.ts) provides it.
 *
 * @example
 * import * as Layer from "effect/Layer"
 * const pages = Layer.succeed(PageContext, { readOnly: false, basePath: "" })
 */
export class PageContext extends Context.Tag("effect-taskflow/server/PageContext")<PageContext, {
  readonly readOnly: boolean
  readonly basePath: string
}>() {}
