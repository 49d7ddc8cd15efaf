/**
 * The one rule for values without a Schema that cross a boundary (a run store, a worker thread):
 * a value is carried exactly, or refused with the place inside it that cannot be.
 *
 * Stores keep values as tagged JSON. Plain JSON (strings, finite numbers, booleans, null, arrays,
 * plain objects) is written as it is, so most rows read as ordinary JSON; what JSON would lose is
 * written as a small tagged object, `{ "$taskflow": <tag>, "value": … }`:
 *   undefined, NaN, ±Infinity, -0, bigint, Date, Map, Set, typed arrays (bytes in base64),
 *   and a plain object that has a `$taskflow` (or Error marker) key of its own ("object": escaped).
 * Errors keep the record the earlier JSON format used (`@effect-taskflow/Error`), so rows written
 * by the previous version decode unchanged.
 * Refused: functions, symbols, class instances (any prototype other than Object's, null's, Array's
 * and the ones above), objects with symbol keys or accessors, cyclic values, sparse arrays.
 * @internal
 */

const TAG = "$taskflow"
const ERROR_MARK = "@effect-taskflow/Error"

/**
 * How deep a value may nest (containers inside containers) to be stored or sent to a worker thread:
 * the walks recurse, and a few thousand levels overflow the stack. A deeper value is refused as any
 * other value that cannot be carried (a `SerializationError` naming the argument and this bound).
 * @internal
 */
export const MAX_DEPTH = 1000

/** The refusal of a value nested past MAX_DEPTH; its place is cut to its start. */
const tooDeep = (path: string) =>
  new Refusal(
    path.length > 60 ? `${path.slice(0, 57)}...` : path,
    `nested more than ${MAX_DEPTH} levels deep (the bound on a stored or sent value's nesting)`
  )

/** Why a value cannot be carried: where in it (`.a[2]`, empty at its top) and what it is. @internal */
export class Refusal {
  constructor(readonly path: string, readonly what: string) {}
}

const typedArrays = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array
} as const
type TypedArrayName = keyof typeof typedArrays
const typedArrayNames = new Map<unknown, TypedArrayName>(
  Object.entries(typedArrays).map(([name, ctor]) => [ctor.prototype, name as TypedArrayName])
)

