import { MemoryDocuments } from './memory-documents.js'
import type { Store } from './store.js'
import { expiresIn, type Write } from './write.js'

interface Family { generation: number, expiresAt: number }

/**
 * An in-process store: for one instance, the demo and tests, and the fallback
 * behind Redis. Expired entries are swept lazily and periodically. With
 * `maxEntries` the oldest writes of each kind (claims, tombstones, families)
 * are forgotten first, so a fallback that mirrors every write stays bounded.
 *
 * Claims and tombstones are a Map from the id to its expiry, kept as
 * milliseconds since the store started (a small integer, stored in the Map
 * slot itself): about 70 bytes each instead of 150 with an entry object and
 * prefixed key. With the memory store every code redeemed leaves a claim and a
 * tombstone for its lifetime, a few hundred thousand at full load
 * (bench/README.md, "RSS").
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly shared = new MemoryDocuments()
  readonly #claims = new Map<string, number>()
  readonly #tombstones = new Map<string, number>()
  readonly #families = new Map<string, Family>()
  readonly #sweeper: NodeJS.Timeout
  readonly #now: () => number
  readonly #epoch: number
  readonly #maxEntries: number

  constructor (options: { sweepIntervalMs?: number, now?: () => number, maxEntries?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#epoch = this.#now()
    this.#maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 30_000)
    this.#sweeper.unref()
  }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> {
    if (this.#live(this.#claims, key)) return false
    this.#put(this.#claims, key, this.#expiry(ttlSec))
    return true
  }

  async revoke (id: string, ttlSec: number): Promise<void> {
    this.#put(this.#tombstones, id, this.#expiry(ttlSec))
  }

  async isRevoked (id: string): Promise<boolean> {
    return this.#live(this.#tombstones, id)
  }

  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> {
    // Only a family that moved past `generation` is a reuse; one that lags behind it lost a write (a restart) and catches up.
    const current = this.#liveGeneration(familyId)
    if (current !== undefined && current > generation) return 'reused'
    this.#put(this.#families, familyId, { generation: generation + 1, expiresAt: this.#expiry(ttlSec) })
    return 'rotated'
  }

  async familyGeneration (familyId: string): Promise<number | undefined> {
    return this.#liveGeneration(familyId)
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#claims.clear()
    this.#tombstones.clear()
    this.#families.clear()
  }

  /** Every live entry as a convergent write, oldest first within each kind: what a store that lost its state must be told again. */
  * records (): Generator<Write> {
    const clock = this.#clock()
    const at = (expiry: number) => this.#epoch + expiry
    for (const [key, expiry] of this.#claims) if (expiry > clock) yield { op: 'claim', key, expiresAt: at(expiry) }
    for (const [id, expiry] of this.#tombstones) if (expiry > clock) yield { op: 'revoke', id, expiresAt: at(expiry) }
    for (const [familyId, f] of this.#families) if (f.expiresAt > clock) yield { op: 'rotate', familyId, generation: f.generation - 1, expiresAt: at(f.expiresAt) }
  }

  /** Milliseconds since the store started. */
  #clock (): number {
    return this.#now() - this.#epoch
  }

  /** The expiry of something that lives `ttlSec` from now, on the store's clock. */
  #expiry (ttlSec: number): number {
    return expiresIn(ttlSec, this.#now()) - this.#epoch
  }

  /** The current generation of an unexpired family. */
  #liveGeneration (familyId: string): number | undefined {
    const family = this.#families.get(familyId)
    return family !== undefined && family.expiresAt > this.#clock() ? family.generation : undefined
  }

  /** Whether `key` holds an unexpired entry; an expired one is dropped. */
  #live (map: Map<string, number>, key: string): boolean {
    const expiry = map.get(key)
    if (expiry === undefined) return false
    if (expiry > this.#clock()) return true
    map.delete(key)
    return false
  }

  #put<V> (map: Map<string, V>, key: string, value: V): void {
    // Delete first so that the Map's insertion order stays "least recently written first".
    map.delete(key)
    if (map.size >= this.#maxEntries) map.delete(map.keys().next().value!)
    map.set(key, value)
  }

  #sweep (): void {
    const clock = this.#clock()
    for (const [key, expiry] of this.#claims) if (expiry <= clock) this.#claims.delete(key)
    for (const [id, expiry] of this.#tombstones) if (expiry <= clock) this.#tombstones.delete(id)
    for (const [id, f] of this.#families) if (f.expiresAt <= clock) this.#families.delete(id)
  }
}
