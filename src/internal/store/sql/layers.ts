/**
 * The SQL stores, as RunStore.ts loads them (when a SQL store is built): SQLite's and PostgreSQL's
 * layers. Each is its dialect's record (sqlite.ts, postgres.ts) given to the shared store (store.ts).
 * @internal
 */
export { postgresLayer } from "./postgres.js"
export { sqliteLayer } from "./sqlite.js"
