import { UnderstudyError } from '../errors.js'
import type { DocumentMac } from '../keys/document-mac.js'
import type { OnDocumentRejected } from '../store/documents.js'
import type { SharedDocuments } from '../store/store.js'

/** How long a backup copy of upstream metadata is kept: long enough to outlast any outage. */
export const BACKUP_TTL_SEC = 30 * 86400

export interface CachedOptions<T> {
  /** How long a value is fresh. */
  ttlMs: number
  /** Past this share of the TTL a read triggers a background refresh (refresh ahead); default 0.75. */
  refreshAhead?: number
  /** Called when a failed fetch is answered with the stale value kept from before. */
  onStale?: (err: unknown) => void
  /**
   * A copy kept outside the process (the store's shared documents): saved
   * after each fetch, and read when a fetch fails with nothing in memory, so a
   * process that starts during an upstream outage still knows the metadata.
   */
  backup?: { load (): Promise<T | undefined>, save (value: T): Promise<void> }
  /** After a failed fetch, background refreshes wait this long before trying again (default 5 s). */
  retryAfterMs?: number
}

/**
 * A value fetched from an upstream (discovery, JWKS): one fetch shared by
 * concurrent callers, refreshed ahead of expiry in the background, and served
 * stale when a fetch fails, so an upstream outage never takes away what we
 * already knew. The fetch carries its own deadline; a caller's signal only
 * stops that caller waiting.
 */
export class Cached<T> {
  readonly #load: () => Promise<T>
  readonly #options: CachedOptions<T>
  #value: { value: T, fetchedAt: number } | undefined
  #loading: Promise<T> | undefined
  #failedAt = 0

  constructor (load: () => Promise<T>, options: CachedOptions<T> | number) {
    this.#load = load
    this.#options = typeof options === 'number' ? { ttlMs: options } : options
  }

  /** When the kept value was fetched (ms since the epoch), or undefined. */
  get fetchedAt (): number | undefined {
    return this.#value?.fetchedAt
  }

  /**
   * The kept value, refreshed in the background once it is past the
   * refresh-ahead point; an expired value is still answered at once (stale
   * while revalidating) so no caller waits on an upstream that may be down.
   * Only the very first read waits for a fetch.
   */
  async get (signal?: AbortSignal): Promise<T> {
    const kept = this.#value
    if (kept === undefined) return this.refresh(signal)
    const age = Date.now() - kept.fetchedAt
    if (age > this.#options.ttlMs * (this.#options.refreshAhead ?? 0.75)) this.warm()
    return kept.value
  }

  /** Fetches now (joining a fetch in flight); a failure with a value kept answers that value. */
  async refresh (signal?: AbortSignal): Promise<T> {
    this.#loading ??= this.#load()
      .then((value) => {
        this.#value = { value, fetchedAt: Date.now() }
        this.#options.backup?.save(value).catch(() => {})
        return value
      }, async (err: unknown) => {
        this.#failedAt = Date.now()
        if (this.#value === undefined) {
          const saved = await this.#options.backup?.load().catch(() => undefined)
          if (saved === undefined) throw err
          // Known but of unknown age: kept as expired, so it is refreshed as soon as the upstream answers.
          this.#value = { value: saved, fetchedAt: 0 }
        }
        this.#options.onStale?.(err)
        return this.#value.value
      })
      .finally(() => { this.#loading = undefined })
    return abortable(this.#loading, signal)
  }

  /** Starts a background fetch (at start-up, or ahead of expiry), unless one failed moments ago; failures are left for the next reader. */
  warm (): void {
    if (Date.now() - this.#failedAt < (this.#options.retryAfterMs ?? 5_000)) return
    this.refresh().catch(() => {})
  }
}

/**
 * Where upstream metadata is kept for the next process: the store's shared
 * documents, each under a MAC of the sealing keys, checked on the way back.
 */
export interface MetadataBackups {
  shared: SharedDocuments
  mac: DocumentMac
  onRejected: OnDocumentRejected
}

/**
 * A backup under `key`, through `codec`. What is read back must carry this
 * fleet's MAC and pass the codec's checks (those of a fetched document):
 * one planted in the store is reported and ignored, never trusted.
 */
export function sharedBackup<T> (backups: MetadataBackups, key: string, kind: 'discovery' | 'jwks', codec: { encode (value: T): string, decode (text: string): T }): CachedOptions<T>['backup'] {
  const now = () => Math.floor(Date.now() / 1000)
  // Read again after every failed fetch during an outage: the same bad copy is reported once.
  let rejected: string | undefined
  return {
    async load () {
      const text = await backups.shared.get(key)
      if (text === undefined || text === rejected) return undefined
      try {
        return codec.decode(backups.mac.open(key, text, now()))
      } catch (err) {
        rejected = text
        backups.onRejected({ kind, key, problem: (err as Error).message })
        return undefined
      }
    },
    async save (value) {
      await backups.shared.set(key, backups.mac.wrap(key, codec.encode(value), now()), BACKUP_TTL_SEC)
    },
  }
}

async function abortable<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'the caller stopped waiting for an upstream fetch', { cause: signal.reason }))
    if (signal.aborted) onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
