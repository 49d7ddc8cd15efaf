/**
 * Placeholder (replaced by the pages): what the pages know of the server they run in.
 * @internal
 */
import * as Context from "effect/Context"

/** What the pages know of the server: whether actions are refused, and the prefix of every link. */
export class PageContext extends Context.Tag("effect-taskflow/server/PageContext")<PageContext, {
  readonly readOnly: boolean
  readonly basePath: string
}>() {}
