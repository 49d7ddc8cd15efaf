import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Names the run, and drops the PostgreSQL schemas and SQLite files its tests made.
    globalSetup: ["test/support/globalSetup.ts"],
    // Timed behaviour is tested with TestClock; this bound only catches a hang.
    testTimeout: 15_000,
    sequence: { concurrent: false }
  }
})
