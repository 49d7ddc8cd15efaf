import * as Effect from "effect/Effect"
import type * as Futures from "../../Futures.js"
import { MAX_DEPTH } from "../codec/values.js"
import { allowFailure, isAllowFailure, isQuote, isUnmapped, unmapped } from "../core/annotations.js"
import type { AnyFuture } from "./future.js"
import { isPrefectFuture } from "./future.js"
import { isFutureList, makeList } from "./list.js"
import { wait } from "./wait.js"

/** Plain objects are walked; class instances (Date, errors, user classes) are left alone. */
const isPlainObject = (u: unknown): u is Record<PropertyKey, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * The one walk over a value that every resolution shares (Prefect's `visit_collection`): arrays,
 * plain objects, Maps (keys and values), Sets and PrefectFutureLists, to any depth, skipping what
 * is inside `quote`. Each future is given to `onFuture` with whether it sits inside `allowFailure`.
 *
 * With `rebuild`, the value comes back with each future replaced by what `onFuture` returned,
 * copy-on-write (a container that holds no replaced future comes back as the same object), and
 * `unwrapAllowFailure` drops the `allowFailure` wrappers (argument resolution). Without it, the walk
 * only visits, each container once.
 */
const walkFutures = (
  expr: unknown,
  onFuture: (future: AnyFuture, insideAllowFailure: boolean) => unknown,
  options: { readonly rebuild: boolean; readonly unwrapAllowFailure?: boolean }
): unknown => {
  const { rebuild } = options
  // Rebuilding guards against cycles only (a shared container is rebuilt where it appears); visiting,
  // against any container seen before.
  const entered = new Set<object>()
  // Past MAX_DEPTH the walk looks no further: the store's codec refuses such a value (naming the
  // argument and the bound) before anything runs, where this walk would overflow the stack.
  let depth = 0
  const visit = (node: unknown, allow: boolean): unknown => {
    if (typeof node !== "object" || node === null) return node
    if (isPrefectFuture(node)) return onFuture(node as AnyFuture, allow)
    if (isQuote(node) || entered.has(node) || depth >= MAX_DEPTH) return node
    entered.add(node)
    depth++
    try {
      return container(node, allow)
    } finally {
      depth--
      if (rebuild) entered.delete(node)
    }
  }
  // Without `rebuild`, `onFuture` returns each future as it is, so nothing below copies anything.
  const container = (node: object, allow: boolean): unknown => {
    if (isAllowFailure(node)) {
      const inner = visit(node.value, true)
      return options.unwrapAllowFailure ? inner : inner === node.value ? node : allowFailure(inner)
    }
    if (isUnmapped(node)) {
      const inner = visit(node.value, allow)
      return inner === node.value ? node : unmapped(inner)
    }
    if (isFutureList(node)) {
      if (rebuild) return node.futures.map((future) => visit(future, allow))
      for (const future of node.futures) visit(future, allow)
      return node
    }
    if (Array.isArray(node)) {
      let out: Array<unknown> | undefined
      for (let i = 0; i < node.length; i++) {
        const value = visit(node[i], allow)
        if (value !== node[i] && out === undefined) out = node.slice(0, i)
        out?.push(value)
      }
      return out ?? node
    }
    if (node instanceof Map) {
      let changed = false
      const entries: Array<[unknown, unknown]> = []
      for (const [key, value] of node) {
        const k = visit(key, allow)
        const v = visit(value, allow)
        if (k !== key || v !== value) changed = true
        if (rebuild) entries.push([k, v])
      }
      return changed ? new Map(entries) : node
    }
    if (node instanceof Set) {
      let changed = false
      const values: Array<unknown> = []
      for (const value of node) {
        const v = visit(value, allow)
        if (v !== value) changed = true
        if (rebuild) values.push(v)
      }
      return changed ? new Set(values) : node
    }
    if (isPlainObject(node)) {
      let out: Record<PropertyKey, unknown> | undefined
      for (const key of Reflect.ownKeys(node)) {
        const value = visit(node[key], allow)
        if (value !== node[key]) {
          out ??= Object.assign(Object.create(Object.getPrototypeOf(node)), node)
          out![key] = value
        }
      }
      return out ?? node
    }
    return node
  }
  return visit(expr, false)
}

/**
 * Every future reachable in `expr` (see `walkFutures`). `allowed` collects the futures found inside
 * `Task.allowFailure`.
 * @internal
 */
export const collectFutures = (
  expr: unknown,
  found: Set<AnyFuture> = new Set(),
  allowed?: Set<AnyFuture>
): Set<AnyFuture> => {
  walkFutures(expr, (future, insideAllowFailure) => {
    found.add(future)
    if (insideAllowFailure) allowed?.add(future)
    return future
  }, { rebuild: false })
  return found
}

/**
 * Rebuilds `expr` with every future replaced by `replace(future)` (see `walkFutures`).
 * @internal
 */
export const replaceFutures = (
  expr: unknown,
  replace: (future: AnyFuture) => unknown,
  options?: { readonly unwrapAllowFailure?: boolean }
): unknown => walkFutures(expr, replace, { rebuild: true, ...options })

/** Waits for every future at once (not one by one, as Prefect does) and returns them. */
const waitAll = (expr: unknown): Effect.Effect<Set<AnyFuture>> => {
  const futures = collectFutures(expr)
  return futures.size === 0 ? Effect.succeed(futures) : Effect.as(wait(futures), futures)
}

/** @internal */
export const resolveFuturesToStates = <T>(expr: T): Effect.Effect<Futures.ResolvedStates<T>> =>
  Effect.flatMap(waitAll(expr), (futures) => {
    for (const future of futures) future.markOutcomeRead()
    return futures.size === 0 && !isFutureList(expr)
      ? Effect.succeed(expr as Futures.ResolvedStates<T>)
      : Effect.succeed(replaceFutures(expr, (future) => future.unsafeDone()) as Futures.ResolvedStates<T>)
  })

/** @internal */
export const resolveFuturesToResults = <T>(expr: T): Effect.Effect<Futures.ResolvedResults<T>, any> =>
  Effect.suspend(() => {
    const futures = collectFutures(expr)
    if (futures.size === 0 && !isFutureList(expr)) return Effect.succeed(expr as Futures.ResolvedResults<T>)
    const list = Array.from(futures)
    // Fails fast, in completion order, with the first run that did not complete.
    return Effect.map(makeList(list).result(), (values) => {
      const results = new Map<AnyFuture, unknown>()
      for (let i = 0; i < list.length; i++) results.set(list[i], values[i])
      return replaceFutures(expr, (future) => results.get(future)) as Futures.ResolvedResults<T>
    })
  })
