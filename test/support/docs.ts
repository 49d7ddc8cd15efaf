// The checks of test/docs.test.ts: the README's and the JSDoc's ```ts snippets as modules,
// type-checked in one TypeScript program over the sources, and a language service over the
// declarations that `tsc` emits from them (what a user's editor reads). They run in a child process
// (test/support/docsCheck.ts): each program takes tens of seconds of synchronous work, which in the
// test's own worker would starve vitest's RPC ("Timeout calling onTaskUpdate").
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** One ```ts block: where it is, and its files (most blocks are one module, `snippet.ts`). */
export interface Snippet {
  /** e.g. `README.md:98` or `src/Task.ts:207`: the line of the opening fence. */
  readonly where: string
  readonly files: ReadonlyArray<SnippetFile>
}

export interface SnippetFile {
  readonly name: string
  readonly text: string
  /** The line in the source (README or src file) of the file's first line. */
  readonly firstLine: number
}

const fence = /^```(\S*)(.*)$/

/**
 * A block that opens with a `// name.ts` line holds several modules, each starting at such a line
 * (`// fib.ts: the module every thread imports`): they are written side by side, so that
 * `import { fib } from "./fib.js"` in the next one resolves.
 */
const fileHeader = /^\/\/ ([\w.-]+\.ts)\b/

const splitFiles = (lines: ReadonlyArray<string>, firstLine: number): Array<SnippetFile> => {
  const firstCode = lines.findIndex((line) => line.trim() !== "")
  if (firstCode < 0 || !fileHeader.test(lines[firstCode]!)) {
    return [{ name: "snippet.ts", text: lines.join("\n"), firstLine }]
  }
  const files: Array<SnippetFile> = []
  lines.forEach((line, i) => {
    const header = fileHeader.exec(line)
    if (header) files.push({ name: header[1]!, text: "", firstLine: firstLine + i })
    else if (files.length > 0) {
      const last = files[files.length - 1]!
      files[files.length - 1] = { ...last, text: last.text + (last.text === "" ? "" : "\n") + line }
    }
  })
  // The header line is not part of the text: it is line firstLine of the file, blank.
  return files.map((file) => ({ ...file, text: "\n" + file.text }))
}

/**
 * The ```ts blocks of a text (`strip` removes a JSDoc line's ` * ` prefix). A block fenced
 * ```ts skip-check is left out: a fragment, not a module.
 */
export const extractSnippets = (
  file: string,
  text: string,
  strip: (line: string) => string | undefined = (line) => line
): Array<Snippet> => {
  const snippets: Array<Snippet> = []
  let open: { readonly line: number; readonly check: boolean; readonly body: Array<string> } | undefined
  text.split("\n").forEach((raw, i) => {
    const line = strip(raw)
    if (line === undefined) {
      open = undefined
      return
    }
    const match = fence.exec(line.trim())
    if (open === undefined) {
      if (match && (match[1] === "ts" || match[1] === "typescript")) {
        open = { line: i + 1, check: !/\bskip-check\b/.test(match[2]!), body: [] }
      }
    } else if (match && match[1] === "") {
      if (open.check) snippets.push({ where: `${file}:${open.line}`, files: splitFiles(open.body, open.line + 1) })
      open = undefined
    } else {
      open.body.push(line)
    }
  })
  return snippets
}

/** A JSDoc line without its ` * ` (undefined outside a comment, which closes any open block). */
export const jsdocLine = (line: string): string | undefined => {
  const match = /^\s*\*(?!\/)( ?)(.*)$/.exec(line)
  return match ? match[2]! : undefined
}

/** The public modules, src/*.ts. */
export const publicModules = (): Array<string> =>
  fs.readdirSync(path.join(root, "src")).filter((name) => name.endsWith(".ts")).sort().map((name) => `src/${name}`)

/** Every ```ts block of the README and of the JSDoc of src/*.ts. */
export const allSnippets = (): Array<Snippet> => [
  ...extractSnippets("README.md", fs.readFileSync(path.join(root, "README.md"), "utf8")),
  ...publicModules().flatMap((file) => extractSnippets(file, fs.readFileSync(path.join(root, file), "utf8"), jsdocLine))
]

