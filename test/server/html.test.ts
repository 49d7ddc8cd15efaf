/**
 * The pages' escaping template (src/internal/server/pages/html.ts): every interpolated value is
 * text, whatever it holds; only `raw` and fragments the template made are inserted as they are.
 * Links are our own paths. And the small pure readers the pages use on request text (times).
 */
import { describe, expect, it } from "@effect/vitest"
import { runHref } from "../../src/internal/server/pages/format.js"
import { escapeHtml, html, raw } from "../../src/internal/server/pages/html.js"
import { timeOf } from "../../src/internal/server/pages/query.js"

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

  it("links are our own paths: an id is one encoded path segment, never a scheme or another path", () => {
    for (const id of ["javascript:alert(1)", "//evil.example/x", "../../assets/app.js", "a\"><script>"]) {
      const href = runHref("/ui", id, "/cancel")
      expect(href.startsWith("/ui/runs/")).toBe(true)
      expect(href.endsWith("/cancel")).toBe(true)
      expect(decodeURIComponent(href.slice("/ui/runs/".length, -"/cancel".length))).toBe(id)
      expect(href.slice("/ui/runs/".length, -"/cancel".length)).not.toMatch(/[/:"<>]/)
    }
  })
})

describe("the runs page's times", () => {
  it("reads ISO times, days and zone-less times as UTC, and nothing else", () => {
    expect(timeOf("2026-12-06T09:30:00Z")?.toISOString()).toBe("2026-12-06T09:30:00.000Z")
    expect(timeOf("2026-12-06T09:30")?.toISOString()).toBe("2026-12-06T09:30:00.000Z")
    expect(timeOf("2026-12-06 09:30:15.5")?.toISOString()).toBe("2026-12-06T09:30:15.500Z")
    expect(timeOf("2026-12-06T09:30+01:00")?.toISOString()).toBe("2026-12-06T08:30:00.000Z")
    expect(timeOf("2026-12-06")?.toISOString()).toBe("2026-12-06T00:00:00.000Z")
    for (const bad of ["yesterday", "2026-13-45", "12/06/2026", "2026-12-06T25:00", "1733477400000"]) {
      expect(timeOf(bad), bad).toBeUndefined()
    }
  })
})
