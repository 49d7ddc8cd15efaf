/**
 * The README's screenshots of the web UI, from the example's own runs: runs the example's flow
 * (examples/pipeline.ts, what `npm start` runs) on a fresh SQLite store, serves that store on a free
 * port of 127.0.0.1, and has Chromium (see chromium.ts) save the runs page and the flow run's page
 * at 1280×800 to docs/images/runs.png and docs/images/flow-run.png.
 *
 * Run it with `npm run screenshots`.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer } from "effect"
import { RunStore } from "effect-taskflow"
import * as Server from "effect-taskflow/Server"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { pipeline } from "../examples/pipeline.js"
import { launchChromium } from "./chromium.js"

const images = fileURLToPath(new URL("../docs/images/", import.meta.url))

/** Saves the two pages of the server at `base`: the runs page, and the page of `flowRunId`. */
const shoot = async (base: string, flowRunId: string) => {
  const browser = await launchChromium()
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(`${base}/runs`)
    await page.screenshot({ path: path.join(images, "runs.png") })
    await page.goto(`${base}/runs/${flowRunId}`)
    await page.screenshot({ path: path.join(images, "flow-run.png") })
  } finally {
    await browser.close()
  }
}

const main = Effect.gen(function*() {
  const store = yield* RunStore.RunStore
  yield* pipeline(Array.from({ length: 20 }, (_, i) => i + 1))
  const [flowRun] = yield* store.listRuns({ kind: "flow", name: "document-pipeline", order: "newest", limit: 1 })
  const base = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
  )
  yield* Effect.promise(() => shoot(base, flowRun.id))
  console.log(`Saved ${path.join(images, "runs.png")} and ${path.join(images, "flow-run.png")}`)
})

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "tf-screenshots-"))
const served = Server.layer({ port: 0 }).pipe(
  Layer.provideMerge(RunStore.sqlite({ filename: path.join(directory, "runs.db") }))
)

Effect.runPromise(Effect.provide(main, served)).then(
  () => fs.rmSync(directory, { recursive: true, force: true }),
  (error) => {
    fs.rmSync(directory, { recursive: true, force: true })
    console.error(error)
    process.exitCode = 1
  }
)
