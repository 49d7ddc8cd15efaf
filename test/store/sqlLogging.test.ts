/**
 * What a SQL store logs from outside its fibers (a subscriber that throws, called from the writer,
 * a driver's callback or a file watch; a planner setting PostgreSQL refuses) reaches the Logger the
 * user provided in the layer that built the store, not Effect's default logger.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import { RunStore, State } from "effect-taskflow"
import { dropProxy } from "../support/dropProxy.js"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"

interface Logged {
  readonly level: string
  readonly message: string
}

/** A Logger that keeps what it hears, and the layer that gives it to what it is provided to. */
const userLogger = () => {
  const logs: Array<Logged> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const first: unknown = Array.isArray(message) ? message[0] : message
    logs.push({ level: logLevel.label, message: String(first) })
  })
  return { logs, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Waits, up to 5 seconds, for `logs` to hold a message at `level` that contains `text`. */
const logged = (logs: ReadonlyArray<Logged>, level: string, text: string) =>
  Effect.gen(function*() {
    const found = () => logs.some((log) => log.level === level && log.message.includes(text))
    while (!found()) yield* Effect.sleep("20 millis")
  }).pipe(Effect.timeout("5 seconds"))

/** A store built with `layer` provided to it, as a user's app builds it. */
const open = (store: Layer.Layer<RunStore.RunStore, unknown>, layer: Layer.Layer<never> = Layer.empty) =>
  Effect.map(Layer.build(store.pipe(Layer.provide(layer))), Context.get(RunStore.RunStore))

const newRun = (id: string, state: State.State<unknown, unknown>) => ({
  id,
  kind: "task" as const,
  name: "sql-logging-plain",
  state
})

const throwing = () => {
  throw new Error("a subscriber's own bug")
}

const THREW = "A run store subscriber threw"

const cases = [
  {
    name: "sqlite",
    available: true,
    fresh: freshSqliteFile,
    store: (filename: string) => RunStore.sqlite({ filename })
  },
  {
    name: "postgres",
    available: postgresAvailable,
    fresh: freshPostgresUrl,
    store: (url: string) => RunStore.postgres({ url })
  }
] as const

for (const c of cases) {
  describe.skipIf(!c.available)(`SQL store logs: ${c.name}`, () => {
    it.live("a subscriber that throws, called by the store's own fibers, is reported to the user's Logger", () =>
      Effect.gen(function*() {
        const { layer, logs } = userLogger()
        const s = yield* open(c.store(c.fresh()), layer)
        const id = crypto.randomUUID()
        yield* s.createRun(newRun(id, State.scheduled()))
        s.unsafeSubscribe(id, throwing)
        yield* s.setState(id, State.running())
        yield* logged(logs, "ERROR", THREW)
      }).pipe(Effect.scoped))

    it.live("a subscriber that throws, called for another process's change, is reported to the user's Logger", () =>
      Effect.gen(function*() {
        const location = c.fresh()
        const { layer, logs } = userLogger()
        const s = yield* open(c.store(location), layer)
        // Two layers over one database stand for two processes.
        const other = yield* open(c.store(location))
        // PostgreSQL: heard by the LISTEN connection; SQLite: by the watch on the WAL file.
        s.unsafeSubscribeScheduled(throwing)
        yield* other.createRun(newRun(crypto.randomUUID(), State.scheduled()))
        yield* logged(logs, "ERROR", THREW)
      }).pipe(Effect.scoped))
  })
}

describe.skipIf(!postgresAvailable)("SQL store logs: postgres only", () => {
  // A server older than PostgreSQL 12 refuses `plan_cache_mode`: here a proxy misspells it.
  it.live("a planner setting the server refuses is reported to the user's Logger", () =>
    Effect.gen(function*() {
      const url = freshPostgresUrl()
      const proxy = yield* dropProxy(url)
      proxy.rewriteSent("plan_cache_mode", "plan_cache_modx")
      const { layer, logs } = userLogger()
      const s = yield* open(RunStore.postgres({ url: proxy.urlThrough(url) }), layer)
      const id = crypto.randomUUID()
      // A hot statement: its connection gets the planner settings first.
      yield* s.createRun(newRun(id, State.scheduled()))
      yield* logged(logs, "WARN", "refused a planner setting")
      expect((yield* s.getRun(id)).state.type).toBe("SCHEDULED")
    }).pipe(Effect.scoped))
})
