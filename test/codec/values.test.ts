/**
 * The tagged JSON of values without a Schema (src/internal/codec/values.ts): rows written by the
 * previous version (plain JSON, Errors as records) still decode; objects that look like a tag are
 * escaped; rich values round-trip exactly. The cloneable form (worker threads) keeps Errors as the
 * stores do.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Either } from "effect"
import { State } from "effect-taskflow"
import { decodeParameters, decodeState, encodeParameters } from "../../src/internal/codec/storeCodec.js"
import { decodeValue, encodeValue, fromCloneable, toCloneable } from "../../src/internal/codec/values.js"

const roundTrip = (value: unknown) => decodeValue(JSON.parse(JSON.stringify(encodeValue(value))))

describe("stored values", () => {
  it("rows of the previous version (plain JSON, Errors as records) decode as they did", () => {
    const parameters = decodeParameters("values-old", "r1", "[1,\"two\",{\"a\":[null,true]},null]")
    expect(parameters).toStrictEqual(Either.right([1, "two", { a: [null, true] }, null]))
    const error = {
      "@effect-taskflow/Error": true,
      name: "Boom",
      message: "it broke",
      stack: "Boom: it broke",
      fields: { _tag: "Boom", reason: "x" }
    }
    const row = {
      type: "FAILED",
      name: "Failed",
      message: null,
      timestamp: 5,
      cause: JSON.stringify({ _tag: "Fail", error })
    }
    const state = Either.getOrThrow(decodeState("values-old", "r1", row, null))
    const failure = State.isFailed(state) ? Cause.failureOption(state.cause) : undefined
    expect(failure?._tag === "Some" && failure.value).toMatchObject({ _tag: "Boom", reason: "x", message: "it broke" })
    const completed = { ...row, type: "COMPLETED", name: "Completed", cause: null }
    const result = Either.getOrThrow(decodeState("values-old", "r1", completed, "{\"n\":[1,2]}"))
    expect(State.isCompleted(result) && result.value).toStrictEqual({ n: [1, 2] })
    const nothing = Either.getOrThrow(decodeState("values-old", "r1", completed, "undefined"))
    expect(State.isCompleted(nothing) && nothing.value).toBeUndefined()
  })

  it("plain JSON is stored as it is; what JSON loses is tagged; lookalikes are escaped", () => {
    expect(Either.getOrThrow(encodeParameters("values-new", "r2", [1, "a", { b: [true, null] }])))
      .toBe("[1,\"a\",{\"b\":[true,null]}]")
    expect(JSON.stringify(encodeValue(new Map([[1, 2]])))).toBe("{\"$taskflow\":\"Map\",\"value\":[[1,2]]}")
    const lookalikes = [
      { $taskflow: "Date", value: "x" },
      { $taskflow: "object", value: { $taskflow: "undefined" } },
      { "@effect-taskflow/Error": true, name: "not an error" }
    ]
    expect(roundTrip(lookalikes)).toStrictEqual(lookalikes)
  })

  it("rich values round-trip to the same type", () => {
    const values = [
      new Date(Number.NaN),
      new Int16Array([-1, 2]),
      new BigUint64Array([2n ** 63n]),
      new Uint8Array(new ArrayBuffer(8), 2, 3),
      { __proto__x: 1, ["__proto__"]: 2 },
      Object.assign(Object.create(null), { a: 1 })
    ]
    const back = roundTrip(values) as Array<unknown>
    expect(Number.isNaN((back[0] as Date).getTime())).toBe(true)
    expect(back[1]).toStrictEqual(values[1])
    expect(back[2]).toStrictEqual(values[2])
    expect(back[3]).toStrictEqual(new Uint8Array(3))
    expect(Object.keys(back[4] as object)).toEqual(["__proto__x", "__proto__"])
    expect(back[5]).toEqual({ a: 1 })
  })
})

describe("the cloneable form (worker threads)", () => {
  /** What a worker thread receives: the cloneable form through structured clone, rebuilt. */
  const crossThread = (value: unknown) => fromCloneable(structuredClone(toCloneable(value)))

  it("an Error at any depth crosses as a store keeps it; cycles, holes and lookalike objects are kept", () => {
    const tagged = Object.assign(new Error("too hot"), { _tag: "Overheated", degrees: 90, at: new Date(0) })
    tagged.name = "Overheated"
    const value = { list: [1, , tagged], byName: new Map([[tagged, new Set([tagged])]]) }
    const sent = crossThread(value) as typeof value
    expect(sent.list[2]).toStrictEqual(roundTrip(tagged))
    expect(sent.list[2]).toMatchObject({ name: "Overheated", message: "too hot", _tag: "Overheated", degrees: 90 })
    expect(sent.list[2]).not.toBe(tagged)
    expect(1 in sent.list).toBe(false)
    // One Error shared three times is still one Error.
    const [[key, items]] = Array.from(sent.byName)
    expect(key).toBe(sent.list[2])
    expect(items.has(key)).toBe(true)

    const loop: Record<string, unknown> = { error: tagged }
    tagged.cause = loop
    loop.self = loop
    const back = crossThread(loop) as Record<string, Record<string, unknown>>
    expect(back.self).toBe(back)
    expect(back.error.cause).toBe(back)
    delete tagged.cause

    const lookalikes = [tagged, { "@effect-taskflow/Error": true, message: "m" }, { $taskflow: "object", value: 1 }]
    expect((crossThread(lookalikes) as Array<unknown>).slice(1)).toStrictEqual(lookalikes.slice(1))
  })

  it("a value without an Error is posted as it is", () => {
    const value = { a: [1, new Date(0)], b: new Map([[1, { c: 2 }]]) }
    expect(toCloneable(value)).toBe(value)
    expect(fromCloneable(value)).toBe(value)
  })
})
