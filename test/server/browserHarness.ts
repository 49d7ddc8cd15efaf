/**
 * What the browser tests share: Debian's Chromium driven by playwright-core (one browser per test
 * file, one page per test, each page watched for script errors and dialogs), and `taskflow server`
 * on a fresh SQLite store, served from the test process on a free port of 127.0.0.1.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { RunStore } from "effect-taskflow"
import * as Server from "effect-taskflow/Server"
import * as fs from "node:fs"
import type { Browser as PlaywrightBrowser, Page } from "playwright-core"
import { CHROMIUM, HOW_TO_INSTALL, launchChromium } from "../../scripts/chromium.js"
import { freshSqliteFile } from "../support/stores.js"

/**
 * Whether Chromium is there. In CI it must be: a missing browser fails the suite rather than
 * skipping it. Elsewhere the browser tests skip with a message that says how to install it.
 */
export const browserAvailable: boolean = (() => {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK)
    return true
  } catch {
    if (process.env.CI === "true") {
      throw new Error(`Chromium is required in CI and is not at ${CHROMIUM}. ${HOW_TO_INSTALL}`)
    }
    console.warn(`Skipping the browser tests: no Chromium at ${CHROMIUM}. ${HOW_TO_INSTALL}`)
    return false
  }
})()

/** The test file's browser. */
export class Browser extends Context.Tag("test/server/Browser")<Browser, PlaywrightBrowser>() {}

/** Launches Chromium for the layer's life. */
export const browserLayer: Layer.Layer<Browser> = Layer.scoped(
  Browser,
  Effect.acquireRelease(
    Effect.promise(launchChromium),
    (browser) => Effect.promise(() => browser.close())
  )
)

/** A promise-returning Playwright call as an Effect; a rejection fails the test with Playwright's error. */
export const pw = <A>(call: () => Promise<A>): Effect.Effect<A> => Effect.promise(call)

/** What a page did that a test never expects: uncaught errors, console errors, dialogs (an XSS `alert`). */
export interface PageWatch {
  readonly page: Page
  readonly problems: () => ReadonlyArray<string>
  readonly dialogs: () => ReadonlyArray<string>
}

/** A fresh page (in its own context: own cookies) for the scope, watched from its first request. */
export const openPage: Effect.Effect<PageWatch, never, Browser | Scope.Scope> = Effect.gen(function*() {
  const browser = yield* Browser
  const context = yield* Effect.acquireRelease(
    pw(() => browser.newContext({ viewport: { width: 1280, height: 800 } })),
    (context) => Effect.promise(() => context.close())
  )
  const page = yield* pw(() => context.newPage())
  const problems: Array<string> = []
  const dialogs: Array<string> = []
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("console", (message) => {
    // Chromium asks for /favicon.ico on its own unless a page links an icon: that 404 says nothing of the page.
    const url = message.location().url
    if (message.type() === "error" && !url.endsWith("/favicon.ico")) {
      problems.push(`console error: ${message.text()} (${url})`)
    }
  })
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    void dialog.dismiss().catch(() => undefined)
  })
  return { page, problems: () => problems, dialogs: () => dialogs }
})

/**
 * Runs `body` with a fresh page, then fails if the page opened any dialog or reported any script
 * error, even if the body's own checks passed.
 */
export const withPage = <A, E, R>(
  body: (page: Page) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Browser | R> =>
  Effect.scoped(Effect.gen(function*() {
    const watch = yield* openPage
    const result = yield* body(watch.page)
    const trouble = [...watch.dialogs().map((dialog) => `dialog ${dialog}`), ...watch.problems()]
    if (trouble.length > 0) return yield* Effect.dieMessage(`The page misbehaved:\n${trouble.join("\n")}`)
    return result
  }))

/**
 * Does `action` (a click) and waits until the page is at `url`. If it lands elsewhere, the failure
 * says where, and what that page says (an error page's reason).
 */
export const navigateBy = (page: Page, url: string | RegExp, action: () => Promise<unknown>): Effect.Effect<void> =>
  pw(async () => {
    try {
      await Promise.all([page.waitForURL(url, { timeout: 10_000 }), action()])
    } catch (error) {
      const text = await page.textContent("body").catch(() => "(no page)")
      throw new Error(`Expected to land on ${url}; the page is ${page.url()} and says: ${text?.trim().slice(0, 500)}`, {
        cause: error
      })
    }
  })

/** Where the test file's server listens, e.g. "http://127.0.0.1:39123". */
export class ServerUrl extends Context.Tag("test/server/ServerUrl")<ServerUrl, string>() {}

/**
 * A fresh SQLite store, and the server (API and pages) over it on a free port of 127.0.0.1, for the
 * layer's life. The store is the one the tests write to and read back.
 */
export const serverLayer = Layer.effect(
  ServerUrl,
  HttpServer.addressWith((address) =>
    address._tag === "TcpAddress"
      ? Effect.succeed(`http://127.0.0.1:${address.port}`)
      : Effect.dieMessage("The server listens on a Unix socket")
  )
).pipe(
  Layer.provideMerge(Server.layer({ port: 0 })),
  Layer.provideMerge(RunStore.sqlite({ filename: freshSqliteFile(), maxPollInterval: 100 }))
)
