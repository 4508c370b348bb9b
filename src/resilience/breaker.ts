import CircuitBreaker from 'opossum'
import type { BreakerPolicy } from '../config/resolve.js'
import { UnderstudyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'

export type BreakerState = 'closed' | 'half-open' | 'open'

/** A state change of one region's breaker, for logs, incidents and status. */
export interface BreakerTransition { provider: string, region: string, from: BreakerState, to: BreakerState, at: number, reason: string }

/** Where a breaker's policy comes from: the config file, or a live override (since when). */
export type PolicySource = { kind: 'config' } | { kind: 'override', since: string }

/** Most concurrent calls one region may have in flight; beyond it calls fail fast instead of queueing. */
export const DEFAULT_CAPACITY = 256

const STATE_VALUE: Record<BreakerState, 0 | 1 | 2> = { closed: 0, 'half-open': 1, open: 2 }

/**
 * One circuit breaker for one provider region (opossum). Every call gets a
 * fresh AbortSignal that fires at the policy timeout, so a timed-out request
 * is really cancelled. Only transient failures (classifyUpstreamFailure) count:
 * a fatal answer says the request was refused, not that the region is unhealthy.
 */
export class RegionBreaker {
  readonly provider: string
  readonly region: string
  #policy: BreakerPolicy
  #source: PolicySource = { kind: 'config' }
  #breaker: CircuitBreaker<[(signal: AbortSignal) => Promise<unknown>], unknown>
  #pinnedOpen = false
  #state: BreakerState = 'closed'
  #since = Date.now()
  #downSince: number | undefined
  readonly #metrics: Metrics
  readonly #onTransition: (transition: BreakerTransition) => void

  constructor (provider: string, region: string, policy: BreakerPolicy, deps: { metrics: Metrics, onTransition: (t: BreakerTransition) => void }) {
    this.provider = provider
    this.region = region
    this.#policy = policy
    this.#metrics = deps.metrics
    this.#onTransition = deps.onTransition
    this.#breaker = this.#build(policy)
    this.#metrics.breakerState.set({ provider, region }, 0)
  }

  /** closed, half-open or open; a breaker pinned open by a drill is open. */
  get state (): BreakerState { return this.#state }
  /** When the current state began (ms since the epoch). */
  get since (): number { return this.#since }
  /** While not closed: when the breaker left closed (the region went down), however many trials have failed since. */
  get downSince (): number | undefined { return this.#downSince }
  get policy (): BreakerPolicy { return { ...this.#policy } }
  get policySource (): PolicySource { return this.#source }
  get pinnedOpen (): boolean { return this.#pinnedOpen }

  /** Rolling-window counts, for the admin API. */
  stats (): Record<string, number> {
    const s = this.#breaker.stats
    return { fires: s.fires, successes: s.successes, failures: s.failures, rejects: s.rejects, timeouts: s.timeouts, fallbacks: s.fallbacks, latencyMean: Math.round(s.latencyMean) }
  }

  /** Runs `operation` through the breaker with a fresh AbortSignal; fails fast while open. */
  async call<T> (operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#pinnedOpen) throw this.#openError()
    const stop = this.#metrics.upstreamDuration.startTimer({ provider: this.provider, region: this.region, operation })
    try {
      return await this.#breaker.fire(fn) as T
    } catch (err) {
      throw this.#translate(err)
    } finally {
      stop()
    }
  }

  /** A failed health probe is a deliberate test, not traffic: it opens the breaker at once. */
  probeFailed (): void {
    if (this.#state !== 'open') this.#breaker.open()
  }

  /** Pins the breaker open (a drill) until `release`. */
  pinOpen (): void {
    this.#pinnedOpen = true
    this.#breaker.open()
    this.#setState('open', 'forced open by an operator')
  }

  /** Ends a drill: the breaker closes and returns to normal operation. */
  release (): void {
    this.#pinnedOpen = false
    this.#breaker.close()
  }

  /** Applies a new policy from the next call on; the current state carries over. */
  setPolicy (policy: BreakerPolicy, source: PolicySource): BreakerPolicy {
    const old = this.#policy
    const wasOpen = this.#breaker.opened
    this.#breaker.shutdown()
    this.#policy = policy
    this.#source = source
    this.#breaker = this.#build(policy)
    if (wasOpen) this.#breaker.open()
    else this.#setState('closed', 'policy changed')
    return old
  }

  /** Stops timers; the breaker rejects everything afterwards. */
  shutdown (): void {
    this.#breaker.shutdown()
  }

  #build (policy: BreakerPolicy): CircuitBreaker<[(signal: AbortSignal) => Promise<unknown>], unknown> {
    const timeoutMs = Math.max(1, Math.round(policy.timeout * 1000))
    const breaker = new CircuitBreaker(async (fn: (signal: AbortSignal) => Promise<unknown>) => {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(new Error('breaker timeout')), timeoutMs)
      try {
        return await fn(controller.signal)
      } finally {
        clearTimeout(timer)
      }
    }, {
      name: `${this.provider}/${this.region}`,
      timeout: timeoutMs,
      errorThresholdPercentage: policy.errorThresholdPercentage,
      volumeThreshold: policy.volumeThreshold,
      resetTimeout: Math.max(1, Math.round(policy.resetTimeout * 1000)),
      rollingCountTimeout: Math.max(1, Math.round(policy.rollingCountTimeout * 1000)),
      capacity: DEFAULT_CAPACITY,
      errorFilter: (err: unknown) => classifyUpstreamFailure(err) === 'fatal',
    })
    breaker.on('open', () => this.#setState('open', this.#pinnedOpen ? 'forced open by an operator' : 'failures over the threshold'))
    breaker.on('halfOpen', () => {
      // A drill pins the breaker open: opossum's reset timer must not let traffic through.
      if (this.#pinnedOpen) breaker.open()
      else this.#setState('half-open', 'reset timeout elapsed; next call is a trial')
    })
    breaker.on('close', () => this.#setState('closed', 'a trial call succeeded'))
    return breaker
  }

  #setState (to: BreakerState, reason: string): void {
    if (to === this.#state) return
    const from = this.#state
    this.#state = to
    this.#since = Date.now()
    if (from === 'closed') this.#downSince = this.#since
    if (to === 'closed') this.#downSince = undefined
    this.#metrics.breakerState.set({ provider: this.provider, region: this.region }, STATE_VALUE[to])
    this.#onTransition({ provider: this.provider, region: this.region, from, to, at: this.#since, reason })
  }

  #openError (): UnderstudyError {
    return new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `the ${this.provider}/${this.region} breaker is open`, { details: { provider: this.provider, region: this.region, breaker: 'open' } })
  }

  #translate (err: unknown): unknown {
    const code = (err as { code?: unknown }).code
    if (code === 'EOPENBREAKER') return this.#openError()
    if (code === 'ESEMLOCKED') return new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `the ${this.provider}/${this.region} breaker is at capacity`, { details: { provider: this.provider, region: this.region, breaker: 'capacity' } })
    if (code === 'ETIMEDOUT') return new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', `the ${this.provider}/${this.region} call timed out`, { cause: err, details: { provider: this.provider, region: this.region } })
    return err
  }
}
