import * as Errors from "../../Errors.js"

/**
 * The longest task or flow name, in UTF-16 code units. Names travel in PostgreSQL notifications
 * (payloads under 8,000 bytes) beside a run id, and in every row and log line: 200 characters
 * (at most 800 bytes of UTF-8) leaves room, and is far more than a readable name needs.
 * @internal
 */
export const MAX_NAME_LENGTH = 200

/** The longest tag, in UTF-16 code units (tags are stored as one JSON array with each run). @internal */
export const MAX_TAG_LENGTH = 100

const controlName = (code: number): string =>
  code === 0 ? "a NUL character" : `a control character (U+${code.toString(16).toUpperCase().padStart(4, "0")})`

/** What is wrong with `text` as a name of at most `max` characters, or undefined when nothing is. */
export const nameProblem = (text: unknown, max: number): string | undefined => {
  if (typeof text !== "string") return `is not a string (got ${typeof text})`
  if (text.length === 0) return "is empty"
  if (text.length > max) return `is ${text.length.toLocaleString("en-US")} characters; at most ${max} are allowed`
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    // C0 controls, DEL and C1 controls: NUL cannot be stored by PostgreSQL, the others break logs.
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `contains ${controlName(code)} at position ${i}`
    if (code >= 0xd800 && code <= 0xdfff) {
      // A high surrogate followed by a low one is a pair (one character); any other is lone.
      const next = text.charCodeAt(i + 1)
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++
        continue
      }
      return `contains a lone surrogate (U+${code.toString(16).toUpperCase()}) at position ${i}: ` +
        "it is not well-formed Unicode"
    }
  }
  return undefined
}

/** A printable rendering of a refused name for a message: escaped, and cut short if long. */
const shown = (text: unknown): string => {
  if (typeof text !== "string") return String(text)
  const json = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
  // JSON.stringify escapes control characters; lone surrogates too (well-formed JSON.stringify).
  return json.slice(1, -1)
}

/**
 * Throws `InvalidTaskName` when `name` is not a valid task or flow name: well-formed Unicode, no
 * control characters, not empty, at most `MAX_NAME_LENGTH` characters.
 * @internal
 */
export const validateName = (kind: "task" | "flow", name: unknown): void => {
  const problem = nameProblem(name, MAX_NAME_LENGTH)
  if (problem === undefined) return
  throw new Errors.InvalidTaskName({
    taskName: typeof name === "string" ? name : String(name),
    message: `A ${kind} cannot be named '${shown(name)}': the name ${problem}. Names identify tasks and flows ` +
      `across processes and travel through the run store: they must be 1 to ${MAX_NAME_LENGTH} characters of ` +
      `well-formed Unicode without control characters.`
  })
}

/**
 * Throws `InvalidTaskName` (naming the task and the tag) when a tag breaks the same rules as a
 * name, with `MAX_TAG_LENGTH` as its bound.
 * @internal
 */
export const validateTags = (kind: "task" | "flow", name: string, tags: unknown): void => {
  if (tags === undefined) return
  if (!Array.isArray(tags)) {
    throw new Errors.InvalidTaskName({
      taskName: name,
      message: `The tags of ${kind} '${shown(name)}' must be an array of strings, got ${typeof tags}.`
    })
  }
  tags.forEach((tag: unknown, index) => {
    const problem = nameProblem(tag, MAX_TAG_LENGTH)
    if (problem === undefined) return
    throw new Errors.InvalidTaskName({
      taskName: name,
      message: `Tag ${index + 1} ('${shown(tag)}') of ${kind} '${shown(name)}' ${problem}. Tags must be 1 to ` +
        `${MAX_TAG_LENGTH} characters of well-formed Unicode without control characters.`
    })
  })
}
