/**
 * The change feed: ONE loop over the store per server, running only while a page listens, that
 * diffs what changed and publishes batches of changed run ids; each `/api/events` connection gets
 * them coalesced, replayed after a reconnect from a ring buffer (else `reset`), and a keep-alive
 * comment. Why this shape: docs/design.md, "The web UI".
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as RcRef from "effect/RcRef"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as RunStore from "../../RunStore.js"
import { ACTIVE_TYPES } from "./runs.js"

/** What a connection is sent: a batch of changed runs, or `reset` (too old to replay: refresh everything). */
export type FeedEvent =
  | { readonly _tag: "change"; readonly seq: number; readonly runs: ReadonlyArray<string> }
  | { readonly _tag: "reset"; readonly seq: number }

/** The feed's timing and sizes (the defaults suit a server; tests shorten them). */
export interface FeedOptions {
  /** How often the loop polls the store while someone listens (default 1 second). */
  readonly pollEvery?: Duration.DurationInput
  /** The least time between two polls, store notifications included (default 500 ms: at most 2 a second). */
  readonly minGap?: Duration.DurationInput
  /** How long the loop keeps going after the last listener left (default 30 seconds: a reload reconnects). */
  readonly idleTimeToLive?: Duration.DurationInput
  /** How many batches are kept for replay (default 256). */
  readonly ringSize?: number
  /** The most runs a poll reads of each kind (active, recently ended; default 1,000). */
  readonly watched?: number
  /** How many batches a connection may fall behind before it is sent a `reset` instead (default 64). */
  readonly backlog?: number
}

/**
 * An event's id: the feed's epoch (one per server process) and the batch's number. An id of
 * another epoch (the server restarted) cannot be replayed: its connection is sent a `reset`.
 */
export interface EventId {
  readonly epoch: string
  readonly seq: number
}

/** An event id as sent: `<epoch>-<seq>`. */
export const eventIdText = (epoch: string, seq: number): string => `${epoch}-${seq}`

/**
 * A `Last-Event-ID` (or `?lastEventId=`) read: none, an id, or why it is not one. A bare number
 * (an id of a server before epochs) reads as an id of no epoch: a reset.
 */
export const parseEventId = (text: string | undefined): Either.Either<EventId | undefined, string> => {
  if (text === undefined || text.trim() === "") return Either.right(undefined)
  const match = /^(?:([0-9a-z]+)-)?(\d{1,15})$/.exec(text.trim())
  return match === null
    ? Either.left(`lastEventId must be an event's id (as <epoch>-<number>), got ${JSON.stringify(text)}`)
    : Either.right({ epoch: match[1] ?? "", seq: Number(match[2]) })
}

/** The server's change feed. */
export class ChangeFeed extends Context.Tag("effect-taskflow/server/ChangeFeed")<ChangeFeed, {
  /** This feed's epoch, the first part of every event id it sends. */
  readonly epoch: string
  /**
   * Starts listening (the loop runs, its first look at the store taken, until the scope closes) and
   * gives the events after `lastEventId` (replayed, or one `reset` when they are no longer kept),
   * then every new batch (a `reset` instead when the connection fell `backlog` batches behind).
   */
  readonly changes: (lastEventId: EventId | undefined) => Effect.Effect<Stream.Stream<FeedEvent>, never, Scope.Scope>
}>() {}

/** How far back (ms) each poll looks for ended runs beyond its last poll: clocks of other machines differ. */
const ENDED_SLACK = 10_000

/** What a poll saw: each active run's state, and the runs seen ended (with their end) lately. */
interface Snapshot {
  readonly active: ReadonlyMap<string, string>
  readonly ended: ReadonlyMap<string, number>
  readonly at: number
}

const stateKey = (run: RunStore.RunRecord) =>
  `${run.state.type}/${run.state.name}/${run.state.timestamp.getTime()}/${run.runCount}`

/** The most pages of ended runs a poll reads: runs that end together are all reported, up to this many pages. */
const ENDED_PAGES = 10

/** The runs ended since `since`, page after page (`watched` a page, at most `ENDED_PAGES` pages). */
const endedSince = (store: RunStore.Service, since: number, watched: number) =>
  Effect.iterate({ runs: [] as ReadonlyArray<RunStore.RunRecord>, next: undefined as string | undefined, pages: 0 }, {
    while: (read) => read.pages === 0 || (read.next !== undefined && read.pages < ENDED_PAGES),
    body: (read) =>
      Effect.map(
        store.listRunsPage({
          endedAfter: new Date(since - ENDED_SLACK),
          order: "newest",
          limit: watched,
          ...(read.next === undefined ? {} : { cursor: read.next })
        }),
        (page) => ({ runs: [...read.runs, ...page.runs], next: page.next, pages: read.pages + 1 })
      )
  })

