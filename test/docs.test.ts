// The documentation compiles and reaches the user: every ```ts block of the README and of the JSDoc
// `@example`s of src/*.ts type-checks as a module (CONTRIBUTING.md, "Snippets"), and an editor over
// the declarations `tsc` emits shows the JSDoc at call sites (hover and signature help).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { allSnippets, type CallSite, type CallSiteReport, extractSnippets, jsdocLine, root } from "./support/docs.js"

// Each check builds a TypeScript program over the sources and Effect's types: tens of seconds, more
// on a busy machine. It runs in a child process (see test/support/docs.ts).
const timeout = 300_000

const runCheck = <A>(...args: ReadonlyArray<string>) =>
  Effect.async<A, Error>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", path.join(root, "test/support/docsCheck.ts"), ...args],
      { cwd: root, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resume(
          error
            ? Effect.fail(new Error(`docsCheck ${args[0]} failed: ${error.message}\n${stderr}`))
            : Effect.try({ try: () => JSON.parse(stdout) as A, catch: (e) => new Error(`${String(e)}: ${stdout}`) })
        )
    )
    return Effect.sync(() => child.kill())
  })

// A user's module: each call site below is hovered and asked for signature help.
const consumer = `import { Effect, Stream } from "effect"
import { Flow, Futures, RunStore, State, Task, TaskRunner, TaskWorker } from "effect-taskflow"
const double = Task.make("double", (n: number) => Effect.succeed(n * 2))
const twice = Flow.make("twice", (n: number) => double(n))
export const program = Effect.gen(function*() {
  const f = yield* double.submit(1)
  yield* f.wait({ timeout: "1 second" })
  yield* f.result()
  yield* f.addDoneCallback(() => Effect.void)
  yield* State.result(yield* f.state)
  const list = yield* double.map([1, 2])
  yield* list.result()
  yield* Futures.wait(list, { timeout: "1 second" })
  yield* Futures.asCompleted(list).pipe(Stream.runDrain)
  yield* Futures.cancel(f)
  const store = yield* RunStore.RunStore
  yield* store.getHistory(f.taskRunId)
  yield* double.with({ retries: 1 }).delay(2)
  return yield* twice.delay(3)
}).pipe(Effect.provide(TaskRunner.concurrent()), Effect.provide(RunStore.sqlite({ filename: "runs.db" })))
export const worker = TaskWorker.serve([double, twice], { concurrency: 2 })
export const pool = TaskRunner.workerPool({ size: 1, module: "./tasks.js" })
`

// [the text before the name, the name], in the order they appear in `consumer`.
const callSites: ReadonlyArray<CallSite> = [
  ["Task.", "make"],
  ["Flow.", "make"],
  ["double.", "submit"],
  ["f.", "wait"],
  ["f.", "result"],
  ["f.", "addDoneCallback"],
  ["State.", "result"],
  ["double.", "map"],
  ["list.", "result"],
  ["Futures.", "wait"],
  ["Futures.", "asCompleted"],
  ["Futures.", "cancel"],
  ["store.", "getHistory", "hover"],
  ["double.", "with"],
  ["}).", "delay"],
  ["twice.", "delay"],
  ["TaskRunner.", "concurrent"],
  ["RunStore.", "sqlite"],
  ["TaskWorker.", "serve"],
  ["TaskRunner.", "workerPool"]
]

describe("docs", () => {
  it("finds the ```ts blocks of the README and of the JSDoc, and their modules", () => {
    const snippets = allSnippets()
    expect(snippets.filter((s) => s.where.startsWith("README.md:")).length).toBeGreaterThanOrEqual(5)
    expect(snippets.filter((s) => s.where.startsWith("src/")).length).toBeGreaterThanOrEqual(15)
    // The README's worker-pool block is two modules: main.ts imports ./fib.js.
    expect(snippets.some((s) => s.files.map((f) => f.name).join() === "fib.ts,main.ts")).toBe(true)

    const jsdoc = [
      "/**",
      " * @example",
      " * ```ts",
      " * // a.ts",
      " * export const a = 1",
      " * // b.ts",
      " * import { a } from \"./a.js\"",
      " * ```",
      " * @example",
      " * ```ts skip-check",
      " * fragment(",
      " * ```",
      " */"
    ].join("\n")
    expect(extractSnippets("x.ts", jsdoc, jsdocLine)).toEqual([{
      where: "x.ts:3",
      files: [
        { name: "a.ts", text: "\nexport const a = 1", firstLine: 4 },
        { name: "b.ts", text: "\nimport { a } from \"./a.js\"", firstLine: 6 }
      ]
    }])
  })

  it.effect(
    "every README and JSDoc ```ts snippet type-checks, as a module importing effect-taskflow",
    () =>
      Effect.gen(function*() {
        const errors = yield* runCheck<Array<string>>("snippets")
        expect(errors, errors.join("\n\n")).toEqual([])
      }),
    timeout
  )

  it.effect(
    "hover and signature help at Task.make(, Futures.wait(, f.result(, … show JSDoc from the .d.ts",
    () =>
      Effect.gen(function*() {
        const report = yield* runCheck<CallSiteReport>("call-sites", JSON.stringify([consumer, callSites]))
        expect(report.errors).toEqual([])
        // The docs come from the emitted declarations: no source file of the library is in the program.
        expect(report.sourcesInProgram).toEqual([])
        expect(report.declarationsInProgram).toContain(path.join(root, ".docs-dts", "Task.d.ts"))
        expect(report.notInDeclarations).toEqual([])
        expect(report.undocumented, `no documentation for:\n${report.undocumented.join("\n")}`).toEqual([])
      }),
    timeout
  )
})
