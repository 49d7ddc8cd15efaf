/**
 * Benchmarks for the in-process futures (issue: core). Each figure is a ratio against a baseline
 * measured in the same run. Run with `npm run bench` (node --expose-gc). Not part of the tests.
 */
import { Deferred, Effect, Fiber, Logger, LogLevel, Stream } from "effect"
import { Futures, Task, TaskRunner } from "../src/index.js"
import { timeInterleaved } from "./measure.js"

const N = Number(process.env.BENCH_N ?? 100_000)
const trivial = Task.make("bench-trivial", (n: number) => Effect.succeed(n + 1))
const forever = Task.make("bench-forever", (gate: Deferred.Deferred<void>) => Deferred.await(gate))

const time = async (run: () => Promise<unknown>): Promise<number> => (await timeInterleaved([run], 3))[0]

// Runs left pending on purpose (never-finishing futures) are cancelled quietly at the end.
const withRunner = <A, E>(effect: Effect.Effect<A, E, TaskRunner.TaskRunner>) =>
  Effect.runPromise(Effect.provide(effect, TaskRunner.concurrent()).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))

const inputs = Array.from({ length: N }, (_, i) => i)
const row = (label: string, ms: number, baseline: number, baselineName: string, target?: string) =>
  console.log(
    `${label.padEnd(44)} ${ms.toFixed(1).padStart(9)} ms  ${(ms / baseline).toFixed(2)}× ${baselineName}` +
      (target ? `  (target ${target})` : "")
  )

const main = async () => {
  console.log(`effect-taskflow benchmarks, N = ${N}, node ${process.version}\n`)

  // 1. submit + result, and 2. map + PrefectFutureList.result, vs raw fork + awaitAll vs Promise.all
  const [rawFork, submitResult, mapResult, promiseAll] = await timeInterleaved([
    () =>
      Effect.runPromise(Effect.gen(function*() {
        const fibers = yield* Effect.forEach(inputs, (n) => Effect.fork(Effect.succeed(n + 1)))
        yield* Fiber.awaitAll(fibers)
      })),
    () =>
      withRunner(Effect.gen(function*() {
        const futures = yield* Effect.forEach(inputs, (n) => trivial.submit(n))
        yield* Effect.forEach(futures, (future) => future.result(), { discard: true })
      })),
    () =>
      withRunner(Effect.gen(function*() {
        const futures = yield* trivial.map(inputs)
        yield* futures.result()
      })),
    () => Promise.all(inputs.map(async (n) => n + 1))
  ])
  console.log("baseline: raw Effect.fork + Fiber.awaitAll".padEnd(44), `${rawFork.toFixed(1).padStart(9)} ms`)
  row("submit + result", submitResult, rawFork, "raw fibers", "≤ 2.0×")
  row("submit + result", submitResult, promiseAll, "Promise.all")
  row("map + PrefectFutureList.result", mapResult, rawFork, "raw fibers", "≤ 2.0×")

  // 3. wait(100 ms) on 10,000 futures, half never finishing
  const waitOverrun = await withRunner(Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const half = 5_000
    const done = yield* trivial.map(Array.from({ length: half }, (_, i) => i))
    const stuck = yield* Effect.forEach(Array.from({ length: half }), () => forever.submit(gate))
    yield* done.wait()
    // Let the stuck runs reach their suspension first: their start-up is the runner's cost, not wait's.
    yield* Effect.sleep(20)
    const start = performance.now()
    const { notDone } = yield* Futures.wait<unknown, never>([...done, ...stuck], { timeout: 100 })
    const elapsed = performance.now() - start
    yield* Deferred.succeed(gate, undefined)
    if (notDone.size !== half) throw new Error(`expected ${half} unfinished, got ${notDone.size}`)
    return elapsed
  }))
  console.log(
    `${"wait(100 ms) on 10,000 futures, half stuck".padEnd(44)} ${waitOverrun.toFixed(1).padStart(9)} ms  ` +
      `${(waitOverrun - 100).toFixed(1)} ms past the timeout  (target ≤ 25 ms)`
  )

  // 4. asCompleted vs Stream.mergeAll over Fiber.await
  const gatedRun = (
    consume: (
      fibers: Array<Fiber.RuntimeFiber<number>>,
      gate: Deferred.Deferred<void>
    ) => Effect.Effect<number, unknown, TaskRunner.TaskRunner>
  ) =>
    withRunner(Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(inputs, (n) => Effect.fork(Effect.as(Deferred.await(gate), n)))
      return yield* consume(fibers, gate)
    }))
  const mergeAll = await time(() =>
    gatedRun((fibers, gate) =>
      Effect.gen(function*() {
        const consumer = yield* Effect.fork(
          Stream.runCount(
            Stream.mergeAll(fibers.map((fiber) => Stream.fromEffect(Fiber.await(fiber))), { concurrency: "unbounded" })
          )
        )
        yield* Deferred.succeed(gate, undefined)
        return yield* Fiber.join(consumer)
      })
    )
  )
  const asCompleted = await time(() =>
    gatedRun((fibers, gate) =>
      Effect.gen(function*() {
        const futures = yield* Effect.forEach(fibers, Futures.fromFiber)
        const consumer = yield* Effect.fork(Stream.runCount(Futures.asCompleted(futures)))
        yield* Deferred.succeed(gate, undefined)
        return yield* Fiber.join(consumer)
      })
    )
  )
  console.log(
    `${"asCompleted over 100,000 futures".padEnd(44)} ${asCompleted.toFixed(1).padStart(9)} ms  ` +
      `${(mergeAll / asCompleted).toFixed(2)}× the items/s of Stream.mergeAll over Fiber.await  (target ≥ 2×)`
  )

  // 5. heap per pending future vs one suspended raw fiber
  const heapPer = async (
    make: (gate: Deferred.Deferred<void>) => Effect.Effect<unknown, never, TaskRunner.TaskRunner>
  ) =>
    withRunner(Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const count = 20_000
      // Several passes: one gc() can leave garbage of the previous benchmark behind.
      for (let i = 0; i < 4; i++) globalThis.gc?.()
      const before = process.memoryUsage().heapUsed
      const held = yield* Effect.forEach(Array.from({ length: count }), () => make(gate))
      yield* Effect.yieldNow()
      for (let i = 0; i < 4; i++) globalThis.gc?.()
      const after = process.memoryUsage().heapUsed
      yield* Deferred.succeed(gate, undefined)
      if (held.length !== count) throw new Error("lost")
      return (after - before) / count
    }))
  await heapPer((gate) => Effect.fork(Deferred.await(gate))) // warm-up
  const fiberBytes = await heapPer((gate) => Effect.fork(Deferred.await(gate)))
  const futureBytes = await heapPer((gate) => forever.submit(gate))
  console.log(
    `${"heap per pending future".padEnd(44)} ${futureBytes.toFixed(0).padStart(9)} B   ` +
      `${(futureBytes / fiberBytes).toFixed(2)}× one suspended raw fiber (${fiberBytes.toFixed(0)} B)  (target ≤ 1.5×)`
  )
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
