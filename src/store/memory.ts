import type { Store } from './store.js'

interface Entry { value: string, expiresAt: number }

/** An in-process store: for one instance, the demo and tests. Expired entries are swept lazily and periodically. */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly #entries = new Map<string, Entry>()
  readonly #sweeper: NodeJS.Timeout
  readonly #now: () => number

  constructor (options: { sweepIntervalMs?: number, now?: () => number } = {}) {
    this.#now = options.now ?? Date.now
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
    const current = this.#get(`family:${familyId}`)
    if (current !== undefined && Number(current) !== generation) return 'reused'
    this.#set(`family:${familyId}`, String(generation + 1), ttlSec)
    return 'rotated'
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#entries.clear()
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
    this.#entries.set(key, { value, expiresAt: this.#now() + Math.max(1, Math.ceil(ttlSec * 1000)) })
  }

  #sweep (): void {
    const now = this.#now()
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }
}
