import { Predicate } from "effect"

/** @internal */
export interface Quote<T> {
  readonly _tag: "Quote"
  readonly value: T
}
/** @internal */
export interface Unmapped<T> {
  readonly _tag: "Unmapped"
  readonly value: T
}
/** @internal */
export interface AllowFailure<T> {
  readonly _tag: "AllowFailure"
  readonly value: T
}

const AnnotationTypeId: unique symbol = Symbol.for("effect-taskflow/Annotation")

const make = <Tag extends string>(tag: Tag) => <T>(value: T): { readonly _tag: Tag; readonly value: T } => ({
  [AnnotationTypeId]: AnnotationTypeId,
  _tag: tag,
  value
} as { readonly _tag: Tag; readonly value: T })

const is = <Tag extends string>(tag: Tag) => (u: unknown): u is { readonly _tag: Tag; readonly value: unknown } =>
  Predicate.hasProperty(u, AnnotationTypeId) && (u as unknown as { _tag: unknown })._tag === tag

/** @internal */
export const quote: <T>(value: T) => Quote<T> = make("Quote")
/** @internal */
export const unmapped: <T>(value: T) => Unmapped<T> = make("Unmapped")
/** @internal */
export const allowFailure: <T>(value: T) => AllowFailure<T> = make("AllowFailure")
/** @internal */
export const isQuote: (u: unknown) => u is Quote<unknown> = is("Quote")
/** @internal */
export const isUnmapped: (u: unknown) => u is Unmapped<unknown> = is("Unmapped")
/** @internal */
export const isAllowFailure: (u: unknown) => u is AllowFailure<unknown> = is("AllowFailure")
