import type { Store, Versioned } from './store.js'

/**
 * One write that a store can pass on to another store (a peer, or the local
 * Redis after an outage). Every write is convergent: applied twice, late, or
 * out of order with others, it leaves the target in the same state, because
 * claims only ever add, tombstones only ever add, and a family and a latest
 * value only ever move forward. `expiresAt` is in milliseconds since the epoch.
 */
export type Write =
  | { op: 'claim', key: string, expiresAt: number }
  | { op: 'revoke', id: string, expiresAt: number }
  | { op: 'rotate', familyId: string, generation: number, expiresAt: number }
  | { op: 'latest', key: string, value: string, version: number, expiresAt: number }

/** Applies `write` to `store` for what is left of its lifetime; an expired write is dropped. */
export async function applyWrite (store: Store, write: Write, now = Date.now()): Promise<void> {
  const ttlSec = (write.expiresAt - now) / 1000
  if (ttlSec <= 0) return
  switch (write.op) {
    case 'claim':
      await store.claimOnce(write.key, ttlSec)
      return
    case 'revoke':
      await store.revoke(write.id, ttlSec)
      return
    case 'rotate':
      await store.rotateFamily(write.familyId, write.generation, ttlSec)
      return
    case 'latest':
      await store.keepLatest(write.key, write.value, write.version, ttlSec)
  }
}

/** Which of two kept values stands (`keepLatest`): the later version, and on a tie the greater value, as every store decides. */
export function later<T extends Versioned> (a: T | undefined, b: T | undefined): T | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a.version !== b.version) return a.version > b.version ? a : b
  return a.value >= b.value ? a : b
}

/** The absolute expiry of something that lives `ttlSec` from now. */
export function expiresIn (ttlSec: number, now = Date.now()): number {
  return now + Math.max(1, Math.ceil(ttlSec * 1000))
}
