import type { Store, StoreHealth, Versioned } from '../store/store.js'
import type { FaultInjector } from './fault-injector.js'

// An injected store fault stands for a hung or failing Redis: calls give up as a command timeout would.
const STORE_FAULT_TIMEOUT_MS = 1_000

/** A store whose every call first passes the injected store faults (game days, `chaos.enabled` only). */
export class FaultInjectingStore implements Store {
  readonly #inner: Store
  readonly #faults: FaultInjector

  constructor (inner: Store, faults: FaultInjector) {
    this.#inner = inner
    this.#faults = faults
  }

  get name (): string { return this.#inner.name }
  get shared () { return this.#inner.shared }

  async claimOnce (key: string, ttlSec: number): Promise<boolean> { return this.#through(() => this.#inner.claimOnce(key, ttlSec)) }
  async revoke (id: string, ttlSec: number): Promise<void> { return this.#through(() => this.#inner.revoke(id, ttlSec)) }
  async isRevoked (id: string): Promise<boolean> { return this.#through(() => this.#inner.isRevoked(id)) }
  async rotateFamily (familyId: string, generation: number, ttlSec: number): Promise<'rotated' | 'reused'> { return this.#through(() => this.#inner.rotateFamily(familyId, generation, ttlSec)) }
  async familyGeneration (familyId: string): Promise<number | undefined> { return this.#through(() => this.#inner.familyGeneration(familyId)) }
  async keepLatest (key: string, value: string, version: number, ttlSec: number): Promise<void> { return this.#through(() => this.#inner.keepLatest(key, value, version, ttlSec)) }
  async latest (key: string): Promise<Versioned | undefined> { return this.#through(() => this.#inner.latest(key)) }
  async ping (): Promise<void> { return this.#through(() => this.#inner.ping()) }
  async health (): Promise<StoreHealth> {
    try {
      await this.#faults.beforeStore(AbortSignal.timeout(STORE_FAULT_TIMEOUT_MS))
    } catch {
      return { status: 'unreachable' }
    }
    return this.#inner.health ? this.#inner.health() : this.#inner.ping().then(() => ({ status: 'ok' as const }))
  }

  async close (): Promise<void> { return this.#inner.close() }

  async #through<T> (call: () => Promise<T>): Promise<T> {
    await this.#faults.beforeStore(AbortSignal.timeout(STORE_FAULT_TIMEOUT_MS))
    return call()
  }
}
