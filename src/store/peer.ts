import { setTimeout as sleep } from 'node:timers/promises'
import type { Metrics } from '../observability/metrics.js'
import type { GuardedStore } from './guarded.js'
import type { RedisStore } from './redis.js'
import { applyWrite, type Write } from './write.js'

/** Writes sent to a peer at once; ioredis pipelines them on one connection. */
const BATCH = 256
/** At shutdown, how long queued writes may still try to reach a reachable peer. */
const FINAL_FLUSH_MS = 1_000

/**
 * Another region's Redis, seen from this gateway. Writes are queued and sent
 * in the background, so a slow or dead peer never slows a login (revocations
 * alone wait for it, within its timeout: `deliver`); a write
 * that fails stays queued and is sent again as soon as the peer's breaker
 * closes (within about a second of the peer's return). The queue is bounded:
 * past `queueLimit` the oldest write is dropped and counted. Reads are only
 * tried while the peer's breaker is closed, and then only for its timeout.
 */
export class Peer {
  /** host:port of the peer's Redis. */
  readonly endpoint: string
  readonly guard: GuardedStore
  readonly #queueLimit: number
  readonly #metrics: Metrics
  #queue: Write[] = []
  #flushing: Promise<void> | undefined
  #again = false

  constructor (endpoint: string, guard: GuardedStore, options: { queueLimit: number, metrics: Metrics }) {
    this.endpoint = endpoint
    this.guard = guard
    this.#queueLimit = options.queueLimit
    this.#metrics = options.metrics
    guard.onUp(() => { void this.#flush() })
  }

  /** Writes waiting for the peer. */
  get queued (): number {
    return this.#queue.length
  }

  /** Queues `write` for the peer and starts sending it; never waits for the peer. */
  send (write: Write): void {
    this.#queue.push(write)
    if (this.#queue.length > this.#queueLimit) {
      this.#queue.shift()
      this.#metrics.peerDropped.inc({ peer: this.endpoint })
    }
    void this.#flush()
  }

  /**
   * Sends `write` now and waits for the peer, for at most its timeout; queued instead when the peer's
   * breaker is not closed or the write fails, as `send` would. For revocations: a logout answered is
   * then in the other region's Redis too, not only in a queue that dies with this process.
   */
  async deliver (write: Write): Promise<void> {
    if (!this.guard.available) return this.send(write)
    try {
      await this.guard.call((store) => applyWrite(store, write))
    } catch {
      this.send(write)
    }
  }

  /** The peer's answer, or undefined when its breaker is not closed or it fails to answer in time. */
  async read<T> (operation: (store: RedisStore) => Promise<T>): Promise<T | undefined> {
    if (!this.guard.available) return undefined
    try {
      return await this.guard.call(operation)
    } catch {
      return undefined
    }
  }

  /** Gives queued writes a last, bounded chance, then closes the connection. */
  async close (): Promise<void> {
    if (this.#queue.length > 0 && this.guard.available) await Promise.race([this.#flush(), sleep(FINAL_FLUSH_MS)])
    await this.guard.close()
  }

  #flush (): Promise<void> {
    if (this.#flushing) {
      this.#again = true
      return this.#flushing
    }
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined
      if (this.#again) {
        this.#again = false
        void this.#flush()
      }
    })
    return this.#flushing
  }

  async #drain (): Promise<void> {
    while (this.#queue.length > 0 && this.guard.available) {
      const batch = this.#queue.slice(0, BATCH)
      const results = await Promise.allSettled(batch.map((write) => this.guard.call((store) => applyWrite(store, write))))
      const sent = new Set(batch.filter((_write, i) => results[i]!.status === 'fulfilled'))
      // Writes are convergent, so the failed ones may be sent again later in any order.
      this.#queue = this.#queue.filter((write) => !sent.has(write))
      if (sent.size < batch.length) return
    }
  }
}
