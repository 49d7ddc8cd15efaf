/**
 * Task workers and distributed futures on the embedded SQLite store.
 *
 * `delay` schedules runs in the store; a task worker (here a fiber of this process; in production a
 * process of its own, on any machine sharing the store: `TaskWorker.serve(...)` under
 * `NodeRuntime.runMain`) claims and runs them; futures follow them by id from anywhere.
 *
 * Run it with `npx tsx examples/distributed.ts`.
 */
import { Effect, Fiber, Schema } from "effect"
import { Flow, Futures, RunStore, Task, TaskWorker } from "effect-taskflow"
import { pathToFileURL } from "node:url"

class Invoice extends Schema.Class<Invoice>("Invoice")({ id: Schema.String, total: Schema.Number }) {}

/** A result with a Schema comes back from the store as a real `Invoice`. */
export const billCustomer = Task.make(
  { name: "examples-bill-customer", success: Invoice, retries: 1 },
  (customer: string) => Effect.succeed(new Invoice({ id: `inv-${customer}`, total: customer.length * 10 }))
)

/** A flow run can be deferred to a worker too; its `success` Schema brings its Invoices back. */
export const billingRun = Flow.make(
  { name: "examples-billing-run", success: Schema.Array(Invoice) },
  (customers: ReadonlyArray<string>) => Effect.map(billCustomer.map(customers), (futures) => futures)
)

export const main = Effect.gen(function*() {
  const worker = yield* Effect.fork(TaskWorker.serve([billCustomer, billingRun], { concurrency: 8 }))

  const one = yield* billCustomer.delay("ada")
  const invoice = yield* one.result({ timeout: "10 seconds" })
  console.log(`${invoice.id}: ${invoice.total} (an Invoice: ${invoice instanceof Invoice})`)

  const batch = yield* billCustomer.mapDelay(["grace", "alan", "edsger"])
  console.log("batch:", (yield* batch.result({ timeout: "10 seconds" })).map((i) => i.total))

  // Any process can follow a run by its id alone.
  const flowRun = yield* billingRun.delay(["barbara", "donald"])
  const sameRun = yield* Futures.PrefectFlowRunFuture.make<ReadonlyArray<Invoice>, never>(flowRun.flowRunId)
  const invoices = yield* sameRun.result({ timeout: "10 seconds" })
  console.log("flow run:", invoices.map((i) => i.id).join(", "))

  yield* Fiber.interrupt(worker)
  return invoices.length
}).pipe(Effect.provide(RunStore.sqlite({ filename: ".taskflow/runs.db" })))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(main).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
