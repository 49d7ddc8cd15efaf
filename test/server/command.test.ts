/**
 * `taskflow server` as a user starts it: a child process from the sources on a free port, the URL it
 * prints, the API over a real socket, Ctrl-C (SIGINT) ending it with exit 0; and the refusal to
 * serve another host without a token.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { RunStore } from "effect-taskflow"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { nodeArgs, root, seed, taskflow } from "../cli/helpers.js"
import type { Seeded } from "../cli/helpers.js"
import { freshSqliteFile } from "../support/stores.js"

let file = ""
let seeded: Seeded

beforeAll(async () => {
  file = freshSqliteFile()
  seeded = await seed(RunStore.sqlite({ filename: file }))
}, 60_000)

afterAll(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))

/** Starts `taskflow server …args`; resolves with the URL it prints, and what ends it. */
const startServer = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
  const child = spawn(process.execPath, [...nodeArgs, "server", "--store", file, "--port", "0", ...args], {
    cwd: root,
    env: { ...process.env, TASKFLOW_STORE: "", TASKFLOW_SERVER_TOKEN: "", ...env }
  })
  let output = ""
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
  const url = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /Open (http:\/\/\S+)/.exec(output)
      if (found !== null) resolve(found[1]!)
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    void exited.then((code) => reject(new Error(`the server exited (${code}) before it served: ${output}`)))
  })
  return { child, url, exited, output: () => output }
}

describe("taskflow server", () => {
  it("serves the API on a real socket, says which store, and exits 0 on Ctrl-C", async () => {
    const server = startServer([])
    try {
      const url = await server.url
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      expect(server.output()).toContain(`Serving the store ${file} (from --store)`)
      const response = await fetch(new URL("/api/runs?kind=flow", url))
      expect(response.status).toBe(200)
      const body = await response.json() as { runs: ReadonlyArray<{ id: string }> }
      expect(body.runs.map((run) => run.id)).toEqual([seeded.flowRunId])
      const page = await fetch(new URL("/runs", url))
      expect(page.status).toBe(200)
      expect(page.headers.get("content-type")).toContain("text/html")
    } finally {
      server.child.kill("SIGINT")
    }
    expect(await server.exited).toBe(0)
  }, 60_000)

  it("with a token: the printed URL carries it; a request without it is 401", async () => {
    const token = "a-token-of-twenty-chars"
    const server = startServer(["--host", "0.0.0.0"], { TASKFLOW_SERVER_TOKEN: token })
    try {
      const url = await server.url
      expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/\\?token=${token}$`))
      expect((await fetch(new URL("/api/runs", url))).status).toBe(401)
      const ok = await fetch(new URL("/api/runs", url), { headers: { authorization: `Bearer ${token}` } })
      expect(ok.status).toBe(200)
    } finally {
      server.child.kill("SIGINT")
    }
    expect(await server.exited).toBe(0)
  }, 60_000)

  it("refuses another host without a token, with exit 2 and the reason", async () => {
    const result = await taskflow(["server", "--host", "0.0.0.0", "--port", "0", "--store", file])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("Refusing to serve on 0.0.0.0 without a token")
    const short = await taskflow(["server", "--token", "short", "--port", "0", "--store", file])
    expect(short.code).toBe(2)
    expect(short.stderr).toContain("The token must be 16 characters or more")
  }, 60_000)
})
