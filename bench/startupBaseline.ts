/**
 * The baseline of bench/workerStartup.bench.ts: a process that only loads Effect, runs one effect
 * and prints "ran".
 */
import { Effect } from "effect"

Effect.runSync(Effect.sync(() => process.stdout.write("ran\n")))
