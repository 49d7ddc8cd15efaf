/**
 * `taskflow store …`: what a store holds (`info`) and bringing its tables up to date (`migrate`).
 * @internal
 */
import * as Command from "@effect/cli/Command"
import { lazy, outputOption, storeOptions } from "./internal/flags.js"

const handlers = () => import("./internal/storeHandlers.js")

const info = Command.make(
  "info",
  { ...storeOptions, output: outputOption },
  (flags) => lazy(handlers, (h) => h.info(flags))
).pipe(Command.withDescription("Where the store is, how it was chosen, its schema version, and its runs by state."))

const migrate = Command.make("migrate", { ...storeOptions }, (flags) => lazy(handlers, (h) => h.migrate(flags))).pipe(
  Command.withDescription("Create the store's tables or bring them up to this version (safe to run again).")
)

/** `taskflow store`. */
export const storeCommand = Command.make("store").pipe(
  Command.withDescription("Inspect or migrate the store."),
  Command.withSubcommands([info, migrate])
)
