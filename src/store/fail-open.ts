import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'

/**
 * What a revocation check answers when no store can (local Redis and every
 * peer unreachable, and the id not tombstoned in this process): "not
 * revoked", so that losing Redis logs nobody out (DESIGN §5). Every such
 * answer is counted. The outage is logged at `warn` when it starts; once it
 * has lasted longer than the bound (`store.revocationFailOpen`) it is logged
 * again at `error`, because from then on a token revoked elsewhere has
 * probably been accepted here: the bound is when an operator must act, not
 * when users are logged out. Ids revoked through this process are still
 * refused throughout (the in-process store keeps their tombstones).
 */
export class RevocationFailOpen {
  readonly #boundMs: number
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #now: () => number
  #since: number | undefined
  #pastBound = false

  constructor (options: { boundMs: number, metrics: Metrics, log: Logger, now?: () => number }) {
    this.#boundMs = options.boundMs
    this.#metrics = options.metrics
    this.#log = options.log
    this.#now = options.now ?? Date.now
  }

  /** When the current outage began (ms since the epoch), or undefined while a store answers. */
  get since (): number | undefined {
    return this.#since
  }

  /** A store answered a revocation check: the outage, if any, is over. */
  answered (): void {
    if (this.#since === undefined) return
    this.#log.info({ outageMs: this.#now() - this.#since }, 'revocation checks are answered by a store again')
    this.#since = undefined
    this.#pastBound = false
  }

  /** No store answered: counts and logs the fail-open answer, which is always "not revoked". */
  notRevoked (): false {
    const now = this.#now()
    this.#metrics.revocationFailOpen.inc()
    if (this.#since === undefined) {
      this.#since = now
      this.#log.warn({ boundMs: this.#boundMs }, 'no store answers revocation checks: failing open (tokens revoked elsewhere are not seen here until a store answers)')
    } else if (!this.#pastBound && now - this.#since > this.#boundMs) {
      this.#pastBound = true
      this.#log.error({ outageMs: now - this.#since, boundMs: this.#boundMs }, 'revocation checks have failed open longer than store.revocationFailOpen: restore Redis or a peer')
    }
    return false
  }
}
