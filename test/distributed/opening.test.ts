/**
 * Several processes opening one new store at the same moment, as task workers started together do:
 * each must migrate it or wait for the one that does, and then use it. Real processes: SQLite has
 * no table lock to wait on, so only separate connections racing show the bug.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { freshPostgresUrl, freshSqliteFile, postgresAvailable } from "../support/stores.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const script = path.join(root, "test/fixtures/openStore.ts")

interface Opener {
  /** Opens the store at `location` in the process; resolves with what the process printed. */
  readonly open: (location: string) => Promise<string>
  readonly stop: () => void
}

/** Starts the fixture in a process of its own; resolves once it has loaded. */
const startOpener = (kind: "sqlite" | "postgres"): Promise<Opener> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=taskflow-source", "--import", "tsx", script, kind], {
      cwd: root,
      stdio: "pipe"
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => stderr += chunk.toString())
    child.once("exit", (code) => reject(new Error(`the opener exited (${code}): ${stderr}`)))
    const waiting: Array<(line: string) => void> = []
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "loaded") {
        resolve({
          open: (location) =>
            new Promise((answer) => {
              waiting.push(answer)
              child.stdin.write(`${location}\n`)
            }),
          stop: () => child.kill("SIGKILL")
        })
      } else {
        waiting.shift()?.(line)
      }
    })
  })

const targets = [
  { kind: "sqlite" as const, available: true, fresh: freshSqliteFile, rounds: 20 },
  { kind: "postgres" as const, available: postgresAvailable, fresh: freshPostgresUrl, rounds: 5 }
]

for (const target of targets) {
  describe.skipIf(!target.available)(`opening a new store: ${target.kind}`, () => {
    // The bug this catches: on SQLite, the Migrator of a process that found another one migrating
    // returned at once, before that one committed, and its first statement failed with "no such
    // table" (a task worker exited with code 1 at start in about 1 of 7 starts of two workers).
    it.live(
      "processes opening it at the same moment all migrate it or wait, then use it",
      () =>
        Effect.gen(function*() {
          const openers = yield* Effect.acquireRelease(
            Effect.promise(() => Promise.all(Array.from({ length: 4 }, () => startOpener(target.kind)))),
            (openers) => Effect.sync(() => openers.forEach((opener) => opener.stop()))
          )
          for (let round = 0; round < target.rounds; round++) {
            const location = target.fresh()
            const outcomes = yield* Effect.promise(() => Promise.all(openers.map((opener) => opener.open(location))))
            expect(outcomes).toEqual(["opened", "opened", "opened", "opened"])
          }
        }).pipe(Effect.scoped),
      60_000
    )
  })
}
