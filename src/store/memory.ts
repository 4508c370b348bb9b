import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { ExpiringMap } from './expiring-map.js'
import { MemoryDocuments } from './memory-documents.js'
import type { Store, TombstoneKind, Versioned } from './store.js'
import { expiresIn, later, type Write } from './write.js'

interface Family { generation: number, expiresAt: number }
interface Kept extends Versioned { expiresAt: number }

/** What the in-process store holds, each kind under its own bound: `logouts` are the session tombstones, `tombstones` the others. */
export type EntryKind = 'claims' | 'tombstones' | 'logouts' | 'families' | 'latest'

/**
 * The most entries of each kind one process holds: claims and tombstones
 * about 70 bytes each, families about 120, latest values (a sealed token)
 * about 400; some 57 MB in all when every bound is reached. At full load
 * (bench/README.md) redeemed codes alone leave about 100 000 claims and as
 * many tombstones alive. Logouts have a bound of their own: grant tombstones
 * (a reused code's, 30 days) outlive them (a week), so sharing one bound, a
 * loop redeeming one code twice, which needs no upstream, would push them out.
 */
export const DEFAULT_BOUNDS: Readonly<Record<EntryKind, number>> = { claims: 200_000, tombstones: 200_000, logouts: 100_000, families: 100_000, latest: 20_000 }
/** Least time between two warnings that a bound is evicting live entries (ms). */
const EVICTION_WARNING_MS = 60_000

export interface MemoryStoreOptions {
  sweepIntervalMs?: number
  now?: () => number
  /** Per-kind bounds; omitted kinds keep DEFAULT_BOUNDS. */
  bounds?: Partial<Record<EntryKind, number>>
  /** Counts evictions (`understudy_store_evictions_total`). */
  metrics?: Metrics
  /** Warned when a bound forces live entries out. */
  log?: Logger
}

