#!/usr/bin/env node
/**
 * The `taskflow` command's entry (package.json "bin"). SIGINT and SIGTERM interrupt the command, as
 * `NodeRuntime.runMain` does for `TaskWorker.serve`; the exit code is set from the outcome.
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { exitCode, main } from "../cli/main.js"

main(process.argv.slice(2)).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(exitCode(exit))
  })
)
