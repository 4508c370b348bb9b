import { randomFillSync } from 'node:crypto'

// Every SSO flow draws three identifiers (code jti, grant id, access token
// jti) and seals twice (an IV each). randomBytes(16) costs about 2 µs, nearly
// all of it per-call overhead, so bytes come from a pool that one CSPRNG call
// refills 4 KB at a time. Each byte is handed out once; the pool is private to
// this module, and copies (or strings) leave it, never views.

const POOL = Buffer.alloc(4096)
let offset = POOL.length

/** Where `n` fresh bytes start in the pool (refilled when fewer than `n` are left). */
function take (n: number): number {
  if (n > POOL.length) throw new RangeError(`at most ${POOL.length} random bytes at a time`)
  if (offset + n > POOL.length) {
    randomFillSync(POOL)
    offset = 0
  }
  const start = offset
  offset += n
  return start
}

/** `n` bytes from the CSPRNG, as a new Buffer. */
export function randomBuffer (n: number): Buffer {
  const start = take(n)
  return Buffer.from(POOL.subarray(start, start + n))
}

/** A random, URL-safe identifier with `bytes` of entropy. */
export function randomId (bytes = 16): string {
  const start = take(bytes)
  return POOL.toString('base64url', start, start + bytes)
}