/** The project's compiler options (tsconfig.json), as the snippets and the declarations use them. */
export const projectOptions = (): ts.CompilerOptions => {
  const configFile = path.join(root, "tsconfig.json")
  const { config } = ts.readConfigFile(configFile, ts.sys.readFile)
  return ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configFile).options
}

/**
 * A compiler host that also serves `files` (absolute paths, under `root` so that `effect` and
 * the package's `"type": "module"` are found as for a user's module) from memory.
 */
export const virtualHost = (options: ts.CompilerOptions, files: ReadonlyMap<string, string>): ts.CompilerHost => {
  const host = ts.createCompilerHost(options, true)
  const dirs = new Set<string>()
  for (const file of files.keys()) {
    for (let dir = path.dirname(file); dir.startsWith(root + path.sep); dir = path.dirname(dir)) dirs.add(dir)
  }
  const { directoryExists, fileExists, getSourceFile, readFile } = host
  return Object.assign(host, {
    fileExists: (file: string) => files.has(file) || fileExists.call(host, file),
    readFile: (file: string) => files.get(file) ?? readFile.call(host, file),
    directoryExists: (dir: string) =>
      dirs.has(dir) || (directoryExists?.call(host, dir) ?? ts.sys.directoryExists(dir)),
    getSourceFile: (file: string, languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions, ...rest: []) => {
      const text = files.get(file)
      return text === undefined
        ? getSourceFile.call(host, file, languageVersion, ...rest)
        : ts.createSourceFile(file, text, languageVersion, true)
    }
  })
}

/** A diagnostic as `file:line:column: TS1234 message`. */
export const formatDiagnostic = (diagnostic: ts.Diagnostic): string => {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
  if (!diagnostic.file || diagnostic.start === undefined) return `TS${diagnostic.code} ${message}`
  const { character, line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  return `${diagnostic.file.fileName}:${line + 1}:${character + 1}: TS${diagnostic.code} ${message}`
}

const snippetsDir = path.join(root, ".docs-snippets")
const dtsDir = path.join(root, ".docs-dts")
const consumerFile = path.join(root, ".docs-consumer", "consumer.ts")

/**
 * Type-checks every snippet, each as its own module (files of one snippet side by side), in ONE
 * program with the project's options and `effect-taskflow` resolved to src/index.ts. Returns one
 * message per error: the README or src line, the snippet, the TypeScript error and the line's code.
 */
export const snippetErrors = (snippets: ReadonlyArray<Snippet> = allSnippets()): Array<string> => {
  const files = new Map<string, string>()
  const origin = new Map<string, { readonly where: string; readonly file: SnippetFile }>()
  snippets.forEach((snippet, i) => {
    const dir = path.join(snippetsDir, `${i}-${snippet.where.replace(/[^\w]+/g, "-")}`)
    for (const file of snippet.files) {
      files.set(path.join(dir, file.name), file.text)
      origin.set(path.join(dir, file.name), { where: snippet.where, file })
    }
  })
  const options: ts.CompilerOptions = {
    ...projectOptions(),
    noEmit: true,
    // An example may define what it does not use (`const program = ...`): a user's module exports it.
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: {
      "effect-taskflow": [path.join(root, "src/index.ts")],
      "effect-taskflow/*": [path.join(root, "src/*.ts")]
    }
  }
  const program = ts.createProgram([...files.keys()], options, virtualHost(options, files))
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const from = diagnostic.file && origin.get(diagnostic.file.fileName)
    if (!from || diagnostic.start === undefined) return formatDiagnostic(diagnostic)
    const line = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start).line
    const [source] = from.where.split(":")
    const code = diagnostic.file!.text.split("\n")[line]!.trim()
    return `${source}:${from.file.firstLine + line} (the snippet at ${from.where}, ${from.file.name}): ` +
      `${formatDiagnostic(diagnostic).replace(/^.*?: (?=TS\d+)/, "")}\n    ${code}`
  })
}

/** The .d.ts files `tsc` emits from src/ (what a user's editor reads), in memory, under `dtsDir`. */
const emitDeclarations = (): { readonly files: Map<string, string>; readonly errors: Array<string> } => {
  const options: ts.CompilerOptions = {
    ...projectOptions(),
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    rootDir: path.join(root, "src"),
    outDir: dtsDir
  }
  const program = ts.createProgram([path.join(root, "src/index.ts")], options)
  const files = new Map<string, string>()
  const result = program.emit(undefined, (file, text) => files.set(path.resolve(file), text))
  return { files, errors: result.diagnostics.map(formatDiagnostic) }
}

