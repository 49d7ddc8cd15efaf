/**
 * Small pure helpers the pages share: state badges, times, durations, attempts, links.
 * @internal
 */
import type * as RunStore from "../../../RunStore.js"
import * as State from "../../../State.js"
import type { Html } from "./html.js"
import { html } from "./html.js"

export { ACTIVE_TYPES, STATE_NAMES, STATE_TYPES } from "../runs.js"

/** A state badge: its type (for the colour) and its name as text. */
export const stateBadge = (state: { readonly type: string; readonly name: string }, id?: string): Html =>
  html`<span class="state"${
    id === undefined ? "" : html` id="${id}"`
  } data-state-type="${state.type}">${state.name}</span>`

/** A time in UTC, machine-readable for the script's relative times ("3 min ago"). */
export const timeTag = (date: Date | undefined): Html =>
  date === undefined || Number.isNaN(date.getTime())
    ? html`<span class="muted">-</span>`
    : html`<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 19).replace("T", " ")} UTC</time>`

/** "850ms", "4.2s", "3m 04s", "2h 05m", "3d 4h". */
export const formatDuration = (ms: number | undefined): string => {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "-"
  if (ms < 1_000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`
  const s = Math.floor(ms / 1_000)
  const pad = (n: number) => String(n).padStart(2, "0")
  if (s < 3_600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${pad(Math.floor(s / 60) % 60)}m`
  return `${Math.floor(s / 86_400)}d ${Math.floor(s / 3_600) % 24}h`
}

/** When a run ended: its final state's time, or undefined while it is not final. */
export const endedAt = (run: RunStore.RunRecord): Date | undefined =>
  State.isFinal(run.state) ? run.state.timestamp : undefined

/** A run's duration as the runs table shows it (creation to end, or to now while it runs). */
export const durationOf = (run: RunStore.RunRecord, now: number): number =>
  (endedAt(run)?.getTime() ?? now) - run.createdAt.getTime()

/** "2/4": the attempts used of those allowed (1 + retries). */
export const attempts = (run: RunStore.RunRecord): string => `${run.runCount}/${run.retries + 1}`

/** The link to a run's page: our own path, from an encoded id, never a URL a run supplied. */
export const runHref = (basePath: string, id: string, rest = ""): string =>
  `${basePath}/runs/${encodeURIComponent(id)}${rest}`

const SHORT_ID = 8

const sharedLength = (a: string, b: string): number => {
  let n = 0
  while (n < a.length && a[n] === b[n]) n++
  return n
}

/**
 * Shows each of `ids` by its shortest prefix (8 characters or more) that no other of them shares,
 * with the whole id as its title: run ids are UUIDv7, so runs made together share their first
 * characters. (`taskflow runs ls` shortens ids the same way; the command may not import this file.)
 */
export const shortIds = (ids: ReadonlyArray<string>): (id: string) => Html => {
  const sorted = [...new Set(ids)].sort()
  const prefixes = new Map<string, string>()
  sorted.forEach((id, i) => {
    const before = i > 0 ? sharedLength(id, sorted[i - 1]!) : 0
    const after = i < sorted.length - 1 ? sharedLength(id, sorted[i + 1]!) : 0
    prefixes.set(id, id.slice(0, Math.max(SHORT_ID, before + 1, after + 1)))
  })
  return (id) => html`<code title="${id}">${prefixes.get(id) ?? id.slice(0, SHORT_ID)}</code>`
}