const keyPath = (key: string) => /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`

const shortly = (u: unknown): string => {
  try {
    const text = typeof u === "string" ? JSON.stringify(u) : String(u)
    return text.length > 40 ? `${text.slice(0, 37)}...` : text
  } catch {
    return typeof u
  }
}

/** What an object is, for a refusal: "an instance of class Foo", "a Buffer", … */
const instanceOf = (value: object): string => {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor
  const name = typeof ctor?.name === "string" && ctor.name !== "" ? ctor.name : undefined
  if (name === undefined) return "an object with a prototype of its own (not a plain object)"
  if (typeof Buffer !== "undefined" && Buffer.isBuffer(value)) return "a Buffer (pass `new Uint8Array(buffer)`)"
  return `an instance of class ${name}`
}

/** Refusals for the parts of a plain object structured clone and JSON would both get wrong. */
const checkPlainObject = (value: object, path: string): Array<string> => {
  const symbols = Object.getOwnPropertySymbols(value)
  if (symbols.length > 0) throw new Refusal(path, `an object with a symbol key (${String(symbols[0])})`)
  const keys = Object.keys(value)
  for (const key of keys) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!
    if (descriptor.get !== undefined || descriptor.set !== undefined) {
      throw new Refusal(path + keyPath(key), "an accessor (a getter or setter)")
    }
  }
  return keys
}

const checkArray = (value: ReadonlyArray<unknown>, path: string): void => {
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) throw new Refusal(`${path}[${i}]`, "a hole in a sparse array")
  }
}

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength)

const toBase64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

const fromBase64 = (text: string): ArrayBuffer => {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes.buffer
}

const tagged = (tag: string, value?: unknown) => value === undefined ? { [TAG]: tag } : { [TAG]: tag, value }

const setKey = (target: Record<string, unknown>, key: string, value: unknown) => {
  // `__proto__` is an own key like any other here, never the prototype.
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true })
  else target[key] = value
}

const encodeNumber = (value: number): unknown =>
  Number.isFinite(value) ? (Object.is(value, -0) ? tagged("number", "-0") : value) : tagged("number", String(value))

/**
 * A value as tagged JSON data (JSON.stringify it), or a thrown `Refusal`. `ancestors` finds cycles.
 * @internal
 */
export const encodeValue = (value: unknown, path = "", ancestors: Array<object> = []): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return encodeNumber(value)
    case "undefined":
      return tagged("undefined")
    case "bigint":
      return tagged("bigint", value.toString())
    case "function":
      throw new Refusal(path, `a function (${shortly((value as { name?: unknown }).name || "anonymous")})`)
    case "symbol":
      throw new Refusal(path, `a symbol (${String(value)})`)
  }
  if (value === null) return null
  return encodeObject(value as object, path, ancestors)
}

const encodeObject = (value: object, path: string, ancestors: Array<object>): unknown => {
  if (ancestors.includes(value)) throw new Refusal(path, "a cyclic value (it contains itself)")
  if (ancestors.length >= MAX_DEPTH) throw tooDeep(path)
  const proto = Object.getPrototypeOf(value)
  ancestors.push(value)
  try {
    if (proto === Array.prototype) {
      checkArray(value as Array<unknown>, path)
      return (value as Array<unknown>).map((item, i) => encodeValue(item, `${path}[${i}]`, ancestors))
    }
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {}
      let escape = false
      for (const key of checkPlainObject(value, path)) {
        if (key === TAG || key === ERROR_MARK) escape = true
        setKey(out, key, encodeValue((value as Record<string, unknown>)[key], path + keyPath(key), ancestors))
      }
      return escape ? tagged("object", out) : out
    }
    if (proto === Date.prototype) {
      const time = (value as Date).getTime()
      return tagged("Date", Number.isNaN(time) ? null : (value as Date).toISOString())
    }
    if (proto === Map.prototype) {
      let i = 0
      return tagged(
        "Map",
        Array.from(value as Map<unknown, unknown>, ([k, v]) => {
          const at = `${path}.get(${shortly(k)})`
          return [encodeValue(k, `${path} (key ${i++})`, ancestors), encodeValue(v, at, ancestors)]
        })
      )
    }
    if (proto === Set.prototype) {
      let i = 0
      return tagged("Set", Array.from(value as Set<unknown>, (v) => encodeValue(v, `${path} (item ${i++})`, ancestors)))
    }
    const typedArray = typedArrayNames.get(proto)
    if (typedArray !== undefined) return tagged(typedArray, toBase64(bytesOf(value as ArrayBufferView)))
    if (value instanceof Error) return encodeError(value, path, ancestors)
    throw new Refusal(path, instanceOf(value))
  } finally {
    ancestors.pop()
  }
}

/**
 * An Error as the record the earlier format used: its name, message, stack and `fields`, which the
 * caller fills with its own fields (`Object.keys`), each in the caller's form. One record for the
 * stores and the worker pool, so an Error crosses both the same way.
 */
const errorRecord = (error: Error, fields: Record<string, unknown>) => ({
  [ERROR_MARK]: true,
  name: error.name,
  message: error.message,
  stack: error.stack,
  fields
})

/** An Error's own fields, each given to `set` (for its record, or back from it). */
const eachField = (from: object, set: (key: string, value: unknown) => void): void => {
  for (const key of Object.keys(from)) set(key, (from as Record<string, unknown>)[key])
}

const encodeError = (error: Error, path: string, ancestors: Array<object>): unknown => {
  const fields: Record<string, unknown> = {}
  eachField(error, (key, field) => setKey(fields, key, encodeValue(field, path + keyPath(key), ancestors)))
  return errorRecord(error, fields)
}

/**
 * Tagged JSON data back to the value. Plain JSON written by the previous version (no tags, Errors
 * as records) decodes to what it decoded to then.
 * @internal
 */
export const decodeValue = (json: unknown): unknown => {
  if (typeof json !== "object" || json === null) return json
  if (Array.isArray(json)) return json.map(decodeValue)
  const record = json as Record<string, unknown>
  if (record[ERROR_MARK] === true) return decodeError(record)
  const tag = record[TAG]
  if (typeof tag === "string") {
    const decoded = decodeTagged(tag, record.value)
    if (decoded !== NOT_A_TAG) return decoded
  }
  return decodeObject(record)
}

const NOT_A_TAG = Symbol("NotATag")

const decodeObject = (record: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(record)) setKey(out, key, decodeValue(record[key]))
  return out
}

const decodeTagged = (tag: string, value: unknown): unknown => {
  switch (tag) {
    case "undefined":
      return undefined
    case "number":
      return value === "-0" ? -0 : Number(value)
    case "bigint":
      return BigInt(value as string)
    case "Date":
      return new Date(value === null ? Number.NaN : (value as string))
    case "Map":
      return new Map((value as Array<[unknown, unknown]>).map(([k, v]) => [decodeValue(k), decodeValue(v)]))
    case "Set":
      return new Set((value as Array<unknown>).map(decodeValue))
    case "object":
      return decodeObject(value as Record<string, unknown>)
  }
  const ctor = typedArrays[tag as TypedArrayName] as (new(buffer: ArrayBuffer) => unknown) | undefined
  return ctor !== undefined && Object.hasOwn(typedArrays, tag) ? new ctor(fromBase64(value as string)) : NOT_A_TAG
}

/** The Error of a record, without its fields yet (the caller decodes them into it). */
const errorOf = (record: Record<string, unknown>): Error => {
  const error = new Error(record.message as string)
  error.name = record.name as string
  if (record.stack !== undefined) error.stack = record.stack as string
  return error
}

const decodeError = (record: Record<string, unknown>): Error => {
  const error = errorOf(record)
  eachField((record.fields ?? {}) as object, (key, field) => {
    ;(error as unknown as Record<string, unknown>)[key] = decodeValue(field)
  })
  return error
}

/** Whether a value needs no walk: it is stored as it is and comes back equal (the hot path). @internal */
export const isPlainPrimitive = (value: unknown): boolean =>
  typeof value === "string" || typeof value === "boolean" || value === null ||
  (typeof value === "number" && Number.isFinite(value) && !Object.is(value, -0))

/** What structured clone carries as it is, beyond the values a store tags (a SharedArrayBuffer is shared). */
const clonedAsThey = new Set<unknown>(
  [ArrayBuffer, DataView, RegExp, globalThis.SharedArrayBuffer].flatMap((ctor) =>
    ctor === undefined ? [] : [ctor.prototype]
  )
)

/** Set by `cloneRefusal` when a value holds what `toCloneable` rewrites (an Error, a marked key). @internal */
export interface Marks {
  found: boolean
}

/** A plain object with a key of its own that the stored and the cloneable forms give a meaning. */
const hasMarkKey = (value: object): boolean => Object.hasOwn(value, TAG) || Object.hasOwn(value, ERROR_MARK)

/**
 * The place in a value that structured clone would not carry exactly (a function, a symbol, a class
 * instance that would arrive as a plain object, an accessor, a symbol key), or undefined. Cycles,
 * sparse arrays and the rich values a store tags are carried by structured clone itself. `marks`
 * learns, in the same walk, whether the value needs `toCloneable`.
 * @internal
 */
export const cloneRefusal = (
  value: unknown,
  path = "",
  seen: Set<object> = new Set(),
  marks?: Marks,
  depth = 0
): Refusal | undefined => {
  if (typeof value === "function") return new Refusal(path, "a function")
  if (typeof value === "symbol") return new Refusal(path, `a symbol (${String(value)})`)
  if (typeof value !== "object" || value === null || seen.has(value)) return undefined
  if (depth >= MAX_DEPTH) return tooDeep(path)
  seen.add(value)
  const proto = Object.getPrototypeOf(value)
  const inside = (item: unknown, at: string) => cloneRefusal(item, at, seen, marks, depth + 1)
  try {
    if (proto === Array.prototype) {
      for (let i = 0; i < (value as Array<unknown>).length; i++) {
        const refusal = inside((value as Array<unknown>)[i], `${path}[${i}]`)
        if (refusal !== undefined) return refusal
      }
      return undefined
    }
    if (proto === Object.prototype || proto === null || value instanceof Error) {
      const keys = value instanceof Error ? Object.keys(value) : checkPlainObject(value, path)
      if (marks !== undefined && (value instanceof Error || hasMarkKey(value))) marks.found = true
      for (const key of keys) {
        const refusal = inside((value as Record<string, unknown>)[key], path + keyPath(key))
        if (refusal !== undefined) return refusal
      }
      return undefined
    }
    if (proto === Map.prototype) {
      for (const [k, v] of value as Map<unknown, unknown>) {
        const refusal = inside(k, `${path} (a key)`) ?? inside(v, `${path}.get(${shortly(k)})`)
        if (refusal !== undefined) return refusal
      }
      return undefined
    }
    if (proto === Set.prototype) {
      for (const v of value as Set<unknown>) {
        const refusal = inside(v, `${path} (an item)`)
        if (refusal !== undefined) return refusal
      }
      return undefined
    }
    if (proto === Date.prototype || typedArrayNames.has(proto) || clonedAsThey.has(proto)) return undefined
    return new Refusal(path, instanceOf(value))
  } catch (refusal) {
    if (refusal instanceof Refusal) return refusal
    throw refusal
  }
}

/**
 * The cloneable form: what crosses to or from a worker thread. Structured clone carries the rich
 * values itself, but keeps only an Error's `name` (renaming a non-standard one "Error"), `message`
 * and `stack`: Errors, at any depth, cross as the record a store keeps, so they arrive with the same
 * name, message, `_tag` and fields as from a store; a plain object with a `$taskflow` or Error-marker
 * key of its own is escaped as in a store. Containers (arrays, plain objects, Maps, Sets) are copied
 * around them, cycles and holes kept; every other value is left to structured clone.
 */
const KEEP = Symbol("Keep")

type Special = (value: object, walk: (u: unknown) => unknown, remember: (copy: unknown) => void) => unknown

/** A copy of a value's containers, `special` deciding first for each object (KEEP: copy it as a container). */
const rebuild = (root: unknown, special: Special): unknown => {
  const memo = new Map<object, unknown>()
  const walk = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value
    if (memo.has(value)) return memo.get(value)
    const remember = (copy: unknown) => memo.set(value, copy)
    const done = special(value, walk, remember)
    if (done !== KEEP) return done
    const proto = Object.getPrototypeOf(value)
    if (proto === Array.prototype) {
      const array = value as Array<unknown>
      const out = new Array<unknown>(array.length)
      remember(out)
      for (let i = 0; i < array.length; i++) if (i in array) out[i] = walk(array[i])
      return out
    }
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {}
      remember(out)
      eachField(value, (key, field) => setKey(out, key, walk(field)))
      return out
    }
    if (proto === Map.prototype) {
      const out = new Map<unknown, unknown>()
      remember(out)
      for (const [k, v] of value as Map<unknown, unknown>) out.set(walk(k), walk(v))
      return out
    }
    if (proto === Set.prototype) {
      const out = new Set<unknown>()
      remember(out)
      for (const v of value as Set<unknown>) out.add(walk(v))
      return out
    }
    return value
  }
  return walk(root)
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const toRecords: Special = (value, walk, remember) => {
  if (value instanceof Error) {
    const fields: Record<string, unknown> = {}
    const record = errorRecord(value, fields)
    remember(record)
    eachField(value, (key, field) => setKey(fields, key, walk(field)))
    return record
  }
  if (!isPlainObject(value) || !hasMarkKey(value)) return KEEP
  const out: Record<string, unknown> = {}
  const escaped = tagged("object", out)
  remember(escaped)
  eachField(value, (key, field) => setKey(out, key, walk(field)))
  return escaped
}

const fromRecords: Special = (value, walk, remember) => {
  if (!isPlainObject(value)) return KEEP
  const record = value as Record<string, unknown>
  if (record[ERROR_MARK] === true) {
    const error = errorOf(record)
    remember(error)
    eachField((record.fields ?? {}) as object, (key, field) => {
      ;(error as unknown as Record<string, unknown>)[key] = walk(field)
    })
    return error
  }
  if (record[TAG] !== "object") return KEEP
  const out: Record<string, unknown> = {}
  remember(out)
  eachField(record.value as object, (key, field) => setKey(out, key, walk(field)))
  return out
}

/** Whether a value holds what the cloneable form rewrites (an Error, a record, a marked key). */
const holdsMarks = (value: unknown, seen: Set<object> = new Set()): boolean => {
  if (typeof value !== "object" || value === null || seen.has(value)) return false
  if (value instanceof Error) return true
  seen.add(value)
  const inside = (item: unknown) => holdsMarks(item, seen)
  const proto = Object.getPrototypeOf(value)
  if (proto === Array.prototype) return (value as Array<unknown>).some(inside)
  if (proto === Object.prototype || proto === null) return hasMarkKey(value) || Object.values(value).some(inside)
  if (proto === Map.prototype) {
    for (const [k, v] of value as Map<unknown, unknown>) if (inside(k) || inside(v)) return true
  }
  if (proto === Set.prototype) {
    for (const v of value as Set<unknown>) if (inside(v)) return true
  }
  return false
}

/**
 * A value in its cloneable form, for `postMessage`: the value itself when it holds no Error and no
 * marked key (`marked`: what `cloneRefusal`'s marks already found, to skip the walk).
 * @internal
 */
export const toCloneable = (value: unknown, marked = holdsMarks(value)): unknown =>
  marked ? rebuild(value, toRecords) : value

/** A value received in its cloneable form, with its Errors rebuilt (the value itself when it holds none). @internal */
export const fromCloneable = (value: unknown, marked = holdsMarks(value)): unknown =>
  marked ? rebuild(value, fromRecords) : value

/** Where a refusal sits, for a message: "argument 2 (at `.when`)", "the result (at `[0]`)". @internal */
export const placeOf = (what: string, refusal: Refusal): string =>
  refusal.path === "" ? what : `${what} (at \`${refusal.path.startsWith(" ") ? refusal.path.slice(1) : refusal.path}\`)`

/** A refused argument, for a message: "argument 2 (at `.when`) is a function". @internal */
export const argumentPlace = (index: number, refusal: Refusal): string =>
  `${placeOf(`argument ${index + 1}`, refusal)} is ${refusal.what}`

/**
 * Finds the refused argument of a call: "argument 2 (at `.when`) is a function". @internal
 */
export const argumentRefusal = (
  args: ReadonlyArray<unknown>,
  check: (value: unknown) => Refusal | undefined
): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    const refusal = check(args[i])
    if (refusal !== undefined) return argumentPlace(i, refusal)
  }
  return undefined
}

/** A value as tagged JSON data, or the Refusal `encodeValue` throws for it (one walk). @internal */
export const encodeOrRefuse = (value: unknown): unknown => {
  if (isPlainPrimitive(value)) return value
  try {
    return encodeValue(value)
  } catch (refusal) {
    if (refusal instanceof Refusal) return refusal
    throw refusal
  }
}

/** The refusal `encodeValue` throws for a value, or undefined. @internal */
export const storeRefusal = (value: unknown): Refusal | undefined => {
  const encoded = encodeOrRefuse(value)
  return encoded instanceof Refusal ? encoded : undefined
}
