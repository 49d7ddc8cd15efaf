/** piscina's side of the worker-pool benchmark (loaded by piscinaWorker.cts): the same bodies as bench/poolTasks.ts. */
import { busyWait } from "./poolTasks.js"

export default ({ kind, value }: { readonly kind: "cpu" | "noop"; readonly value: number }): number =>
  kind === "cpu" ? busyWait(value) : value
