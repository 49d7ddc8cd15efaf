/**
 * What `taskflow worker <module>` does (loaded only when it runs): import the user's module, find
 * the tasks and flows it exports, and serve them (`TaskWorker.serve`) until SIGINT or SIGTERM.
 * @internal
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type * as TaskWorker from "../../TaskWorker.js"
import { badUsage, failed } from "./failure.js"
import type { StoreFlags } from "./flags.js"
import { describeStore, resolveStore } from "./location.js"
import type { OtlpFlags } from "./otlpSettings.js"
import { prepareOtlp, withOtlp } from "./otlpSettings.js"
import { storeLayer } from "./store.js"
import { ensureSchema } from "./storeHandlers.js"

/** A task or flow found among a module's exports. */
export interface Servable {
  readonly kind: "task" | "flow"
  readonly name: string
  readonly value: TaskWorker.Servable
}

const TYPESCRIPT = /\.(?:ts|mts|cts|tsx)$/i

/**
 * Registers tsx for a TypeScript module when this process cannot load one (the compiled command on
 * plain node): found from the module's folder, then the working directory.
 */
const typescriptLoader = (file: string): Effect.Effect<void, ReturnType<typeof failed>> =>
  Effect.tryPromise({
    try: async () => {
      if (!TYPESCRIPT.test(file) || import.meta.url.endsWith(".ts")) return
      for (const from of [file, path.join(process.cwd(), "noop.js")]) {
        let api: string
        try {
          api = createRequire(from).resolve("tsx/esm/api")
        } catch {
          continue
        }
        const tsx = await import(pathToFileURL(api).href) as { readonly register: () => unknown }
        tsx.register()
        return
      }
      throw new Error("no tsx")
    },
    catch: () =>
      failed(
        `The module ${file} is TypeScript, and plain node loads a .ts module only through tsx, which was not ` +
          `found from the module's folder or the working directory: install tsx (npm install tsx), or point ` +
          `taskflow worker at compiled JavaScript (.js or .mjs).`
      )
  })

/** Imports the module and finds the tasks and flows it exports. */
export const loadServables = (module: string) =>
  Effect.gen(function*() {
    const file = path.resolve(module)
    if (!fs.existsSync(file)) {
      return yield* failed(`The module ${file} does not exist: give the path of the file that exports your tasks.`)
    }
    yield* typescriptLoader(file)
    const [Task, Flow] = yield* Effect.promise(() => Promise.all([import("../../Task.js"), import("../../Flow.js")]))
    const exports = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>>,
      catch: (error) =>
        failed(`The module ${file} failed to load: ${error instanceof Error ? error.message : String(error)}`)
    })
    const found = new Map<string, Servable>()
    for (const value of Object.values(exports)) {
      if (Task.isTask(value)) found.set(value.name, { kind: "task", name: value.name, value })
      else if (Flow.isFlow(value)) found.set(value.name, { kind: "flow", name: value.name, value })
    }
    return { file, servables: [...found.values()] }
  })

/** Keeps the servables named with `--task` (all without it); an unknown name is bad usage. */
export const pickServables = (file: string, servables: ReadonlyArray<Servable>, names: ReadonlyArray<string>) => {
  if (servables.length === 0) {
    return Effect.fail(failed(
      `The module ${file} exports no task or flow. Export what the worker should serve, made with Task.make or ` +
        `Flow.make (export const double = Task.make("double", ...)).`
    ))
  }
  if (names.length === 0) return Effect.succeed(servables)
  const unknown = names.filter((name) => !servables.some((servable) => servable.name === name))
  return unknown.length > 0
    ? Effect.fail(badUsage(
      `--task ${unknown.join(", ")}: the module ${file} exports no task or flow of that name. It exports: ${
        servables.map((servable) => servable.name).join(", ")
      }.`
    ))
    : Effect.succeed(servables.filter((servable) => names.includes(servable.name)))
}

/** `worker`. */
export const serve = (
  flags: StoreFlags & OtlpFlags & {
    readonly module: string
    readonly task: ReadonlyArray<string>
    readonly concurrency: number
    readonly name: Option.Option<string>
  }
) =>
  Effect.gen(function*() {
    const location = yield* resolveStore(flags)
    // The exporter loads first: a missing package fails before the schema or the banner.
    const otlp = yield* prepareOtlp(flags, process.env, "taskflow-worker")
    // A worker on a new PostgreSQL schema creates it, as `store migrate` does.
    yield* ensureSchema(location)
    const { file, servables } = yield* loadServables(flags.module)
    const serving = yield* pickServables(file, servables, flags.task)
    const workerId = Option.getOrElse(
      flags.name,
      () => `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`
    )
    const TaskWorker = yield* Effect.promise(() => import("../../TaskWorker.js"))
    yield* Console.log(
      [
        `Worker ${workerId} serving ${serving.length} ${
          serving.length === 1 ? "task or flow" : "tasks and flows"
        } from ${file} on ${describeStore(location)}, ` +
        `${flags.concurrency} at a time${
          otlp === undefined ? "" : `, exporting to ${otlp.settings.baseUrl} (${otlp.settings.protocol})`
        }:`,
        ...serving.map((servable) => `  ${servable.kind} ${servable.name}`),
        "Ctrl-C to stop (running runs finish first; a second Ctrl-C gives them back at once)."
      ].join("\n")
    )
    // The exporter outlives the store and the worker: what they do last is sent before it closes.
    return yield* withOtlp(
      otlp,
      TaskWorker.serve(serving.map((servable) => servable.value), {
        concurrency: flags.concurrency,
        workerId
      }).pipe(Effect.provide(storeLayer(location, { create: true, reconnectFor: "30 seconds" })))
    )
  })
