/**
 * The hot statements of a PostgreSQL store, as named prepared statements on connections with the
 * planner settings.
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type pg from "pg"
import { PLANNER_SETTINGS } from "./statements.js"

/**
 * Whether a setting's error means the connection is going or gone rather than the setting refused:
 * SQLSTATE class 57 (operator intervention: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now, query_canceled …) or 08 (connection exception), or no SQLSTATE at all (the
 * socket closed). A refused setting has a code of its own (42704 unknown parameter, 22023 bad value).
 */
const isConnectionLost = (error: Error): boolean => {
  const code = (error as { code?: unknown }).code
  return typeof code !== "string" || code.startsWith("57") || code.startsWith("08")
}

/** Runs a named prepared statement with its values. */
export type Prepared = <Row>(
  name: string,
  text: string,
  values: ReadonlyArray<unknown>
) => Effect.Effect<ReadonlyArray<Row>, SqlError>

/**
 * Runs the hot statements of a PostgreSQL store: named prepared statements on `pool`, each on a
 * connection that has `settings` (PLANNER_SETTINGS), sent once per connection before its first one
 * (and kept by it). A connection where a setting is refused (a server older than PostgreSQL 12 has no
 * `plan_cache_mode`) plans with the server's defaults there, and `settingRefused` hears why. Not
 * `pool.query`, which hands the statement to whichever connection is free, before the settings
 * could go on a new one; but as it does, a connection whose statement failed, or that failed during
 * it, is closed rather than reused.
 * @internal
 */
export const makePrepared = (
  pool: pg.Pool,
  settingRefused: (error: Error) => void,
  settings: ReadonlyArray<string> = PLANNER_SETTINGS
): Prepared => {
  const planned = new WeakSet<pg.PoolClient>()
  return <Row>(name: string, text: string, values: ReadonlyArray<unknown>) =>
    Effect.async<ReadonlyArray<Row>, SqlError>((resume) => {
      const failed = (cause: unknown) =>
        resume(Effect.fail(new SqlError({ cause, message: "Failed to execute statement" })))
      pool.connect((error, client, release) => {
        if (error || client === undefined) return failed(error)
        let released = false
        const done = (error: Error | undefined) => {
          if (released) return false
          released = true
          client.removeListener("error", lost)
          release(error)
          return true
        }
        // The connection failed while this statement (or a setting before it) ran.
        const lost = (error: Error) => {
          if (done(error)) failed(error)
        }
        client.once("error", lost)
        const execute = () => {
          try {
            client.query({ name, text, values: values as Array<unknown> }, (error, result) => {
              if (!done(error ?? undefined)) return
              if (error) failed(error)
              else resume(Effect.succeed(result.rows as ReadonlyArray<Row>))
            })
          } catch (error) {
            if (done(error as Error)) failed(error)
          }
        }
        if (planned.has(client)) return execute()
        planned.add(client)
        // One after another: a query sent while another runs is queued by pg, a deprecated use.
        const settle = (index: number): void => {
          if (index === settings.length) return execute()
          client.query(settings[index]!, (error) => {
            if (released) return // The connection was lost.
            // The server going away (shutting down, the backend terminated) is not a refused
            // setting: the statement fails as on a lost connection, and the store's retry reconnects.
            if (error && isConnectionLost(error)) {
              if (done(error)) failed(error)
              return
            }
            if (error) settingRefused(error)
            settle(index + 1)
          })
        }
        settle(0)
      })
    })
}
