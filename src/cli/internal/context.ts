/**
 * What every store command does around its body: resolve the store, open it, read runs as views.
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RunStore from "../../RunStore.js"
import type * as State from "../../State.js"
import type { CliFailure } from "./failure.js"
import { failed } from "./failure.js"
import type { StoreFlags } from "./flags.js"
import type { StoreLocation } from "./location.js"
import { describeStore, resolveStore } from "./location.js"
import type { RunView } from "./output.js"
import { runView } from "./output.js"
import { storeLayer } from "./store.js"

/** Runs `body` with the store the flags name, opened (a SQLite file must exist unless `create`). */
export const withStore = <A, E, R>(
  flags: StoreFlags,
  body: (location: StoreLocation) => Effect.Effect<A, E, R>,
  options: { readonly create?: boolean; readonly reconnectFor?: Duration.DurationInput } = {}
): Effect.Effect<A, E | CliFailure, Exclude<R, RunStore.RunStore>> =>
  Effect.flatMap(
    resolveStore(flags),
    (location) =>
      body(location).pipe(
        Effect.provide(storeLayer(location, options))
      ) as Effect.Effect<A, E | CliFailure, Exclude<R, RunStore.RunStore>>
  )

/** A store call's error as a failure that names the store. */
export const storeFailed = (location: StoreLocation) => (error: { readonly message: string }): CliFailure =>
  failed(`${error.message} (${describeStore(location)})`)

/** A run's history, or undefined when it does not read (a corrupt row is still listed). */
export const historyOf = (
  runId: string
): Effect.Effect<ReadonlyArray<State.State<unknown, unknown>> | undefined, never, RunStore.RunStore> =>
  Effect.flatMap(RunStore.RunStore, (store) =>
    store.getHistory(runId).pipe(
      Effect.map((history): ReadonlyArray<State.State<unknown, unknown>> | undefined => history),
      Effect.orElseSucceed(() => undefined)
    ))

/** Runs as views, each with its history read (a few at a time). */
export const viewsOf = (
  runs: ReadonlyArray<RunStore.RunRecord>
): Effect.Effect<Array<RunView>, never, RunStore.RunStore> =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) =>
      Effect.forEach(runs, (run) => Effect.map(historyOf(run.id), (history) => runView(run, history, now)), {
        concurrency: 8
      })
  )