/**
 * Reads the active runs (the newest `watched` of them: docs/ui.md says what that bound means) and
 * every run ended since `since` (paged, up to `ENDED_PAGES` pages).
 */
const look = (store: RunStore.Service, since: number, watched: number) =>
  Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const active = yield* store.listRunsPage({ stateType: ACTIVE_TYPES, order: "newest", limit: watched })
    const ended = yield* endedSince(store, since, watched)
    return {
      at,
      active: new Map(active.runs.map((run) => [run.id, stateKey(run)])),
      ended: new Map(ended.runs.map((run) => [run.id, run.state.timestamp.getTime()]))
    } satisfies Snapshot
  })

/** The runs that changed between two snapshots: new or changed active runs, runs that left, runs newly ended. */
export const changedRuns = (before: Snapshot, after: Snapshot): Array<string> => {
  const changed = new Set<string>()
  for (const [id, key] of after.active) if (before.active.get(id) !== key) changed.add(id)
  for (const id of before.active.keys()) if (!after.active.has(id)) changed.add(id)
  for (const [id, end] of after.ended) if (before.ended.get(id) !== end) changed.add(id)
  return [...changed]
}

interface Replay {
  /** The last batch's number. */
  readonly seq: number
  /**
   * The least `lastEventId` that can be replayed whole: earlier batches were dropped from the ring,
   * or changes went unseen while no loop ran (each start of the loop takes a new number for that).
   */
  readonly floor: number
  readonly ring: ReadonlyArray<{ readonly seq: number; readonly runs: ReadonlyArray<string> }>
}

/** An epoch: the process's start in base 36 and a random part, so two servers started together differ. */
const newEpoch = Effect.zipWith(
  Clock.currentTimeMillis,
  Random.nextIntBetween(0, 36 ** 4),
  (now, random) => `${now.toString(36)}${random.toString(36).padStart(4, "0")}`
)

/** The ring of batches after one more: its oldest dropped past `ringSize` (the floor moves up). */
const withBatch = (r: Replay, runs: ReadonlyArray<string>, ringSize: number): Replay => {
  const seq = r.seq + 1
  const ring = [...r.ring, { seq, runs }]
  const dropped = ring.length > ringSize ? ring.shift()! : undefined
  return { seq, floor: dropped === undefined ? r.floor : Math.max(r.floor, dropped.seq), ring }
}

/** What a connection from `lastEventId` is sent first: the batches it missed, or a reset. */
const replayed = (now: Replay, epoch: string, lastEventId: EventId | undefined): Array<FeedEvent> => {
  if (lastEventId === undefined) return []
  const { seq } = lastEventId
  return lastEventId.epoch === epoch && seq >= now.floor && seq <= now.seq
    ? now.ring.filter((batch) => batch.seq > seq).map((batch) => ({ _tag: "change", ...batch }))
    : [{ _tag: "reset", seq: now.seq }]
}

/**
 * The live events after `from`: a gap in their numbers means the connection's queue slid (it fell
 * behind, a stalled socket), so the batch after the gap goes as a `reset`.
 */
const live = (events: Stream.Stream<FeedEvent>, from: number) =>
  events.pipe(
    Stream.filter((event) => event.seq > from),
    Stream.mapAccum(from, (last, event): [number, FeedEvent] => [
      event.seq,
      event.seq > last + 1 ? { _tag: "reset", seq: event.seq } : event
    ])
  )

