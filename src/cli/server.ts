/**
 * `taskflow server`: the web UI and JSON API of a store, until Ctrl-C. The HTTP stack loads only
 * when it runs.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { invalid, lazy, storeOptions } from "./internal/flags.js"
import { otlpOptions } from "./internal/otlpSettings.js"

/** `taskflow server`. */
export const serverCommand = Command.make("server", {
  ...storeOptions,
  ...otlpOptions,
  host: Options.text("host").pipe(
    Options.withDescription("The address to listen on. Any but this machine's (127.0.0.1, localhost) needs --token."),
    Options.withDefault("127.0.0.1")
  ),
  port: Options.integer("port").pipe(
    Options.withDescription("The port to listen on (0: any free port)."),
    Options.withDefault(4200),
    Options.mapEffect((port) =>
      port >= 0 && port <= 65535 ? Effect.succeed(port) : invalid(`--port ${port}: give a port from 0 to 65535.`)
    )
  ),
  readOnly: Options.boolean("read-only").pipe(
    Options.withDescription("Refuse every action (cancel, rerun): the UI only shows runs.")
  ),
  basePath: Options.text("base-path").pipe(
    Options.withDescription("The path the UI is reached under behind a proxy (e.g. /taskflow); links carry it."),
    Options.withDefault("")
  ),
  token: Options.text("token").pipe(
    Options.withDescription(
      "A secret of 16 characters or more every request must carry (default: $TASKFLOW_SERVER_TOKEN). " +
        "The URL printed at start carries it once, then a cookie does."
    ),
    Options.withFallbackConfig(Config.string("TASKFLOW_SERVER_TOKEN")),
    Options.optional
  )
}, (flags) => lazy(() => import("./internal/serveUi.js"), (h) => h.serveUi(flags))).pipe(
  Command.withDescription("Serve the web UI and JSON API of a store (docs/ui.md), until Ctrl-C.")
)
