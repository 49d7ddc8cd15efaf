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
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as RcRef from "effect/RcRef"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as RunStore from "../../RunStore.js"
import type * as State from "../../State.js"

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
}

/** The server's change feed. */
export class ChangeFeed extends Context.Tag("effect-taskflow/server/ChangeFeed")<ChangeFeed, {
  /**
   * Starts listening (the loop runs, its first look at the store taken, until the scope closes) and
   * gives the events after `lastEventId` (replayed, or one `reset` when they are no longer kept),
   * then every new batch.
   */
  readonly changes: (lastEventId: number | undefined) => Effect.Effect<Stream.Stream<FeedEvent>, never, Scope.Scope>
}>() {}

/** A run state type that is not final: what "running now" covers. */
export const ACTIVE_TYPES: ReadonlyArray<State.StateType> = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"]

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

/** Reads the active runs and those ended since `since`, bounded pages both. */
const look = (store: RunStore.Service, since: number, watched: number) =>
  Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const active = yield* store.listRunsPage({ stateType: ACTIVE_TYPES, order: "newest", limit: watched })
    const ended = yield* store.listRunsPage({
      endedAfter: new Date(since - ENDED_SLACK),
      order: "newest",
      limit: watched
    })
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

/** Makes the feed over the store (scoped: the loop and the hub end with the scope). */
export const makeFeed = (
  options: FeedOptions = {}
): Effect.Effect<ChangeFeed["Type"], never, RunStore.RunStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const ringSize = options.ringSize ?? 256
    const watched = options.watched ?? 1_000
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<FeedEvent>(), PubSub.shutdown)
    const replay = yield* Ref.make<Replay>({ seq: 0, floor: 0, ring: [] })

    const publish = (runs: ReadonlyArray<string>) =>
      Effect.flatMap(
        Ref.modify(replay, (r): [FeedEvent, Replay] => {
          const seq = r.seq + 1
          const ring = [...r.ring, { seq, runs }]
          const dropped = ring.length > ringSize ? ring.shift()! : undefined
          return [{ _tag: "change", seq, runs }, {
            seq,
            floor: dropped === undefined ? r.floor : Math.max(r.floor, dropped.seq),
            ring
          }]
        }),
        (event) => PubSub.publish(hub, event)
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

    const loop = (looked: Deferred.Deferred<void>) =>
      Effect.gen(function*() {
        const unsubscribe = [
          store.unsafeSubscribeScheduled(() => Queue.unsafeOffer(wakes, undefined)),
          store.unsafeSubscribeCancelling(() => Queue.unsafeOffer(wakes, undefined))
        ]
        yield* Effect.addFinalizer(() => Effect.sync(() => unsubscribe.forEach((stop) => stop())))
        // A store that does not answer now: everything it shows later counts as changed.
        let last = yield* look(store, yield* Clock.currentTimeMillis, watched).pipe(
          Effect.orElseSucceed((): Snapshot => ({ at: 0, active: new Map(), ended: new Map() }))
        )
        yield* Deferred.succeed(looked, undefined)
        yield* ticks.pipe(
          Stream.runForEach(() =>
            look(store, last.at, watched).pipe(
              Effect.flatMap((next) => {
                const changed = changedRuns(last, next)
                last = next
                return changed.length === 0 ? Effect.void : publish(changed)
              }),
              // A store that does not answer now may later: the next tick tries again.
              Effect.catchAllCause((cause) => Effect.logDebug("change feed: the store did not answer", cause))
            )
          )
        )
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

    const changes = (lastEventId: number | undefined) =>
      Effect.gen(function*() {
        yield* RcRef.get(running)
        const subscription = yield* PubSub.subscribe(hub)
        const now = yield* Ref.get(replay)
        const head: Array<FeedEvent> = lastEventId === undefined
          ? []
          : lastEventId >= now.floor && lastEventId <= now.seq
          ? now.ring.filter((batch) => batch.seq > lastEventId).map((batch) => ({ _tag: "change", ...batch }))
          : [{ _tag: "reset", seq: now.seq }]
        return Stream.concat(
          Stream.fromIterable(head),
          Stream.fromQueue(subscription).pipe(Stream.filter((event) => event.seq > now.seq))
        )
      })
    return { changes }
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

/** An event in the `text/event-stream` format. */
export const eventText = (event: FeedEvent): string =>
  event._tag === "reset"
    ? `id: ${event.seq}\nevent: reset\ndata: {}\n\n`
    : `id: ${event.seq}\nevent: change\ndata: ${JSON.stringify({ runs: event.runs })}\n\n`

/** What one connection is sent, as text: coalesced events (at most one each `every`), and keep-alive comments. */
export const connectionText = (
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
        Stream.map((chunk) => eventText(coalesce(chunk)))
      ),
      Stream.fromSchedule(Schedule.spaced(keepAlive)).pipe(Stream.as(": keep-alive\n\n")),
      { haltStrategy: "left" }
    )
  )
