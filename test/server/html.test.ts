/**
 * The pages' escaping template (src/internal/server/pages/html.ts): every interpolated value is
 * text, whatever it holds; only `raw` and fragments the template made are inserted as they are.
 */
import { describe, expect, it } from "@effect/vitest"
import { escapeHtml, html, raw } from "../../src/internal/server/pages/html.js"

const hostile = [
  "<img src=x onerror=alert(1)>",
  "\"><script>alert(1)</script>",
  "'><svg onload=alert(1)>",
  "`${alert(1)}`",
  "&lt;already&gt; &amp;"
]

describe("html template", () => {
  it("escapes & < > \" ' and backtick", () => {
    expect(escapeHtml(`&<>"'\``)).toBe("&amp;&lt;&gt;&quot;&#39;&#96;")
  })

  it.each(hostile)("keeps %s as text in content and in attributes", (text) => {
    const out = html`<p title="${text}" data-x='${text}'>${text}</p>`.value
    expect(out).not.toMatch(/<(img|script|svg)/)
    expect(out.match(/"/g)).toHaveLength(2) // only the template's own quotes
    expect(out.match(/'/g)).toHaveLength(2)
    expect(out).not.toContain("`")
    // Reading the text back (what a browser shows) gives the value unchanged.
    const shown = out.replace(/^<p[^>]*>|<\/p>$/g, "")
      .replace(/&#39;/g, "'").replace(/&#96;/g, "`").replace(/&quot;/g, "\"")
      .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")
    expect(shown).toBe(text)
  })

  it("joins arrays, escaping each item, and leaves out null, undefined and false", () => {
    const items = ["<b>", "a&b"]
    expect(html`<ul>${items.map((item) => html`<li>${item}</li>`)}</ul>`.value)
      .toBe("<ul><li>&lt;b&gt;</li><li>a&amp;b</li></ul>")
    expect(html`${null}${undefined}${false}${0}`.value).toBe("0")
    expect(html`${["<", [">", html`<br>`]]}`.value).toBe("&lt;&gt;<br>")
  })

  it("inserts fragments and raw() unescaped, and nothing else", () => {
    const inner = html`<em>${"<i>"}</em>`
    expect(html`<p>${inner}</p>`.value).toBe("<p><em>&lt;i&gt;</em></p>")
    expect(html`${raw("<!doctype html>")}`.value).toBe("<!doctype html>")
    // An object that looks like a fragment is not one.
    const fake = { value: "<script>" } as unknown as string
    expect(html`${fake}`.value).not.toContain("<script>")
  })
})
