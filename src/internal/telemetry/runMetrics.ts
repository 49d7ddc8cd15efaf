import type * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as State from "../../State.js"
import { Attributes, retries, runDuration, runsEnded } from "../../Telemetry.js"
import type { TaskDefinition } from "../core/definition.js"

/** Always the same array per definition and state: Effect caches a metric's hook by its tags array. */
type Tags = ReadonlyArray<MetricLabel.MetricLabel>

/** The tags of one task's or flow's metrics, made once: no new labels or keys per run. */
interface DefinitionMetrics {
  readonly tags: Tags
  readonly byState: Map<State.State<unknown, unknown>["type"], Tags>
}

const cache = new WeakMap<TaskDefinition, DefinitionMetrics>()

const metricsOf = (def: TaskDefinition): DefinitionMetrics => {
  let metrics = cache.get(def)
  if (metrics === undefined) {
    metrics = {
      tags: [MetricLabel.make(Attributes.runKind, def.kind), MetricLabel.make(Attributes.runName, def.name)],
      byState: new Map()
    }
    cache.set(def, metrics)
  }
  return metrics
}

const stateTags = (metrics: DefinitionMetrics, type: State.State<unknown, unknown>["type"]): Tags => {
  let tags = metrics.byState.get(type)
  if (tags === undefined) {
    tags = [...metrics.tags, MetricLabel.make(Attributes.stateType, type)]
    metrics.byState.set(type, tags)
  }
  return tags
}

const counter = runsEnded as Metric.Metric.Counter<number>

/**
 * Counts a run that reached its final state (`runsEnded`) and how long it ran from its first
 * Running (`runDuration`, when it ran at all). Synchronous: it runs where the engine records states.
 * @internal
 */
export const recordRunEnd = (
  def: TaskDefinition,
  state: State.State<unknown, unknown>,
  runningAt: number | undefined
): void => {
  const tags = stateTags(metricsOf(def), state.type)
  counter.unsafeUpdate(1, tags)
  if (runningAt !== undefined) {
    runDuration.unsafeUpdate(Math.max(0, state.timestamp.getTime() - runningAt) / 1000, tags)
  }
}

/**
 * Counts an attempt after a run's first (`retries`).
 * @internal
 */
export const recordRetry = (def: TaskDefinition): void => retries.unsafeUpdate(1, metricsOf(def).tags)
