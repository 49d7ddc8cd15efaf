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
