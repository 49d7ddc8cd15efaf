import { defineConfig } from "vitest/config"

// "effect-taskflow" resolves to the TypeScript sources under the "taskflow-source" export
// condition (see docs/design.md, "The package"): in the test files (Vite), and in what the test
// processes start themselves (worker threads inherit `execArgv`).
// The rest are Vite's defaults for the server side (`defaultServerConditions`) but "module": plain
// Node does not resolve it, and @opentelemetry/api's "module" build has extensionless imports Node
// cannot load (tests resolve packages as users' Node does).
const conditions = ["taskflow-source", "node", "development|production"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    // Names the run, and drops the PostgreSQL schemas and SQLite files its tests made.
    globalSetup: ["test/support/globalSetup.ts"],
    // Timed behaviour is tested with TestClock; this bound only catches a hang.
    testTimeout: 15_000,
    sequence: { concurrent: false },
    poolOptions: { forks: { execArgv: ["--conditions=taskflow-source"] } }
  }
})