const languageService = (files: ReadonlyMap<string, string>): ts.LanguageService => {
  const options: ts.CompilerOptions = {
    ...projectOptions(),
    noEmit: true,
    paths: { "effect-taskflow": [path.join(dtsDir, "index.d.ts")] }
  }
  const host = virtualHost(options, files)
  return ts.createLanguageService({
    getCompilationSettings: () => options,
    getScriptFileNames: () => [consumerFile],
    getScriptVersion: () => "1",
    getScriptSnapshot: (file) => {
      const text = host.readFile(file)
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text)
    },
    getCurrentDirectory: () => root,
    getDefaultLibFileName: ts.getDefaultLibFilePath,
    fileExists: host.fileExists,
    readFile: host.readFile,
    directoryExists: host.directoryExists!,
    getDirectories: ts.sys.getDirectories
  })
}

/**
 * A call site of the consumer: the text before the name, the name, and `"hover"` where only hover
 * can show docs (a property of function type, as the `RunStore` service's: signature help shows the
 * signature's own JSDoc, which a function type cannot carry).
 */
export type CallSite = readonly [before: string, name: string, only?: "hover"]

/** What an editor shows at each call site of the consumer. */
export interface CallSiteReport {
  /** Errors of the declaration emit and of the consumer module. */
  readonly errors: ReadonlyArray<string>
  /** The library's source files in the consumer's program: none, the docs come from the .d.ts. */
  readonly sourcesInProgram: ReadonlyArray<string>
  readonly declarationsInProgram: ReadonlyArray<string>
  /** `hover on Task.make(`, `signature help at Task.make( (signature 1 of 2)`, …: what shows no JSDoc. */
  readonly undocumented: ReadonlyArray<string>
  /** Call sites whose definition is not in a .d.ts, or that were not found. */
  readonly notInDeclarations: ReadonlyArray<string>
}

/**
 * Emits the declarations of src/, opens `consumer` (which imports `effect-taskflow`, resolved to the
 * emitted index.d.ts) in a language service, and asks for hover (quick info) on each call site's
 * name and for signature help just after its `(`.
 */
export const callSiteDocs = (
  consumer: string,
  callSites: ReadonlyArray<CallSite>
): CallSiteReport => {
  const { errors, files } = emitDeclarations()
  files.set(consumerFile, consumer)
  const service = languageService(files)
  const program = service.getProgram()!
  const sources = program.getSourceFiles().map((file) => file.fileName)
  const undocumented: Array<string> = []
  const notInDeclarations: Array<string> = []
  let from = 0
  for (const [before, name, only] of callSites) {
    const site = `${before}${name}(`
    const found = consumer.indexOf(site, from)
    if (found < 0) {
      notInDeclarations.push(`${site} is not in the consumer (after position ${from})`)
      continue
    }
    const at = found + before.length
    from = at
    const definitions = service.getDefinitionAtPosition(consumerFile, at) ?? []
    if (definitions.length === 0 || definitions.some((d) => !d.fileName.startsWith(dtsDir + path.sep))) {
      notInDeclarations.push(`${site}: ${definitions.map((d) => d.fileName).join(", ") || "no definition"}`)
    }
    const quickInfo = service.getQuickInfoAtPosition(consumerFile, at)
    if (ts.displayPartsToString(quickInfo?.documentation).trim() === "") undocumented.push(`hover on ${site}`)
    if (only === "hover") continue
    const help = service.getSignatureHelpItems(consumerFile, at + name.length + 1, undefined)
    if (!help || help.items.length === 0) undocumented.push(`no signature help at ${site}`)
    help?.items.forEach((item, i) => {
      if (ts.displayPartsToString(item.documentation).trim() === "") {
        undocumented.push(`signature help at ${site} (signature ${i + 1} of ${help.items.length})`)
      }
    })
  }
  return {
    errors: [...errors, ...program.getSemanticDiagnostics(program.getSourceFile(consumerFile)).map(formatDiagnostic)],
    sourcesInProgram: sources.filter((file) => file.startsWith(path.join(root, "src") + path.sep)),
    declarationsInProgram: sources.filter((file) => file.startsWith(dtsDir + path.sep)),
    undocumented,
    notInDeclarations
  }
}
