/**
 * The `Telemetry.runsScheduled` gauge a task worker keeps: the Scheduled runs in its store, per name
 * it serves, read every 10 seconds.
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Errors from "../../Errors.js"
import type * as RunStore_ from "../../RunStore.js"
import * as Telemetry from "../../Telemetry.js"
import type { MaybeCountScheduled } from "../store/runStore.js"
import { CountScheduledKey } from "../store/runStore.js"

/** How often a worker reads its backlog. @internal */
export const SCHEDULED_GAUGE_EVERY = Duration.seconds(10)

/**
 * The Scheduled runs of `names`, by name, in one statement: a SQL store's count over its index of
 * Scheduled runs (`CountScheduledKey`), else `countRuns` (the memory store's, in memory).
 */
const countScheduled = (
  store: RunStore_.Service & MaybeCountScheduled,
  names: ReadonlyArray<string>
): Effect.Effect<ReadonlyMap<string, number>, Errors.RunStoreError> => {
  const offered = store[CountScheduledKey]
  if (offered !== undefined) return offered(names)
  return Effect.map(store.countRuns({ stateType: "SCHEDULED" }), (counts) => {
    const byName = new Map<string, number>()
    for (const count of counts) byName.set(count.name, (byName.get(count.name) ?? 0) + count.count)
    return byName
  })
}

/**
 * Reads the Scheduled runs of the served names once and sets each name's gauge, 0 for a name with
 * none. A failed read leaves the gauges as they were. @internal
 */
export const readScheduled = (
  store: RunStore_.Service,
  gauges: ReadonlyMap<string, Metric.Metric.Gauge<number>>
): Effect.Effect<void> =>
  countScheduled(store, Array.from(gauges.keys())).pipe(
    Effect.flatMap((byName) =>
      Effect.forEach(gauges, ([name, gauge]) => Metric.set(gauge, byName.get(name) ?? 0), { discard: true })
    ),
    Effect.catchAll((error) => Effect.logDebug("Task worker: reading the Scheduled runs for the gauge failed", error))
  )

/** The gauges of `names`, tagged `taskflow.run.name`. @internal */
export const scheduledGauges = (names: ReadonlyArray<string>): ReadonlyMap<string, Metric.Metric.Gauge<number>> =>
  new Map(names.map((name) => [name, Telemetry.runsScheduled.pipe(Metric.tagged(Telemetry.Attributes.runName, name))]))

/** Reads the backlog now and every SCHEDULED_GAUGE_EVERY until the worker's scope closes. @internal */
export const forkScheduledGauge = (store: RunStore_.Service, names: ReadonlyArray<string>) => {
  const gauges = scheduledGauges(names)
  return readScheduled(store, gauges).pipe(
    Effect.repeat(Schedule.spaced(SCHEDULED_GAUGE_EVERY)),
    Effect.forkScoped
  )
}
