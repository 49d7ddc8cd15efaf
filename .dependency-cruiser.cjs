// The import rule of src/ (see CONTRIBUTING.md): dependencies point one way, type imports
// included. The only cycles allowed are a public module with its own internal files, as Effect's
// `RcMap.ts` with `internal/rcMap.ts`: the public file declares the types, the internal code
// implements them. Each folder of src/internal/ below belongs to at most one public module.

/** Public module → the folder of src/internal/ that holds its code. */
const owners = {
  State: "core",
  Telemetry: "telemetry",
  RunStore: "store",
  Futures: "futures",
  TaskRunner: "runner",
  Task: "task",
  Flow: "flow",
  TaskWorker: "worker",
  Server: "server"
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const ownedRules = Object.entries(owners).flatMap(([publicModule, folder]) => {
  const pair = `^(src/${escape(publicModule)}\\.ts$|src/internal/${folder}/)`
  return [
    {
      name: `no-circular-${folder}`,
      severity: "error",
      comment: `A cycle through ${publicModule}.ts or internal/${folder}/ may hold only those two.`,
      from: { path: pair },
      to: { circular: true, viaSomeNot: pair }
    },
    {
      name: `no-circular-within-${folder}`,
      severity: "error",
      comment: `Files of internal/${folder}/ may form a cycle only through ${publicModule}.ts.`,
      from: { path: `^src/internal/${folder}/` },
      to: { circular: true, viaNot: `^src/${escape(publicModule)}\\.ts$` }
    }
  ]
})

const ownedFolders = Object.values(owners).join("|")

/** The folders of src/internal/, lowest first: each may import only from itself and those before it. */
const layers = [
  "core",
  "telemetry",
  "codec",
  "store",
  "run",
  "futures",
  "engine",
  "runner",
  "task",
  "flow",
  "worker",
  "server"
]

const layerRules = layers.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  severity: "error",
  comment: `internal/${layer}/ sits below ${layers.slice(i + 1).join(", ")}: it may not import from them.`,
  from: { path: `^src/internal/${layer}/` },
  to: { path: `^src/internal/(${layers.slice(i + 1).join("|")})/` }
}))

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    ...ownedRules,
    {
      name: "no-circular",
      severity: "error",
      comment: "No other cycle among src/ files.",
      from: {
        path: "^src/",
        pathNot: `^src/(${Object.keys(owners).join("|")})\\.ts$|^src/internal/(${ownedFolders})/`
      },
      to: { circular: true }
    },
    {
      name: "cli-on-top",
      severity: "error",
      comment: "The command (src/cli/, src/bin/) sits at the bottom: nothing else in src/ imports it.",
      from: { path: "^src/", pathNot: "^src/(cli|bin)/" },
      to: { path: "^src/(cli|bin)/" }
    },
    {
      name: "cli-uses-public-modules",
      severity: "error",
      comment: "The command uses the library as users do, through its public modules (src/*.ts).",
      from: { path: "^src/(cli|bin)/" },
      to: { path: "^src/internal/" }
    },
    {
      name: "server-opt-in",
      severity: "error",
      comment: "The main entry never loads the HTTP server: effect-taskflow/Server is imported on its own.",
      from: { path: "^src/(index|State|Errors|Futures|Task|Flow|TaskRunner|TaskWorker|RunStore)\\.ts$" },
      to: { path: "^src/(Server\\.ts$|internal/server/)" }
    },
    {
      name: "opentelemetry-opt-in",
      severity: "error",
      comment: "Only src/cli/internal/otlp.ts imports @effect/opentelemetry: users bring their own SDK.",
      from: { path: "^src/", pathNot: "^src/cli/internal/otlp\\.ts$" },
      to: { path: "(^|/)node_modules/@effect/opentelemetry/|^@effect/opentelemetry" }
    },
    {
      name: "otlp-loaded-when-asked",
      severity: "error",
      comment:
        "src/cli/internal/otlp.ts loads only when --otlp is given: through import() (or for its types), never statically.",
      from: { path: "^src/" },
      to: { path: "^src/cli/internal/otlp\\.ts$", dependencyTypesNot: ["dynamic-import", "type-only"] }
    },
    {
      name: "internal-stays-internal",
      severity: "error",
      comment: "Benchmarks and examples use the public modules, as users do; src/internal/ is not part of the API.",
      from: { path: "^(bench|examples)/" },
      to: { path: "^src/internal/" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] }
  }
}
