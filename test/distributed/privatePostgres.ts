/**
 * A PostgreSQL server of the test's own (initdb in a temporary folder, its own port), so a test can
 * restart or stop it without touching the server other tests use. Needs the PostgreSQL binaries
 * (/usr/lib/postgresql/<version>/bin) and, as root, the `postgres` user to run them.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const binDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, "bin", "pg_ctl")))
  return versions.length === 0 ? undefined : path.join(root, versions.sort().at(-1)!, "bin")
}

export const privatePostgresAvailable: boolean = binDir() !== undefined &&
  (process.getuid?.() !== 0 || (() => {
    try {
      execFileSync("id", ["postgres"], { stdio: "ignore" })
      return true
    } catch {
      return false
    }
  })())

export interface PrivatePostgres {
  readonly url: string
  readonly stop: () => void
  readonly start: () => void
  readonly restart: () => void
  readonly destroy: () => void
}

export const startPrivatePostgres = (port: number): PrivatePostgres => {
  const bin = binDir()!
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskflow-pg-"))
  const data = path.join(dir, "data")
  const asRoot = process.getuid?.() === 0
  if (asRoot) execFileSync("chown", ["-R", "postgres", dir])
  const run = (command: string, args: ReadonlyArray<string>) =>
    asRoot
      ? execFileSync("runuser", ["-u", "postgres", "--", path.join(bin, command), ...args], { stdio: "pipe" })
      : execFileSync(path.join(bin, command), args, { stdio: "pipe" })
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
  const ctl = (action: string, extra: ReadonlyArray<string> = []) =>
    run("pg_ctl", [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      "-w",
      ...extra,
      action
    ])
  ctl("start")
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => ctl("stop", ["-m", "fast"]),
    start: () => ctl("start"),
    restart: () => ctl("restart", ["-m", "fast"]),
    destroy: () => {
      try {
        ctl("stop", ["-m", "immediate"])
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
