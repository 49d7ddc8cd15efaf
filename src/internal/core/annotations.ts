import * as Predicate from "effect/Predicate"

/**
 * A value wrapped with a meaning for the futures walker: the public modules declare each kind
 * (`Futures.Quote`, `Task.Unmapped`, `Task.AllowFailure`) with this shape.
 * @internal
 */
export interface Annotation<Tag extends string, T> {
  readonly _tag: Tag
  readonly value: T
}

const AnnotationTypeId: unique symbol = Symbol.for("effect-taskflow/Annotation")

const make = <Tag extends string>(tag: Tag) => <T>(value: T): Annotation<Tag, T> => ({
  [AnnotationTypeId]: AnnotationTypeId,
  _tag: tag,
  value
} as Annotation<Tag, T>)

const is = <Tag extends string>(tag: Tag) => (u: unknown): u is Annotation<Tag, unknown> =>
  Predicate.hasProperty(u, AnnotationTypeId) && Predicate.hasProperty(u, "_tag") && u._tag === tag

/** @internal */
export const quote: <T>(value: T) => Annotation<"Quote", T> = make("Quote")
/** @internal */
export const unmapped: <T>(value: T) => Annotation<"Unmapped", T> = make("Unmapped")
/** @internal */
export const allowFailure: <T>(value: T) => Annotation<"AllowFailure", T> = make("AllowFailure")
/** @internal */
export const isQuote: (u: unknown) => u is Annotation<"Quote", unknown> = is("Quote")
/** @internal */
export const isUnmapped: (u: unknown) => u is Annotation<"Unmapped", unknown> = is("Unmapped")
/** @internal */
export const isAllowFailure: (u: unknown) => u is Annotation<"AllowFailure", unknown> = is("AllowFailure")
