/**
 * HTML built from a tagged template that escapes every interpolated value. `@effect/platform`'s
 * `HttpServerResponse.html` does not escape, so every page is a string this template produced: a
 * name, a tag, a parameter, a log line or an error message can only ever reach the page as text.
 * @internal
 */

/** A fragment of HTML the template made (or `raw` vouched for): the only thing inserted unescaped. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** What a template may interpolate: text (escaped), fragments, arrays of them (joined); nothing for absent values. */
export type Interpolation = Html | string | number | null | undefined | false | ReadonlyArray<Interpolation>

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  "\"": "&quot;",
  "'": "&#39;",
  "`": "&#96;"
}

/**
 * Text as HTML: the characters that could end an element, an attribute (quoted either way) or a
 * template literal in a browser's parser are written as entities.
 *
 * @example
 * escapeHtml(`"><script>`) // "&quot;&gt;&lt;script&gt;"
 */
export const escapeHtml = (text: string): string => text.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!)

const render = (value: Interpolation): string => {
  if (value === null || value === undefined || value === false) return ""
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return (value as ReadonlyArray<Interpolation>).map(render).join("")
  // Anything else (a number, a string, or what a cast let through) is text.
  return escapeHtml(String(value))
}

/**
 * The template: literal parts as written, interpolated values escaped (arrays joined, `null`,
 * `undefined` and `false` left out, `Html` fragments kept).
 *
 * @example
 * html`<p title="${name}">${name}</p>`.value
 */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Interpolation>): Html => {
  let out = strings[0]!
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!
  })
  return new Html(out)
}

/**
 * A trusted fragment inserted as it is: only for text the project wrote (the assets, a doctype),
 * never for anything read from a store or a request.
 */
export const raw = (trusted: string): Html => new Html(trusted)
