/**
 * The counters a pool shares with one of its threads, so that a run cancelled before the thread
 * began it is skipped there, without waiting for the run ahead of it on that thread.
 *
 * Layout (`Int32Array` over a `SharedArrayBuffer`): [0] how many runs the thread has begun;
 * [1 + seq % depth] holds `seq + 1` once the pool cancelled run `seq`. `seq` is a run's place among
 * those sent to its thread. Counts wrap at 2^32: only differences are compared.
 *
 * The pool marks, then reads the count; the thread counts, then reads the mark. Both sequentially
 * consistent, so either the pool sees the run not begun and the thread sees the mark and skips it,
 * or the pool sees it begun and interrupts it as a started run.
 * @internal
 */

/** Counters for a thread that may hold up to `depth` runs at once. @internal */
export const makeProgressBuffer = (depth: number): SharedArrayBuffer =>
  new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (1 + depth))

const markSlot = (progress: Int32Array, seq: number) => 1 + seq % (progress.length - 1)

/** Pool side: whether the thread has begun run `seq`. @internal */
export const hasBegun = (progress: Int32Array, seq: number): boolean =>
  ((Atomics.load(progress, 0) - ((seq + 1) | 0)) | 0) >= 0

/** Pool side: marks run `seq` cancelled; true if the thread had not begun it, and so will skip it. @internal */
export const cancelIfNotBegun = (progress: Int32Array, seq: number): boolean => {
  Atomics.store(progress, markSlot(progress, seq), (seq + 1) | 0)
  return !hasBegun(progress, seq)
}

/** Thread side: counts run `seq` as begun; false if the pool had cancelled it first (skip it). @internal */
export const beginRun = (progress: Int32Array, seq: number): boolean => {
  Atomics.store(progress, 0, (seq + 1) | 0)
  return Atomics.load(progress, markSlot(progress, seq)) !== ((seq + 1) | 0)
}
