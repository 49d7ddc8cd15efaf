/**
 * Debian's Chromium, driven by playwright-core: what the browser tests and the screenshot script
 * launch. Playwright's own browser download does not work here (nor is it needed): any Chromium
 * binary will do, `/usr/bin/chromium` unless TASKFLOW_CHROMIUM names another.
 */
import { chromium } from "playwright-core"
import type { Browser } from "playwright-core"

/** The Chromium binary: Debian's (`apt-get install chromium`), or the one TASKFLOW_CHROMIUM names. */
export const CHROMIUM = process.env.TASKFLOW_CHROMIUM ?? "/usr/bin/chromium"

/** What to do when it is missing. */
export const HOW_TO_INSTALL = "Install Debian's Chromium (`apt-get install chromium`; .ci/run does it in CI) " +
  "or set TASKFLOW_CHROMIUM to a Chromium binary. Playwright's own browser download is not used."

/** Headless, and nothing that reaches out to the network on its own (updates, sync, QUIC probes). */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Starts Chromium (playwright-core gives each launch a fresh, temporary user data dir). */
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS })
