/**
 * Timing helpers shared by the benchmarks.
 */

/** The middle sample. */
export const median = (samples: ReadonlyArray<number>): number =>
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]

/**
 * Times each of `runs` `rounds` times, interleaved (a, b, c, a, b, c, …) so that drift in the
 * machine's speed (the other core's load, the heap's growth) falls on all of them alike, and
 * returns each one's median in milliseconds. One warm-up round first, for the JIT.
 */
export const timeInterleaved = async (
  runs: ReadonlyArray<() => Promise<unknown> | unknown>,
  rounds = 7
): Promise<Array<number>> => {
  for (const run of runs) await run()
  const samples = runs.map((): Array<number> => [])
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < runs.length; i++) {
      ;(globalThis as { gc?: () => void }).gc?.()
      const start = performance.now()
      await runs[i]()
      samples[i].push(performance.now() - start)
    }
  }
  if (process.env.BENCH_VERBOSE) {
    samples.forEach((runSamples, i) => console.log(`  run ${i}: ${runSamples.map((ms) => ms.toFixed(0)).join(" ")} ms`))
  }
  return samples.map(median)
}
