/**
 * A TCP proxy in front of PostgreSQL that can lose an answer: armed with a marker, it closes the
 * connection that carries the next answer containing it, in place of passing the answer on. The
 * server has done the work (an implicit transaction commits before its answer is sent), as when the
 * network fails between the server's commit and the client. It can then cut the server off for a
 * while, cut it off for good once an answer has been passed on, hold an answer back until told to
 * pass it on, be slow to connect, or rewrite what clients send.
 */
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import { RunStore } from "effect-taskflow"
import * as net from "node:net"
import { freshPostgresUrl } from "./stores.js"

export interface DropProxy {
  /** `url` with its host and port replaced by the proxy's. */
  readonly urlThrough: (url: string) => string
  /**
   * Loses the next answer from the server that contains `marker`. With `cutOffFor`, then closes every
   * connection and refuses new ones for that many ms.
   */
  readonly arm: (marker: string, options?: { readonly cutOffFor?: number }) => void
  /** How many answers were lost. */
  readonly dropped: () => number
  /** Passes on the next answer containing `marker`, then closes every connection and refuses new ones. */
  readonly cutOffAfter: (marker: string) => void
  /**
   * Holds back the next answer containing `marker`, and what follows it on that connection, until
   * the function returned is called (the server has done the work, and committed it).
   */
  readonly holdNext: (marker: string) => () => void
  /** Whether an answer is held back now (see `holdNext`). */
  readonly holding: () => boolean
  /** Connects each new connection to the server only after `millis` ms (0: at once). */
  readonly connectNewAfter: (millis: number) => void
  /** Rewrites `from` into `to` (of the same length) in all that clients send from now on. */
  readonly rewriteSent: (from: string, to: string) => void
  /** Cuts the server off at once (closes every connection and refuses new ones) until `reconnect`. */
  readonly cutOffNow: () => void
  /** Lets new connections through again after a cut-off. */
  readonly reconnect: () => void
  /** How many connections were refused while the server was cut off. */
  readonly refused: () => number
}

export const dropProxy = (url: string): Effect.Effect<DropProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const target = new URL(url)
    let marker: Buffer | undefined
    let cutOffAfterDropFor = 0
    let cutOffMarker: Buffer | undefined
    let cutOff = false
    let holdMarker: Buffer | undefined
    /** Hands the connection holding an answer back its answers. */
    let passHeld = () => {}
    let dropped = 0
    let refused = 0
    let holding = false
    let connectAfter = 0
    let rewrite: readonly [Buffer, Buffer] | undefined
    const sockets = new Set<net.Socket>()
    const serve = (client: net.Socket) => {
      if (cutOff) {
        refused++
        client.destroy()
        return
      }
      const upstream = net.connect(Number(target.port || 5432), target.hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => {
          sockets.delete(socket)
          client.destroy()
          upstream.destroy()
        })
      }
      client.on("data", (chunk: Buffer) => {
        if (rewrite !== undefined) {
          const [find, replacement] = rewrite
          for (let at = chunk.indexOf(find); at >= 0; at = chunk.indexOf(find, at + 1)) replacement.copy(chunk, at)
        }
        upstream.write(chunk)
      })
      let held: Array<Buffer> | undefined
      upstream.on("data", (chunk) => {
        if (held !== undefined) {
          held.push(chunk)
          return
        }
        if (holdMarker !== undefined && chunk.includes(holdMarker)) {
          holdMarker = undefined
          held = [chunk]
          holding = true
          passHeld = () => {
            held?.forEach((answer) => client.write(answer))
            held = undefined
            holding = false
          }
          return
        }
        if (marker !== undefined && chunk.includes(marker)) {
          marker = undefined
          dropped++
          client.destroy()
          upstream.destroy()
          if (cutOffAfterDropFor > 0) {
            cutOff = true
            for (const socket of sockets) socket.destroy()
            setTimeout(() => {
              cutOff = false
            }, cutOffAfterDropFor)
          }
          return
        }
        if (cutOffMarker !== undefined && chunk.includes(cutOffMarker)) {
          cutOffMarker = undefined
          cutOff = true
          // Once this answer is on its way: this connection ends, every other one closes, and no
          // new one opens.
          client.write(chunk, () => {
            for (const socket of sockets) {
              if (socket === client) socket.end()
              else socket.destroy()
            }
          })
          return
        }
        client.write(chunk)
      })
    }
    const server = net.createServer((client) => {
      if (connectAfter === 0) return serve(client)
      // What the client sends meanwhile waits in its socket.
      client.pause()
      client.on("error", () => {})
      setTimeout(() => {
        serve(client)
        client.resume()
      }, connectAfter)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      urlThrough: (original) => {
        const through = new URL(original)
        through.hostname = "127.0.0.1"
        through.port = String(port)
        return through.toString()
      },
      arm: (text, options) => {
        marker = Buffer.from(text)
        cutOffAfterDropFor = options?.cutOffFor ?? 0
      },
      dropped: () => dropped,
      cutOffNow: () => {
        cutOff = true
        for (const socket of sockets) socket.destroy()
      },
      reconnect: () => {
        cutOff = false
      },
      refused: () => refused,
      holding: () => holding,
      cutOffAfter: (text) => {
        cutOffMarker = Buffer.from(text)
      },
      connectNewAfter: (millis) => {
        connectAfter = millis
      },
      rewriteSent: (from, to) => {
        rewrite = [Buffer.from(from), Buffer.from(to)]
      },
      holdNext: (text) => {
        holdMarker = Buffer.from(text)
        return () => passHeld()
      }
    }
  })

/**
 * A PostgreSQL store on a fresh schema, reached through a new proxy; `url` reaches the same schema
 * directly.
 */
export const postgresThroughProxy = (options: RunStore.SqlOptions = {}) =>
  Effect.gen(function*() {
    const url = freshPostgresUrl()
    const proxy = yield* dropProxy(url)
    const store = yield* Effect.provide(
      RunStore.RunStore,
      yield* Layer.build(RunStore.postgres({ ...options, url: proxy.urlThrough(url) }))
    )
    return { url, proxy, store }
  })
