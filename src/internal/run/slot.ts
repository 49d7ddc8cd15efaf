import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"

/**
 * The concurrency slot the current run holds on a bounded runner. Not inherited by forked fibers:
 * only the run's own fiber may give it up.
 * @internal
 */
export interface SlotHolder {
  held: boolean
  readonly release: Effect.Effect<void>
  readonly take: Effect.Effect<void>
}

/** @internal */
export const currentSlot: FiberRef.FiberRef<SlotHolder | undefined> = FiberRef.unsafeMake<SlotHolder | undefined>(
  undefined,
  { fork: () => undefined, join: (parent) => parent }
)

/** @internal */
export const reacquireSlot = (holder: SlotHolder): Effect.Effect<void> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.tap(restore(holder.take), () => {
      holder.held = true
    })
  )

/**
 * Gives up the current run's slot while `wait` runs, so that a run waiting on runs it submitted
 * cannot deadlock a bounded runner (Prefect #14143, #17060).
 * @internal
 */
export const releasingSlot = <A, E, R>(wait: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(currentSlot), (holder) => {
    if (holder === undefined || !holder.held) return wait
    holder.held = false
    return Effect.zipRight(
      holder.release,
      Effect.onExit(wait, (exit) => Exit.isInterrupted(exit) ? Effect.void : reacquireSlot(holder))
    )
  })

/**
 * Holds one permit of `semaphore` while `effect` runs, except while it waits on futures.
 * @internal
 */
export const withSlot = <A, E, R>(
  semaphore: Effect.Semaphore,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const holder: SlotHolder = { held: false, release: semaphore.release(1), take: Effect.asVoid(semaphore.take(1)) }
  return Effect.zipRight(
    reacquireSlot(holder),
    Effect.ensuring(
      Effect.locally(effect, currentSlot, holder),
      Effect.suspend(() => {
        if (!holder.held) return Effect.void
        holder.held = false
        return holder.release
      })
    )
  )
}
