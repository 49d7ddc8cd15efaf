/**
 * The package as a user gets it: `npm pack`, installed from the tarball into a temporary project
 * outside this repository (offline, from npm's cache), then used from plain node and type-checked
 * as a strict TypeScript consumer. Real processes: the steps take seconds to minutes, hence the
 * explicit timeouts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("..", import.meta.url))
const fixtures = fileURLToPath(new URL("./fixtures/package/", import.meta.url))
const run = promisify(execFile)
const require = createRequire(import.meta.url)

/** The environment of the processes started here: none of npm's own, which `npm test` sets. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("npm_")))

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [key: string]: unknown
}

/** Where `name` resolves from the package at `from` ("" for the root), as node looks it up. */
const locate = (packages: Record<string, LockEntry>, from: string, name: string): string | undefined => {
  for (let at = from;;) {
    const candidate = `${at === "" ? "" : `${at}/`}node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (at === "") return undefined
    const up = at.lastIndexOf("/node_modules/")
    at = up < 0 ? "" : at.slice(0, up)
  }
}

/**
 * The temporary project's package-lock.json: the packages of this repository's lock that the
 * tarball and `effect` need (dependencies, optional ones, and peers that are not optional), plus
 * the tarball itself. With it, `npm ci --offline` installs from npm's cache alone: npm's cache
 * holds the tarballs `npm ci` fetched for this repository, not the registry's package documents a
 * fresh resolution would need.
 */
const consumerLock = (
  manifest: LockEntry,
  tarball: string,
  integrity: string
): { readonly lock: unknown; readonly dependencies: Record<string, string> } => {
  const repoLock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
    readonly packages: Record<string, LockEntry>
  }
  const effect = manifest.peerDependencies?.effect ?? manifest.dependencies?.effect ?? "3"
  const dependencies = { "effect": effect.replace(/^\^/, ""), "effect-taskflow": tarball }
  const self: LockEntry = {
    version: manifest.version!,
    resolved: tarball,
    integrity,
    dependencies: manifest.dependencies ?? {},
    peerDependencies: manifest.peerDependencies ?? {},
    // Optional peers (@effect/opentelemetry) are not installed: npm ci would fetch their own peers.
    ...(manifest.peerDependenciesMeta === undefined ? {} : { peerDependenciesMeta: manifest.peerDependenciesMeta }),
    // `npm ci` links bins from the lock's entry, not the tarball's manifest.
    ...(manifest.bin === undefined ? {} : { bin: manifest.bin })
  }
  const packages: Record<string, LockEntry> = { ...repoLock.packages, "node_modules/effect-taskflow": self }
  delete packages[""]
  const picked: Record<string, LockEntry> = {}
  const visit = (location: string) => {
    if (picked[location] !== undefined) return
    const { dev: _dev, devOptional: _devOptional, ...entry } = packages[location]!
    picked[location] = entry
    const optionalPeer = (name: string) => entry.peerDependenciesMeta?.[name]?.optional === true
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeer(name))
    ]
    for (const name of names) {
      const found = locate(packages, location, name)
      if (found !== undefined) visit(found)
    }
  }
  for (const name of Object.keys(dependencies)) visit(`node_modules/${name}`)
  const project = { name: "taskflow-consumer", version: "1.0.0", dependencies }
  return {
    lock: { ...project, lockfileVersion: 3, requires: true, packages: { "": project, ...picked } },
    dependencies
  }
}

let dir = ""
let app = ""
let packed: ReadonlyArray<string> = []

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskflow-package-"))
  app = path.join(dir, "app")
  // `prepack` builds dist/ first.
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: root,
    env: cleanEnv(),
    maxBuffer: 64 * 1024 * 1024
  })
  const [info] = JSON.parse(stdout.slice(stdout.indexOf("["))) as ReadonlyArray<{
    readonly filename: string
    readonly integrity: string
    readonly files: ReadonlyArray<{ readonly path: string }>
  }>
  packed = info!.files.map((file) => file.path)
  fs.cpSync(fixtures, app, { recursive: true })
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as LockEntry
  const { dependencies, lock } = consumerLock(manifest, `file:../${info!.filename}`, info!.integrity)
  const project = { name: "taskflow-consumer", version: "1.0.0", private: true, type: "module", dependencies }
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify(project, null, 2))
  fs.writeFileSync(path.join(app, "package-lock.json"), JSON.stringify(lock, null, 2))
  // --ignore-scripts: better-sqlite3 has no prebuilt binary for every platform, and building it
  // from source takes about a minute; the binary this repository's install built is copied in.
  await run("npm", ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: app, env: cleanEnv() })
  const binary = path.join("build", "Release", "better_sqlite3.node")
  const target = path.join(app, "node_modules", "better-sqlite3", binary)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.copyFileSync(path.join(path.dirname(require.resolve("better-sqlite3/package.json")), binary), target)
}, 600_000)

afterAll(() => {
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
}, 120_000)

const node = (script: string, cwd = app) =>
  run(process.execPath, [path.join(app, script)], { cwd, env: cleanEnv() }).then(({ stdout }) =>
    JSON.parse(stdout.trim().split("\n").at(-1)!)
  )

describe("the published package", () => {
  it("the tarball holds the compiled package, and no tests, benchmarks, CI or examples", () => {
    expect(packed).toContain("dist/index.js")
    expect(packed).toContain("dist/index.d.ts")
    expect(packed).toContain("dist/index.js.map")
    expect(packed).toContain("package.json")
    const unwanted = packed.filter((file) => /^(test|bench|\.ci|examples|scratchpad|build)\//.test(file))
    expect(unwanted).toEqual([])
  })

  it("runs from plain node: a flow on SQLite, and a worker-pool task from a compiled .mjs module", async () => {
    // Nothing in the project can load TypeScript, and no @types/pg was installed with the package.
    expect(fs.existsSync(path.join(app, "node_modules", "tsx"))).toBe(false)
    expect(fs.existsSync(path.join(app, "node_modules", "@types", "pg"))).toBe(false)
    const result = await node("run.mjs")
    expect(result).toEqual({ summed: [11, 12, 13], squared: [4, 9, 16], runs: 8, states: ["COMPLETED"] })
  }, 120_000)

  it(
    "a .ts pool module without tsx fails the layer with WorkerPoolError saying so; with tsx found it runs",
    async () => {
      const without = await node("tsPool.mjs")
      expect(without.tag).toBe("WorkerPoolError")
      expect(without.message).toContain("tsTasks.ts is TypeScript")
      expect(without.message).toContain("install tsx")
      expect(without.message).toContain("compiled JavaScript")
      // From this repository's folder, tsx is found from the working directory.
      expect(await node("tsPool.mjs", root)).toEqual({ tripled: [3, 6] })
    },
    120_000
  )

  it("the taskflow bin runs on plain node: --help, runs ls on a SQLite file, a .ts module without tsx", async () => {
    const help = await run("npx", ["--no-install", "taskflow", "--help"], { cwd: app, env: cleanEnv() })
    expect(help.stdout).toContain("runs ls")
    // A store with runs, made by the installed package.
    fs.writeFileSync(
      path.join(app, "cliRuns.mjs"),
      `import { Effect } from "effect"
import { Flow, RunStore, Task } from "effect-taskflow"
const triple = Task.make("package-cli-triple", (n) => Effect.succeed(n * 3))
const triples = Flow.make({ name: "package-cli-triples" }, (xs) => triple.map(xs))
await Effect.runPromise(triples([1, 2]).pipe(Effect.provide(RunStore.sqlite({ filename: process.argv[2] }))))
console.log("{}")`
    )
    const store = path.join(dir, "cli.db")
    await run(process.execPath, [path.join(app, "cliRuns.mjs"), store], { cwd: app, env: cleanEnv() })
    const ls = await run("npx", ["--no-install", "taskflow", "runs", "ls", "--store", store, "-o", "json"], {
      cwd: app,
      env: cleanEnv()
    })
    const runs = JSON.parse(ls.stdout) as ReadonlyArray<
      { readonly name: string; readonly state: { readonly type: string } }
    >
    expect(runs.map((run) => run.name).sort()).toEqual([
      "package-cli-triple",
      "package-cli-triple",
      "package-cli-triples"
    ])
    expect(runs.every((run) => run.state.type === "COMPLETED")).toBe(true)
    const worker = await run("npx", ["--no-install", "taskflow", "worker", "tsTasks.ts", "--store", store], {
      cwd: app,
      env: cleanEnv()
    }).then(() => ({ code: 0, stderr: "" }), (error: { readonly code?: number; readonly stderr?: string }) => error)
    expect(worker.code).toBe(1)
    expect(worker.stderr).toContain("tsTasks.ts is TypeScript")
    expect(worker.stderr).toContain("install tsx")
  }, 120_000)

  const typeCheck = (options: Record<string, unknown>) => {
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022"],
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
        ...options
      },
      files: ["consumer.ts"]
    }
    const name = `tsconfig.${String(options.moduleResolution)}.json`
    fs.writeFileSync(path.join(app, name), JSON.stringify(tsconfig, null, 2))
    return run(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", name], { cwd: app, env: cleanEnv() })
      .then(() => "")
      .catch((error: { readonly stdout?: string }) => error.stdout ?? String(error))
  }

  it("a strict consumer type-checks under NodeNext, the package's .d.ts included", async () => {
    expect(await typeCheck({ module: "NodeNext", moduleResolution: "NodeNext" })).toBe("")
  }, 300_000)

  it("a strict consumer type-checks under Bundler resolution, the package's .d.ts included", async () => {
    expect(await typeCheck({ module: "ESNext", moduleResolution: "Bundler" })).toBe("")
  }, 300_000)
})
