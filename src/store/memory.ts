import { MemoryDocuments } from './memory-documents.js'
import type { Store } from './store.js'
import { expiresIn, type Write } from './write.js'

interface Entry { value: string, expiresAt: number }

/**
 * An in-process store: for one instance, the demo and tests, and the fallback
 * behind Redis. Expired entries are swept lazily and periodically. With
 * `maxEntries` the oldest writes are forgotten first, so a fallback that
 * mirrors every write stays bounded.
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly shared = new MemoryDocuments()
  readonly #entries = new Map<string, Entry>()
  readonly #sweeper: NodeJS.Timeout
  readonly #now: () => number
  readonly #maxEntries: number

  constructor (options: { sweepIntervalMs?: number, now?: () => number, maxEntries?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 30_000)
    this.#sweeper.unref()
  }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> {
    if (this.#get(`once:${key}`) !== undefined) return false
    this.#set(`once:${key}`, '1', ttlSec)
    return true
  }

  async revoke (id: string, ttlSec: number): Promise<void> {
    this.#set(`revoked:${id}`, '1', ttlSec)
  }

  async isRevoked (id: string): Promise<boolean> {
    return this.#get(`revoked:${id}`) !== undefined
  }

  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> {
    // Only a family that moved past `generation` is a reuse; one that lags behind it lost a write (a restart) and catches up.
    const current = this.#get(`family:${familyId}`)
    if (current !== undefined && Number(current) > generation) return 'reused'
    this.#set(`family:${familyId}`, String(generation + 1), ttlSec)
    return 'rotated'
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#entries.clear()
  }

  /** Every live entry as a convergent write, oldest first: what a store that lost its state must be told again. */
  * records (): Generator<Write> {
    const now = this.#now()
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) continue
      const at = key.indexOf(':')
      const kind = key.slice(0, at)
      const id = key.slice(at + 1)
      if (kind === 'once') yield { op: 'claim', key: id, expiresAt: entry.expiresAt }
      else if (kind === 'revoked') yield { op: 'revoke', id, expiresAt: entry.expiresAt }
      else yield { op: 'rotate', familyId: id, generation: Number(entry.value) - 1, expiresAt: entry.expiresAt }
    }
  }

  #get (key: string): string | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  #set (key: string, value: string, ttlSec: number): void {
    // Delete first so that the Map's insertion order stays "least recently written first".
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, { value, expiresAt: expiresIn(ttlSec, this.#now()) })
  }

  #sweep (): void {
    const now = this.#now()
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }
}
