/**
 * Run ids as the user types them: the whole id, or any unique prefix of at least 6 characters (the
 * tables show 8). An ambiguous prefix lists its candidates (bad usage, exit 2); an unknown one says
 * which store was searched (exit 1).
 * @internal
 */
import * as Effect from "effect/Effect"
import * as RunStore from "../../RunStore.js"
import type { CliFailure } from "./failure.js"
import { badUsage, failed } from "./failure.js"
import type { StoreLocation } from "./location.js"
import { describeStore } from "./location.js"
import { formatTime, stateLabel } from "./render.js"

/** The shortest prefix accepted. */
export const MIN_PREFIX = 6

/** How many candidates an ambiguous prefix lists. */
const CANDIDATES = 10

/** The run whose id is `text` or starts with it. */
export const resolveRun = (
  location: StoreLocation,
  text: string
): Effect.Effect<RunStore.RunRecord, CliFailure, RunStore.RunStore> =>
  Effect.gen(function*() {
    const prefix = text.trim().toLowerCase()
    if (prefix.length < MIN_PREFIX) {
      return yield* badUsage(
        `The run id ${
          JSON.stringify(text)
        } is too short: give the whole id or at least ${MIN_PREFIX} of its first characters.`
      )
    }
    const store = yield* RunStore.RunStore
    const exact = yield* Effect.either(store.getRun(prefix))
    if (exact._tag === "Right") return exact.right
    if (exact.left._tag !== "RunNotFound") return yield* failed(`Could not read run ${prefix}: ${exact.left.message}`)
    const matches = yield* withPrefix(prefix).pipe(
      Effect.mapError((error) => failed(`Could not search ${describeStore(location)}: ${error.message}`))
    )
    if (matches.length === 0) {
      return yield* failed(
        `No run in ${describeStore(location)} has an id starting with ${prefix}. ` +
          `List the runs with \`taskflow runs ls\`, or check --store.`
      )
    }
    if (matches.length > 1) {
      const lines = matches.slice(0, CANDIDATES).map((run) =>
        `  ${run.id}  ${run.kind} ${run.name}  ${stateLabel(run.state.type, run.state.name)}  ${
          formatTime(run.createdAt)
        }`
      )
      const more = matches.length > CANDIDATES ? `\n  … and more` : ""
      return yield* badUsage(
        `The id prefix ${prefix} is ambiguous: it matches ${matches.length > CANDIDATES ? "more than " : ""}${
          Math.min(matches.length, CANDIDATES)
        } runs. Give more characters:\n${lines.join("\n")}${more}`
      )
    }
    return matches[0]!
  })

/** The runs whose id starts with `prefix` (at most CANDIDATES + 1, enough to tell unique from ambiguous). */
const withPrefix = (prefix: string) =>
  Effect.flatMap(RunStore.RunStore, (store) => store.listRuns({ idPrefix: prefix, limit: CANDIDATES + 1 }))

/** Resolves each of `texts`, in order, failing at the first that does not resolve. */
export const resolveRuns = (location: StoreLocation, texts: ReadonlyArray<string>) =>
  Effect.forEach(texts, (text) => resolveRun(location, text))
