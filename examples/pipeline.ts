/**
 * The main example: a small document-analysis pipeline.
 *
 * - `fetch-document` is mapped over generated documents; some fail their first attempt and are
 *   retried (AwaitingRetry → Retrying);
 * - `analyze` runs on each fetched document as soon as it is ready (a future as its argument);
 * - one deliberately slow analysis hits its task timeout and ends Failed named TimedOut;
 * - `Futures.asCompleted` drives a live progress line;
 * - every run is recorded in the embedded run store (SQLite, `.taskflow/runs.db`), whose records
 *   end in a summary table of every run and its state.
 *
 * Run it with `npm start`.
 */
import { Duration, Effect, Stream } from "effect"
import { Flow, Futures, RunStore, State, Task, TaskRunner } from "effect-taskflow"
import { pathToFileURL } from "node:url"

interface Document {
  readonly id: number
  readonly text: string
}

const WORDS = ["effect", "fiber", "future", "flow", "task", "state", "stream", "layer", "retry", "timeout"]

/** Deterministic documents, so every run of the example tells the same story. */
const makeDocuments = (count: number): ReadonlyArray<number> => Array.from({ length: count }, (_, i) => i + 1)

const attempts = new Map<number, number>()

const fetchDocument = Task.make(
  { name: "fetch-document", retries: 2, retryDelay: "20 millis", tags: ["io"] },
  (id: number) =>
    Effect.gen(function*() {
      const attempt = (attempts.get(id) ?? 0) + 1
      attempts.set(id, attempt)
      yield* Effect.sleep(Duration.millis(5 + (id * 7) % 30))
      // Every fifth document's first fetch fails: the retry recovers it.
      if (id % 5 === 0 && attempt === 1) return yield* Effect.fail(new Error(`connection reset fetching #${id}`))
      const text = Array.from({ length: 20 + id * 3 }, (_, i) => WORDS[(id * 31 + i * 7) % WORDS.length]).join(" ")
      return { id, text } satisfies Document
    })
)

const analyze = Task.make({ name: "analyze", timeout: "200 millis" }, (document: Document) =>
  Effect.gen(function*() {
    // Document #13 is pathological and takes far longer than the task's timeout allows.
    yield* Effect.sleep(document.id === 13 ? "5 seconds" : Duration.millis(10 + (document.id * 13) % 40))
    const counts = new Map<string, number>()
    for (const word of document.text.split(" ")) counts.set(word, (counts.get(word) ?? 0) + 1)
    const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1])
    return { id: document.id, words: document.text.split(" ").length, top: top[0] }
  }))

const progressLine = (done: number, total: number, failed: number) => {
  const width = 24
  const filled = Math.round((done / total) * width)
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} analyses done, ${failed} failed`
}

/** Prints the progress bar in place on a terminal, and every quarter otherwise (CI logs). */
const reportProgress = (done: number, total: number, failed: number) =>
  Effect.sync(() => {
    if (process.stdout.isTTY) {
      process.stdout.write(`\r${progressLine(done, total, failed)}${done === total ? "\n" : ""}`)
    } else if (done === total || done % Math.max(1, Math.floor(total / 4)) === 0) {
      console.log(progressLine(done, total, failed))
    }
  })

export const pipeline = Flow.make(
  { name: "document-pipeline", taskRunner: TaskRunner.concurrent({ maxConcurrency: 8 }) },
  (ids: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const documents = yield* fetchDocument.map(ids)
      // Each analysis starts as soon as its document is fetched.
      const analyses = yield* Effect.forEach(documents, (document) => analyze.submit(document))
      let done = 0
      let failed = 0
      yield* Futures.asCompleted(analyses).pipe(
        Stream.runForEach((future) =>
          Effect.flatMap(future.state, (state) => {
            done++
            if (!State.isCompleted(state)) failed++
            return reportProgress(done, analyses.length, failed)
          })
        )
      )
      const outcomes = yield* Futures.PrefectFutureList.make(analyses).result({ raiseOnFailure: false })
      return outcomes.flatMap((exit) => exit._tag === "Success" ? [exit.value] : [])
    })
)

const pad = (text: string, width: number) =>
  text.length >= width ? text.slice(0, width) : text + " ".repeat(width - text.length)

/** A table of the latest pipeline run and its task runs, as the store recorded them. */
export const summary = Effect.gen(function*() {
  const store = yield* RunStore.RunStore
  // The store keeps every earlier run too: show the newest flow run and what ran in it.
  const [flow] = yield* store.listRuns({ kind: "flow", name: "document-pipeline", order: "newest", limit: 1 })
  const runs = [flow, ...(yield* store.listRuns({ flowRunId: flow.id }))]
  const lines = [`${pad("run", 18)}${pad("id", 10)}${pad("state", 22)}${pad("attempts", 10)}duration`]
  const byState = new Map<string, number>()
  for (const run of runs) {
    const history = yield* store.getHistory(run.id)
    const millis = run.state.timestamp.getTime() - history[0].timestamp.getTime()
    const state = run.state.name === run.state.type.charAt(0) + run.state.type.slice(1).toLowerCase()
      ? run.state.type
      : `${run.state.type} (${run.state.name})`
    byState.set(state, (byState.get(state) ?? 0) + 1)
    // The id's last characters: a run id begins with the time it was made, shared by runs made together.
    lines.push(
      `${pad(run.name, 18)}${pad(run.id.slice(-8), 10)}${pad(state, 22)}${pad(String(run.runCount), 10)}${millis} ms`
    )
  }
  lines.push("", `${runs.length} runs: ${[...byState].map(([state, count]) => `${count} ${state}`).join(", ")}`)
  return lines.join("\n")
})

/** The embedded run store: one SQLite file, the default for examples and the CLI. */
const STORE_FILE = ".taskflow/runs.db"

export const main = Effect.gen(function*() {
  const ids = makeDocuments(20)
  console.log(`Analysing ${ids.length} documents (8 at a time; every fifth fetch fails once; #13 times out)`)
  const results = yield* pipeline(ids)
  console.log(
    `\n${results.length} documents analysed; top words: ${[...new Set(results.map((r) => r.top))].join(", ")}\n`
  )
  console.log(yield* summary)
  console.log(`\nEvery run is kept in ${STORE_FILE} (SQLite); run it again and the store grows.`)
  console.log("See them again: npm run taskflow -- runs ls (or runs inspect <id>, runs logs <id>),")
  console.log("or in the web UI: npm run taskflow -- server, then open http://127.0.0.1:4200/")
  return results
}).pipe(Effect.provide(RunStore.sqlite({ filename: STORE_FILE })))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
