/**
 * The change feed: what a poll reports, one loop shared by every listener and only while one
 * listens, replay after a reconnect (else `reset`), coalescing per connection and the keep-alive
 * (TestClock), and the events over a real socket.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Fiber, Layer, Queue, type Scope, Stream, TestClock } from "effect"
import { RunStore, State } from "effect-taskflow"
import { appLayer } from "../../src/internal/server/app.js"
import type { FeedEvent } from "../../src/internal/server/feed.js"
import { changedRuns, connectionText, makeFeed, parseEventId } from "../../src/internal/server/feed.js"
import { newRun, uuid } from "../support/storeRuns.js"
import { freshSqliteFile } from "../support/stores.js"

const snapshot = (active: Record<string, string>, ended: Record<string, number> = {}) => ({
  at: 0,
  active: new Map(Object.entries(active)),
  ended: new Map(Object.entries(ended))
})

/** Takes the next event of a stream being pulled into `queue`. */
const next = (queue: Queue.Queue<FeedEvent>) => Queue.take(queue)

/** Runs `stream` into a queue in the background (until the test's scope ends). */
const pulled = <A>(stream: Stream.Stream<A>) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<A>()
    yield* Effect.forkScoped(Stream.runForEach(stream, (a) => Queue.offer(queue, a)))
    return queue
  })

/** A feed's listening, pulled into a queue. */
const listening = (events: Effect.Effect<Stream.Stream<FeedEvent>, never, Scope.Scope>) =>
  Effect.flatMap(events, pulled)

describe("changedRuns", () => {
  it("reports new and changed active runs, runs that left, and runs newly ended", () => {
    const before = snapshot({ a: "RUNNING/1", b: "SCHEDULED/1", c: "RUNNING/1" }, { x: 5 })
    const after = snapshot({ a: "RUNNING/1", b: "RUNNING/2", d: "SCHEDULED/3" }, { x: 5, c: 7 })
    expect(changedRuns(before, after).sort()).toEqual(["b", "c", "d"])
    expect(changedRuns(after, after)).toEqual([])
  })
})

