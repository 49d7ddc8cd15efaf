import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as Tracer from "effect/Tracer"

/**
 * Where a run's span hangs: under the span current where the run executes (in-process runs: the
 * span that submitted it), under a given span (a task worker continuing the trace that delayed the
 * run), as a new trace linked to a span (a `mapDelay`'s runs, late starts), or as a new trace.
 * @internal
 */
export type RunSpanParent =
  | { readonly _tag: "Current" }
  | { readonly _tag: "Parent"; readonly span: Tracer.AnySpan }
  | { readonly _tag: "Link"; readonly span: Tracer.AnySpan }
  | { readonly _tag: "Root" }

/** @internal */
export const current: RunSpanParent = { _tag: "Current" }

/** @internal */
export const root: RunSpanParent = { _tag: "Root" }

/** Effect's default tracer, which exports nowhere: a fiber with it makes no run spans. */
const defaultTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

/**
 * Whether runs on this fiber make spans: a tracer other than Effect's default is installed (a user's
 * `@effect/opentelemetry` layer, say) and tracing is not turned off (`Effect.withTracerEnabled`).
 * With neither, a run costs no span: nobody would see it.
 * @internal
 */
export const tracingOn = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  (fiber as unknown as { readonly currentTracer: Tracer.Tracer }).currentTracer !== defaultTracer &&
  fiber.getFiberRef(FiberRef.currentTracerEnabled)
