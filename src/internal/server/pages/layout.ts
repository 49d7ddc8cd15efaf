/**
 * The frame of every page, the error pages, and the one way a page becomes a response: a string the
 * `html` template produced, sent with `HttpServerResponse.text` as text/html.
 * @internal
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import { assetPaths } from "./assets.js"
import type { Html } from "./html.js"
import { html, raw } from "./html.js"

/** What a page needs to know about where it is served and whether it updates live. */
export interface PageOptions {
  readonly basePath: string
  readonly title: string
  readonly body: Html
  /** Live pages open the change feed: "all" re-fetches on any change, "ids" on changes of runs it shows. */
  readonly watch?: "all" | "ids"
  readonly status?: number
}

/**
 * A page as a response. Its referrer policy is same-origin: under the server's `no-referrer`
 * header a browser sends `Origin: null` with a same-origin form POST, which the Origin check refuses.
 */
export const page = (options: PageOptions): HttpServerResponse.HttpServerResponse => {
  const base = options.basePath
  const document = html`${raw("<!doctype html>")}
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<title>${options.title} · taskflow</title>
<link rel="stylesheet" href="${base + assetPaths.css}">
<script src="${base + assetPaths.js}" defer></script>
</head>
<body${options.watch === undefined ? "" : html` data-events="${base}/api/events" data-watch="${options.watch}"`}>
<header class="top"><a class="home" href="${base}/runs">taskflow</a><span class="muted">runs</span></header>
<main>
${options.body}
</main>
</body>
</html>
`
  return HttpServerResponse.text(document.value, {
    status: options.status ?? 200,
    contentType: "text/html; charset=utf-8",
    headers: { "cache-control": "no-store" }
  })
}

/** Why a page could not be shown: its status, a title and a message (text), and an optional fragment. */
export class PageError extends Data.TaggedError("PageError")<{
  readonly status: number
  readonly title: string
  readonly message: string
  readonly detail?: Html
  /** What went wrong inside (a store's error): logged, never shown. */
  readonly cause?: unknown
}> {}

/** The page of a `PageError`. */
export const errorPage = (basePath: string, error: PageError): HttpServerResponse.HttpServerResponse =>
  page({
    basePath,
    title: error.title,
    status: error.status,
    body: html`<h1>${error.title}</h1>
<p class="notice error" id="error-message">${error.message}</p>
${error.detail}
<p><a href="${basePath}/runs">All runs</a></p>`
  })

/**
 * A store that failed to answer, as a page error (500). Its message is fixed: the store's own may
 * name tables, files or hosts, so it goes to the log (see the router), not to the page.
 */
export const storeFailed = (error: unknown): PageError =>
  new PageError({
    status: 500,
    title: "The run store failed",
    message: "The run store did not answer. Try again; the server's log says why.",
    cause: error
  })