describe("the feed", () => {
  it.scoped("publishes a batch of the runs that changed, polling only while someone listens", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const feed = yield* makeFeed({ pollEvery: "1 second", minGap: "500 millis", idleTimeToLive: 0 })
      const events = yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* listening(feed.changes(undefined))
        const a = uuid()
        yield* store.createRun({ ...newRun(a), state: State.scheduled() })
        yield* TestClock.adjust("1 second")
        const first = yield* next(events)
        expect(first).toEqual({ _tag: "change", seq: 2, runs: [a] })
        yield* store.setState(a, State.cancelled())
        yield* TestClock.adjust("1 second")
        expect(yield* next(events)).toEqual({ _tag: "change", seq: 3, runs: [a] })
        // Nothing changed: nothing sent.
        yield* TestClock.adjust("5 seconds")
        expect(yield* Queue.size(events)).toBe(0)
        return first
      }))
      expect(events.seq).toBe(2)
      // Nobody listens: the loop stopped, and a change now is not seen by anyone.
      const b = uuid()
      yield* store.createRun({ ...newRun(b), state: State.scheduled() })
      yield* TestClock.adjust("2 seconds")
      // A reconnect from event 3 cannot be replayed whole (changes went unseen): reset.
      const again = yield* listening(feed.changes({ epoch: feed.epoch, seq: 3 }))
      expect(yield* next(again)).toEqual({ _tag: "reset", seq: 4 })
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("replays the batches after Last-Event-ID from its ring, or resets when they are gone", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const feed = yield* makeFeed({ ringSize: 2, idleTimeToLive: "1 minute" })
      const live = yield* listening(feed.changes(undefined))
      yield* TestClock.adjust("1 second")
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const id = uuid()
        ids.push(id)
        yield* store.createRun({ ...newRun(id), state: State.scheduled() })
        yield* TestClock.adjust("1 second")
        expect(yield* next(live)).toMatchObject({ runs: [id] })
      }
      // Batches 2, 3, 4 were published; the ring keeps 3 and 4.
      const fromThree = yield* listening(feed.changes({ epoch: feed.epoch, seq: 3 }))
      expect(yield* next(fromThree)).toEqual({ _tag: "change", seq: 4, runs: [ids[2]] })
      const fromTwo = yield* listening(feed.changes({ epoch: feed.epoch, seq: 2 }))
      expect(yield* next(fromTwo)).toEqual({ _tag: "change", seq: 3, runs: [ids[1]] })
      const fromOne = yield* listening(feed.changes({ epoch: feed.epoch, seq: 1 }))
      expect(yield* next(fromOne)).toEqual({ _tag: "reset", seq: 4 })
      const fromFuture = yield* listening(feed.changes({ epoch: feed.epoch, seq: 99 }))
      expect(yield* next(fromFuture)).toEqual({ _tag: "reset", seq: 4 })
      // A replayed connection then gets what comes next, once.
      const d = uuid()
      yield* store.createRun({ ...newRun(d), state: State.scheduled() })
      yield* TestClock.adjust("1 second")
      expect(yield* next(fromThree)).toEqual({ _tag: "change", seq: 5, runs: [d] })
      expect(yield* Queue.size(fromThree)).toBe(0)
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("an id of another epoch (a server since restarted) is a reset; two feeds have two epochs", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const feed = yield* makeFeed({ idleTimeToLive: "1 minute" })
      const other = yield* makeFeed({ idleTimeToLive: "1 minute" })
      expect(feed.epoch).toMatch(/^[0-9a-z]+$/)
      expect(other.epoch).not.toBe(feed.epoch)
      const live = yield* listening(feed.changes(undefined))
      yield* store.createRun({ ...newRun(uuid()), state: State.scheduled() })
      yield* TestClock.adjust("1 second")
      expect(yield* next(live)).toMatchObject({ _tag: "change", seq: 2 })
      // The same number from another process's feed says nothing of this one's batches.
      const stranger = yield* listening(feed.changes({ epoch: other.epoch, seq: 1 }))
      expect(yield* next(stranger)).toEqual({ _tag: "reset", seq: 2 })
      const own = yield* listening(feed.changes({ epoch: feed.epoch, seq: 1 }))
      expect(yield* next(own)).toMatchObject({ _tag: "change", seq: 2 })
    }).pipe(Effect.provide(RunStore.memory)))

  it("reads event ids: <epoch>-<seq>, a bare number as no epoch, else why not", () => {
    expect(parseEventId(undefined)).toEqual(Either.right(undefined))
    expect(parseEventId("m3k9x2ab-42")).toEqual(Either.right({ epoch: "m3k9x2ab", seq: 42 }))
    expect(parseEventId("42")).toEqual(Either.right({ epoch: "", seq: 42 }))
    expect(Either.isLeft(parseEventId("abc"))).toBe(true)
    expect(Either.isLeft(parseEventId("a-b-1"))).toBe(true)
  })

  it.scoped("a connection that falls behind (a stalled socket) keeps a bounded queue and gets a reset", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const feed = yield* makeFeed({ backlog: 2, idleTimeToLive: "1 minute" })
      // Listening, but not read while four batches (2 to 5) are published.
      const stalled = yield* feed.changes(undefined)
      // Beside it, a connection that keeps up gets every batch.
      const keepsUp = yield* listening(feed.changes(undefined))
      for (let i = 0; i < 4; i++) {
        yield* store.createRun({ ...newRun(uuid()), state: State.scheduled() })
        yield* TestClock.adjust("1 second")
        expect(yield* next(keepsUp)).toMatchObject({ _tag: "change", seq: i + 2 })
      }
      const events = yield* pulled(stalled)
      // Its queue kept the last two (4, 5): the gap before them is a reset, then it goes on.
      expect(yield* next(events)).toEqual({ _tag: "reset", seq: 4 })
      expect(yield* next(events)).toMatchObject({ _tag: "change", seq: 5 })
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("the loop stops reading the store once the last listener has left (and its grace time passed)", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      let reads = 0
      const counted: RunStore.Service = {
        ...store,
        listRunsPage: (filter) => Effect.suspend(() => (reads++, store.listRunsPage(filter)))
      }
      const feed = yield* makeFeed({ pollEvery: "1 second", minGap: "500 millis", idleTimeToLive: "5 seconds" }).pipe(
        Effect.provideService(RunStore.RunStore, counted)
      )
      yield* Effect.scoped(Effect.gen(function*() {
        yield* listening(feed.changes(undefined))
        yield* TestClock.adjust("3 seconds")
      }))
      expect(reads).toBeGreaterThan(2)
      // Within its grace time it goes on (a reload reconnects), then stops.
      yield* TestClock.adjust("5 seconds")
      const stopped = reads
      yield* TestClock.adjust("1 minute")
      expect(reads).toBe(stopped)
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("runs that end together are all reported, past one page of `watched` runs", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const ids = Array.from({ length: 7 }, () => uuid())
      for (const id of ids) yield* store.createRun({ ...newRun(id), state: State.scheduled() })
      const feed = yield* makeFeed({ watched: 2 })
      const events = yield* listening(feed.changes(undefined))
      for (const id of ids) yield* store.setState(id, State.cancelled())
      yield* TestClock.adjust("1 second")
      const batch = yield* next(events)
      expect(batch._tag === "change" ? [...batch.runs].sort() : batch).toEqual([...ids].sort())
    }).pipe(Effect.provide(RunStore.memory)))

  it.scoped("a new run wakes the loop before its tick, never more than twice a second", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const feed = yield* makeFeed({ pollEvery: "10 seconds", minGap: "500 millis" })
      const events = yield* listening(feed.changes(undefined))
      yield* TestClock.adjust("10 seconds")
      const a = uuid()
      yield* store.createRun({ ...newRun(a), state: State.scheduled() })
      yield* TestClock.adjust("500 millis")
      expect(yield* next(events)).toMatchObject({ runs: [a] })
    }).pipe(Effect.provide(RunStore.memory)))
})

