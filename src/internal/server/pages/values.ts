/**
 * Run values as the pages show them: parameters and results as indented JSON, a failure as its
 * pretty `Cause` with each typed error's fields, each cut at `CUT` characters unless asked in full.
 * The same reading as the command's `runs inspect` (src/cli/internal/output.ts), which the server
 * may not import (the command sits on top of it).
 * @internal
 */
import * as Cause from "effect/Cause"

/** How many characters of a value a page shows before "show all". */
export const CUT = 2_000

/** What JSON cannot say (undefined, bigint, Date, Map, Set, NaN, typed arrays, Errors) as the nearest plain value. */
export const jsonValue = (value: unknown, depth = 0): unknown => {
  if (depth > 100) return "…"
  if (value === undefined) return null
  if (typeof value === "bigint") return value.toString()
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (value === null || typeof value !== "object") return typeof value === "function" ? "[function]" : value
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Map) return [...value].map(([k, v]) => [jsonValue(k, depth + 1), jsonValue(v, depth + 1)])
  if (value instanceof Set || ArrayBuffer.isView(value)) {
    return [...(value as Iterable<unknown>)].map((v) => jsonValue(v, depth + 1))
  }
  if (Array.isArray(value)) return value.map((v) => jsonValue(v, depth + 1))
  const entries = Object.entries(value).map(([k, v]) => [k, jsonValue(v, depth + 1)] as const)
  if (value instanceof Error) entries.unshift(["name", value.name], ["message", value.message])
  return Object.fromEntries(entries)
}

/** A value as indented JSON. */
export const showValue = (value: unknown): string => JSON.stringify(jsonValue(value), null, 2) ?? "undefined"

/** A failure's pretty `Cause`, then each typed error's own fields (the pretty form shows only its message). */
export const showCause = (cause: Cause.Cause<unknown>): string => {
  const fields = [...Cause.failures(cause)].flatMap((error) => {
    if (error === null || typeof error !== "object") return []
    const own = Object.entries(error).filter(([key]) => key !== "message" && key !== "stack")
    return own.length === 0 ? [] : [`Fields: ${JSON.stringify(jsonValue(Object.fromEntries(own)))}`]
  })
  return [Cause.pretty(cause, { renderErrorCause: true }), ...fields].join("\n")
}

/** A shown value: its first `CUT` characters unless `full`, and whether it was cut. */
export const cut = (text: string, full: boolean): { readonly text: string; readonly cut: boolean } =>
  full || text.length <= CUT ? { text, cut: false } : { text: text.slice(0, CUT), cut: true }
