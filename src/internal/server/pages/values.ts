/**
 * Run values as the pages show them: parameters and results as indented JSON, a failure as its
 * pretty `Cause` with each typed error's fields, each cut at `CUT` characters unless asked in full.
 * The same reading as the JSON API's (../json.ts) and the command's `runs inspect`.
 * @internal
 */
import { jsonValue, showCause } from "../json.js"

export { showCause }

/** How many characters of a value a page shows before "show all". */
export const CUT = 2_000

/** A value as indented JSON. */
export const showValue = (value: unknown): string => JSON.stringify(jsonValue(value), null, 2) ?? "undefined"

/** A shown value: its first `CUT` characters unless `full`, and whether it was cut. */
export const cut = (text: string, full: boolean): { readonly text: string; readonly cut: boolean } =>
  full || text.length <= CUT ? { text, cut: false } : { text: text.slice(0, CUT), cut: true }