describe("the feed on SQLite", () => {
  it.live("sees what another store on the same file (another process) does", () => {
    const filename = freshSqliteFile()
    return Effect.gen(function*() {
      const feed = yield* makeFeed({ pollEvery: "100 millis", minGap: "50 millis" })
      const events = yield* listening(feed.changes(undefined))
      const other = Context.get(yield* Layer.build(RunStore.sqlite({ filename })), RunStore.RunStore)
      const id = uuid()
      yield* other.createRun({ ...newRun(id), state: State.scheduled() })
      expect(yield* next(events)).toMatchObject({ _tag: "change", runs: [id] })
      yield* other.setState(id, State.cancelled())
      expect(yield* next(events)).toMatchObject({ _tag: "change", runs: [id] })
    }).pipe(Effect.provide(RunStore.sqlite({ filename })), Effect.scoped, Effect.timeout("20 seconds"))
  }, 30_000)
})

describe("a connection", () => {
  it.scoped("coalesces events to one each 250 ms, and sends a keep-alive every 15 s", () =>
    Effect.gen(function*() {
      const source = yield* Queue.unbounded<FeedEvent>()
      const text = yield* pulled(connectionText("e1", Stream.fromQueue(source)))
      expect(yield* Queue.take(text)).toBe("retry: 2000\n\n")
      yield* Queue.offerAll(source, [
        { _tag: "change", seq: 1, runs: ["a", "b"] },
        { _tag: "change", seq: 2, runs: ["b", "c"] },
        { _tag: "change", seq: 3, runs: ["a"] }
      ])
      yield* TestClock.adjust("100 millis")
      expect(yield* Queue.size(text)).toBe(0)
      yield* TestClock.adjust("150 millis")
      expect(yield* Queue.take(text)).toBe(`id: e1-3\nevent: change\ndata: {"runs":["a","b","c"]}\n\n`)
      yield* Queue.offerAll(source, [{ _tag: "change", seq: 4, runs: ["d"] }, { _tag: "reset", seq: 5 }])
      yield* TestClock.adjust("250 millis")
      expect(yield* Queue.take(text)).toBe("id: e1-5\nevent: reset\ndata: {}\n\n")
      yield* TestClock.adjust("15 seconds")
      const keepAlive = Chunk.toReadonlyArray(yield* Queue.takeAll(text))
      expect(keepAlive).toEqual([": keep-alive\n\n"])
    }))
})

describe("GET /api/events over a real socket", () => {
  it.live("streams a change event for a run created after it opened", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get("/api/events")
      expect(response.status).toBe(200)
      expect(response.headers["content-type"]).toBe("text/event-stream")
      const received = yield* Queue.unbounded<string>()
      const reader = yield* response.stream.pipe(
        Stream.decodeText(),
        Stream.runForEach((text) => Queue.offer(received, text)),
        Effect.fork
      )
      expect(yield* Queue.take(received)).toContain("retry: 2000")
      // The feed listens before the first bytes: a run created now is reported.
      const id = uuid()
      yield* store.createRun({ ...newRun(id), state: State.scheduled() })
      let seen = ""
      while (!seen.includes(id)) seen += yield* Queue.take(received)
      expect(seen).toMatch(new RegExp(`id: [0-9a-z]+-\\d+\\nevent: change\\ndata: \\{"runs":\\["${id}"\\]\\}`))
      yield* Fiber.interrupt(reader)
      const bad = yield* client.get("/api/events?lastEventId=abc")
      expect(bad.status).toBe(400)
      expect(yield* bad.json).toMatchObject({ _tag: "BadRequest" })
    }).pipe(
      Effect.scoped,
      Effect.provide(
        appLayer({ host: "127.0.0.1", port: 0, readOnly: false, token: undefined, basePath: "" }, {
          pollEvery: "200 millis",
          minGap: "100 millis"
        }).pipe(Layer.provideMerge(NodeHttpServer.layerTest), Layer.provideMerge(RunStore.memory))
      ),
      Effect.timeout("20 seconds")
    ), 30_000)
})
