/**
 * The baseline of bench/workerStartup.bench.ts: a process that only loads what every task worker
 * needs of Effect (`effect/Effect` and `effect/Schema`, which the errors and codecs are made of),
 * runs one effect and prints "ran". Importing the `effect` barrel instead costs ~300 ms more here.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

Effect.runSync(Effect.sync(() => process.stdout.write(`ran ${typeof Schema.String}\n`)))
