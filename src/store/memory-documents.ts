import type { SharedDocuments } from './store.js'

/** Shared documents for one process: the memory store's, and the fallback while Redis is down. */
export class MemoryDocuments implements SharedDocuments {
  readonly #docs = new Map<string, { value: string, expiresAt: number }>()
  readonly #streams = new Map<string, string[]>()

  async get (key: string): Promise<string | undefined> {
    const doc = this.#docs.get(key)
    if (doc && doc.expiresAt <= Date.now()) this.#docs.delete(key)
    return doc && doc.expiresAt > Date.now() ? doc.value : undefined
  }

  async set (key: string, value: string, ttlSec?: number): Promise<boolean> {
    this.#docs.set(key, { value, expiresAt: ttlSec === undefined ? Number.POSITIVE_INFINITY : Date.now() + ttlSec * 1000 })
    return true
  }

  /** The seconds `key` has left: undefined when it never expires, 0 when it is gone. */
  ttlSec (key: string): number | undefined {
    const doc = this.#docs.get(key)
    if (doc === undefined) return 0
    if (doc.expiresAt === Number.POSITIVE_INFINITY) return undefined
    return Math.max(0, Math.ceil((doc.expiresAt - Date.now()) / 1000))
  }

  async delete (key: string): Promise<void> {
    this.#docs.delete(key)
  }

  async append (stream: string, value: string, maxLength: number): Promise<void> {
    const entries = this.#streams.get(stream) ?? []
    entries.push(value)
    if (entries.length > maxLength) entries.splice(0, entries.length - maxLength)
    this.#streams.set(stream, entries)
  }

  async tail (stream: string, limit: number): Promise<string[]> {
    return (this.#streams.get(stream) ?? []).slice(-limit)
  }
}