/** Makes the feed over the store (scoped: the loop and the hub end with the scope). */
export const makeFeed = (
  options: FeedOptions = {}
): Effect.Effect<ChangeFeed["Type"], never, RunStore.RunStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const ringSize = options.ringSize ?? 256
    const watched = options.watched ?? 1_000
    const epoch = yield* newEpoch
    // Each connection's queue keeps its last `backlog` batches: a stalled one slides, never grows.
    const hub = yield* Effect.acquireRelease(PubSub.sliding<FeedEvent>(options.backlog ?? 64), PubSub.shutdown)
    const replay = yield* Ref.make<Replay>({ seq: 0, floor: 0, ring: [] })
    // A batch is numbered and published, and a listener subscribes and reads the number, each as
    // one step: a listener never sees a number whose batch it will not get.
    const lock = yield* Effect.makeSemaphore(1)

    const publish = (runs: ReadonlyArray<string>) =>
      lock.withPermits(1)(
        Effect.flatMap(
          Ref.updateAndGet(replay, (r) => withBatch(r, runs, ringSize)),
          (r) => PubSub.publish(hub, { _tag: "change", seq: r.seq, runs })
        )
      )

    // Store notifications (new runs, cancel requests) wake the loop before its next tick.
    const wakes = yield* Effect.acquireRelease(Queue.sliding<void>(1), Queue.shutdown)
    const ticks = Stream.merge(
      Stream.fromSchedule(Schedule.spaced(options.pollEvery ?? "1 second")),
      Stream.fromQueue(wakes)
    ).pipe(
      Stream.buffer({ capacity: 1, strategy: "sliding" }),
      Stream.throttle({ cost: () => 1, units: 1, duration: options.minGap ?? "500 millis", strategy: "shape" })
    )

    /** One poll after `last`: the changes published, and what it saw (the same when the store did not answer). */
    const poll = (last: Snapshot) =>
      look(store, last.at, watched).pipe(
        Effect.tap((next) => {
          const changed = changedRuns(last, next)
          return changed.length === 0 ? Effect.void : publish(changed)
        }),
        // A store that does not answer now may later: the next tick tries again.
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logDebug("change feed: the store did not answer", cause), last)
        )
      )

    const loop = (looked: Deferred.Deferred<void>) =>
      Effect.gen(function*() {
        const unsubscribe = [
          store.unsafeSubscribeScheduled(() => Queue.unsafeOffer(wakes, undefined)),
          store.unsafeSubscribeCancelling(() => Queue.unsafeOffer(wakes, undefined))
        ]
        yield* Effect.addFinalizer(() => Effect.sync(() => unsubscribe.forEach((stop) => stop())))
        // A store that does not answer now: everything it shows later counts as changed.
        const first = yield* look(store, yield* Clock.currentTimeMillis, watched).pipe(
          Effect.orElseSucceed((): Snapshot => ({ at: 0, active: new Map(), ended: new Map() }))
        )
        yield* Deferred.succeed(looked, undefined)
        yield* Stream.runFoldEffect(ticks, first, poll)
      })
    const running = yield* RcRef.make({
      acquire: Effect.gen(function*() {
        // Changes while no loop ran went unseen: no earlier batch can be replayed whole.
        yield* Ref.update(replay, (r) => ({ ...r, seq: r.seq + 1, floor: r.seq + 1 }))
        const looked = yield* Deferred.make<void>()
        yield* Effect.forkScoped(Effect.scoped(loop(looked)))
        // Listeners start from the loop's first look: what changes after they listen is reported.
        yield* Deferred.await(looked)
      }),
      idleTimeToLive: options.idleTimeToLive ?? "30 seconds"
    })

    const changes = (lastEventId: EventId | undefined) =>
      Effect.gen(function*() {
        yield* RcRef.get(running)
        const [subscription, now] = yield* lock.withPermits(1)(
          Effect.zip(PubSub.subscribe(hub), Ref.get(replay))
        )
        return Stream.concat(
          Stream.fromIterable(replayed(now, epoch, lastEventId)),
          live(Stream.fromQueue(subscription), now.seq)
        )
      })
    return { epoch, changes }
  })

/** The feed as a layer. */
export const feedLayer = (options: FeedOptions = {}): Layer.Layer<ChangeFeed, never, RunStore.RunStore> =>
  Layer.scoped(ChangeFeed, makeFeed(options))

/** Several events as one: the last number, every run once; a reset among them makes it a reset. */
export const coalesce = (events: Chunk.Chunk<FeedEvent>): FeedEvent => {
  const last = Chunk.unsafeLast(events)
  if (Chunk.some(events, (event) => event._tag === "reset")) return { _tag: "reset", seq: last.seq }
  const runs = new Set<string>()
  Chunk.forEach(events, (event) => event._tag === "change" && event.runs.forEach((id) => runs.add(id)))
  return { _tag: "change", seq: last.seq, runs: [...runs] }
}

/** An event in the `text/event-stream` format, its id in `epoch`. */
export const eventText = (epoch: string, event: FeedEvent): string =>
  event._tag === "reset"
    ? `id: ${eventIdText(epoch, event.seq)}\nevent: reset\ndata: {}\n\n`
    : `id: ${eventIdText(epoch, event.seq)}\nevent: change\ndata: ${JSON.stringify({ runs: event.runs })}\n\n`

/** What one connection is sent, as text: coalesced events (at most one each `every`), and keep-alive comments. */
export const connectionText = (
  epoch: string,
  events: Stream.Stream<FeedEvent>,
  { every = "250 millis", keepAlive = "15 seconds" }: {
    readonly every?: Duration.DurationInput
    readonly keepAlive?: Duration.DurationInput
  } = {}
): Stream.Stream<string> =>
  Stream.concat(
    // The reconnect delay the browser uses, at once (the page knows it is connected).
    Stream.make("retry: 2000\n\n"),
    Stream.merge(
      events.pipe(
        Stream.groupedWithin(10_000, every),
        Stream.filter(Chunk.isNonEmpty),
        Stream.map((chunk) => eventText(epoch, coalesce(chunk)))
      ),
      Stream.fromSchedule(Schedule.spaced(keepAlive)).pipe(Stream.as(": keep-alive\n\n")),
      { haltStrategy: "left" }
    )
  )
