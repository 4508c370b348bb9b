import { UnderstudyError } from '../errors.js'

/**
 * A value fetched from an upstream (discovery, JWKS): one fetch shared by
 * concurrent callers, kept for `ttlMs`, and fetched again on the next call after a failure.
 * The fetch carries its own deadline; a caller's signal only stops that caller waiting.
 */
export class Cached<T> {
  readonly #load: () => Promise<T>
  readonly #ttlMs: number
  #value: { value: T, fetchedAt: number } | undefined
  #loading: Promise<T> | undefined

  constructor (load: () => Promise<T>, ttlMs: number) {
    this.#load = load
    this.#ttlMs = ttlMs
  }

  /** When the kept value was fetched (ms since the epoch), or undefined. */
  get fetchedAt (): number | undefined {
    return this.#value?.fetchedAt
  }

  /** The kept value while fresh, else a fetch. */
  async get (signal?: AbortSignal): Promise<T> {
    if (this.#value !== undefined && Date.now() - this.#value.fetchedAt < this.#ttlMs) return this.#value.value
    return this.refresh(signal)
  }

  /** Fetches now (joining a fetch in flight). */
  async refresh (signal?: AbortSignal): Promise<T> {
    this.#loading ??= this.#load()
      .then((value) => {
        this.#value = { value, fetchedAt: Date.now() }
        return value
      })
      .finally(() => { this.#loading = undefined })
    return abortable(this.#loading, signal)
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
