/**
 * Names of what the tests create in shared places, with the test run's name in them, so that the
 * global setup (globalSetup.ts) drops exactly what this run made.
 */

/** The PostgreSQL server the tests use (CI and this machine start it before each session). */
export const PG_URL = process.env.TASKFLOW_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** The environment variable that carries the test run's name to the test files' workers. */
export const TEST_RUN_ENV = "TASKFLOW_TEST_RUN"
export const TEST_SCHEMA_PREFIX = "tf_test_"
export const SQLITE_DIR_PREFIX = "taskflow-test-"

/** This test run's name (the process id where a file runs outside `npm test`). */
export const testRun = (): string => process.env[TEST_RUN_ENV] ?? String(process.pid)

/** A new schema name of this test run. */
export const newSchemaName = (): string =>
  `${TEST_SCHEMA_PREFIX}${testRun()}_${Math.random().toString(36).slice(2, 10)}`

/** The prefix of this run's temporary SQLite folders. */
export const sqliteDirPrefix = (): string => `${SQLITE_DIR_PREFIX}${testRun()}-`
