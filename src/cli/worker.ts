/**
 * `taskflow worker <module>`: imports the user's module and serves the tasks and flows it exports
 * (`TaskWorker.serve`) until SIGINT or SIGTERM. The code that does it loads only when it runs.
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { lazy, positive, storeOptions } from "./internal/flags.js"
import { otlpOptions } from "./internal/otlpSettings.js"

/** `taskflow worker`. */
export const workerCommand = Command.make("worker", {
  ...storeOptions,
  ...otlpOptions,
  module: Args.text({ name: "module" }).pipe(
    Args.withDescription("The JavaScript module (.js, .mjs; .ts with tsx installed) that exports your tasks and flows.")
  ),
  task: Options.text("task").pipe(
    Options.withDescription("Serve only the task or flow of this name (repeatable; default every one exported)."),
    Options.repeated
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("How many runs execute at once."),
    Options.withDefault(10),
    Options.mapEffect(positive("concurrency"))
  ),
  name: Options.text("name").pipe(
    Options.withDescription(
      "The worker's id in the store, unique among the workers that share it (default host:pid:random)."
    ),
    Options.optional
  )
}, (flags) => lazy(() => import("./internal/serve.js"), (h) => h.serve(flags))).pipe(
  Command.withDescription("Serve the tasks and flows a module exports, until Ctrl-C (SIGINT) or SIGTERM.")
)
