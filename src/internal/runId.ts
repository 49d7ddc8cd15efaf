import { randomFillSync } from "node:crypto"

// Random bytes are drawn 4 KiB at a time: one system call per 256 ids.
const pool = Buffer.allocUnsafe(4096)
let poolOffset = pool.length
const text = Buffer.allocUnsafe(36)
const hexDigits = Buffer.from("0123456789abcdef", "latin1")

/**
 * A new run id: a random (version 4) UUID, as Prefect's run ids.
 *
 * Written here rather than taken from `crypto.randomUUID()` because of memory: Node builds that
 * string by concatenation, a tree of about 14 rope nodes (some 450 bytes) that V8 keeps for as
 * long as the id lives, and a run's id lives as long as its record. This one is a single flat
 * string of 36 characters.
 * @internal
 */
export const makeRunId = (): string => {
  if (poolOffset === pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  let at = 0
  for (let i = 0; i < 16; i++) {
    let byte = pool[poolOffset + i]
    if (i === 6) byte = (byte & 0x0f) | 0x40 // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80 // RFC 4122 variant
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d // "-"
    text[at++] = hexDigits[byte >> 4]
    text[at++] = hexDigits[byte & 0x0f]
  }
  poolOffset += 16
  return text.toString("latin1", 0, 36)
}