/**
 * An in-process store: for one instance, the demo and tests, and the fallback
 * behind Redis. Expired entries are swept lazily and periodically. Each kind
 * is bounded on its own, and a full kind forgets first what would expire
 * soonest (ExpiringMap): a flood of code guards cannot push out a grant's
 * tombstone, and no flood of code or grant tombstones reaches a logout's.
 * A live entry forgotten that way is counted and warned about.
 *
 * Claims and tombstones map an id to its expiry, kept as milliseconds since
 * the store started (a small integer, stored in the Map slot itself): about
 * 70 bytes each instead of 150 with an entry object and prefixed key.
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly shared = new MemoryDocuments()
  readonly #claims: ExpiringMap<number>
  readonly #tombstones: ExpiringMap<number>
  readonly #logouts: ExpiringMap<number>
  readonly #families: ExpiringMap<Family>
  readonly #latest: ExpiringMap<Kept>
  readonly #sweeper: NodeJS.Timeout
  readonly #now: () => number
  readonly #epoch: number
  readonly #metrics: Metrics | undefined
  readonly #log: Logger | undefined
  /** Per kind: evictions since the last warning, and when that was. */
  readonly #evictions = new Map<EntryKind, { count: number, warnedAt: number | undefined }>()

  constructor (options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#epoch = this.#now()
    this.#metrics = options.metrics
    this.#log = options.log
    const bounds = { ...DEFAULT_BOUNDS, ...options.bounds }
    const expiry = (value: number) => value
    this.#claims = new ExpiringMap(bounds.claims, expiry, (n) => this.#evicted('claims', n))
    this.#tombstones = new ExpiringMap(bounds.tombstones, expiry, (n) => this.#evicted('tombstones', n))
    this.#logouts = new ExpiringMap(bounds.logouts, expiry, (n) => this.#evicted('logouts', n))
    this.#families = new ExpiringMap<Family>(bounds.families, (f) => f.expiresAt, (n) => this.#evicted('families', n))
    this.#latest = new ExpiringMap<Kept>(bounds.latest, (k) => k.expiresAt, (n) => this.#evicted('latest', n))
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 30_000)
    this.#sweeper.unref()
  }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> {
    const clock = this.#clock()
    if (this.#claims.get(key, clock) !== undefined) return false
    this.#claims.set(key, this.#expiry(ttlSec), clock)
    return true
  }

  async revoke (id: string, ttlSec: number, kind: TombstoneKind = 'token'): Promise<void> {
    const tombstones = kind === 'session' ? this.#logouts : this.#tombstones
    tombstones.set(id, this.#expiry(ttlSec), this.#clock())
  }

  async isRevoked (id: string): Promise<boolean> {
    return this.#revoked(id, this.#clock())
  }

  async anyRevoked (ids: readonly string[]): Promise<boolean> {
    const clock = this.#clock()
    return ids.some((id) => this.#revoked(id, clock))
  }

  async revokeOnce (id: string, ttlSec: number): Promise<boolean> {
    const clock = this.#clock()
    // A claim of the id is a use too: the single-use guard of versions before revokeOnce (see REVOKE_ONCE in redis.ts).
    if (this.#revoked(id, clock) || this.#claims.get(id, clock) !== undefined) return false
    this.#tombstones.set(id, this.#expiry(ttlSec), clock)
    return true
  }

  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> {
    // Only a family that moved past `generation` is a reuse; one that lags behind it lost a write (a restart) and catches up.
    const clock = this.#clock()
    const current = this.#families.get(familyId, clock)?.generation
    if (current !== undefined && current > generation) return 'reused'
    this.#families.set(familyId, { generation: generation + 1, expiresAt: this.#expiry(ttlSec) }, clock)
    return 'rotated'
  }

  async familyGeneration (familyId: string): Promise<number | undefined> {
    return this.#families.get(familyId, this.#clock())?.generation
  }

  async keepLatest (key: string, value: string, version: number, ttlSec: number): Promise<void> {
    const clock = this.#clock()
    const kept = this.#latest.get(key, clock)
    const offered = { value, version, expiresAt: this.#expiry(ttlSec) }
    if (later(kept, offered) === offered) this.#latest.set(key, offered, clock)
  }

  async latest (key: string): Promise<Versioned | undefined> {
    const kept = this.#latest.get(key, this.#clock())
    return kept === undefined ? undefined : { value: kept.value, version: kept.version }
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#claims.clear()
    this.#tombstones.clear()
    this.#logouts.clear()
    this.#families.clear()
    this.#latest.clear()
  }

  /** Every live entry as a convergent write: what a store that lost its state must be told again. */
  * records (): Generator<Write> {
    const clock = this.#clock()
    const at = (expiry: number) => this.#epoch + expiry
    for (const [key, expiry] of this.#claims.live(clock)) yield { op: 'claim', key, expiresAt: at(expiry) }
    for (const [id, expiry] of this.#tombstones.live(clock)) yield { op: 'revoke', id, expiresAt: at(expiry) }
    for (const [id, expiry] of this.#logouts.live(clock)) yield { op: 'revoke', id, expiresAt: at(expiry) }
    for (const [familyId, f] of this.#families.live(clock)) yield { op: 'rotate', familyId, generation: f.generation - 1, expiresAt: at(f.expiresAt) }
    for (const [key, k] of this.#latest.live(clock)) yield { op: 'latest', key, value: k.value, version: k.version, expiresAt: at(k.expiresAt) }
  }

  #revoked (id: string, clock: number): boolean {
    return this.#tombstones.get(id, clock) !== undefined || this.#logouts.get(id, clock) !== undefined
  }

  /** Milliseconds since the store started. */
  #clock (): number {
    return this.#now() - this.#epoch
  }

  /** The expiry of something that lives `ttlSec` from now, on the store's clock. */
  #expiry (ttlSec: number): number {
    return expiresIn(ttlSec, this.#now()) - this.#epoch
  }

  /** A bound forced `count` live entries of `kind` out: counted every time, warned at most once a minute per kind. */
  #evicted (kind: EntryKind, count: number): void {
    if (count === 0) return
    this.#metrics?.storeEvictions.inc({ kind }, count)
    const state = this.#evictions.get(kind) ?? { count: 0, warnedAt: undefined }
    this.#evictions.set(kind, state)
    state.count += count
    const now = this.#now()
    if (state.warnedAt !== undefined && now - state.warnedAt < EVICTION_WARNING_MS) return
    this.#log?.warn({ kind, evicted: state.count }, 'in-process store full: entries that would expire soonest were forgotten before their time')
    state.warnedAt = now
    state.count = 0
  }

  #sweep (): void {
    const clock = this.#clock()
    this.#claims.sweep(clock)
    this.#tombstones.sweep(clock)
    this.#logouts.sweep(clock)
    this.#families.sweep(clock)
    this.#latest.sweep(clock)
  }
}
