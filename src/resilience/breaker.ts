import type { BreakerPolicy } from '../config/resolve.js'
import { UnderstudyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import { Guard, type BreakerState, type GuardFailure, type GuardPolicy } from './guard.js'

export type { BreakerState } from './guard.js'

/** A state change of one region's breaker, for logs, incidents and status. */
export interface BreakerTransition { provider: string, region: string, from: BreakerState, to: BreakerState, at: number, reason: string }

/** Where a breaker's policy comes from: the config file, or a live override (since when). */
export type PolicySource = { kind: 'config' } | { kind: 'override', since: string }

/** Most code exchanges one region may have in flight; beyond it they are refused at once (US_ERR_UPSTREAM_BUSY) instead of queueing. */
export const DEFAULT_CAPACITY = 256

/**
 * The operations the capacity bounds: the code exchange, the one call a browser
 * starts at will (any transaction /authorize hands out, any code), so the one
 * an attacker with many addresses can pile up. The others are never refused
 * for capacity, because a refusal of them would be taken for an outage by
 * callers that know only transient and fatal, or would end a grant: a health
 * probe (one per region per interval) would open the breaker, a login's
 * authorization URL (no network call once discovery is cached; one shared
 * fetch when not) would send /authorize to a cached login, and a refresh has
 * already rotated the client's refresh token by the time it is sent (a 503
 * would make the client's retry a reuse that revokes the grant). A refresh's
 * load is bounded anyway: one in flight per grant (rotation refuses a second
 * use of the token), one per grant per maxStaleness.
 */
const BOUNDED = new Set(['token'])

/** A busy region is announced (logged at warn by the caller) at most this often; every refusal is answered temporarily_unavailable. */
const BUSY_WARNING_INTERVAL_MS = 60_000

const STATE_VALUE: Record<BreakerState, 0 | 1 | 2> = { closed: 0, 'half-open': 1, open: 2 }

type Work = (signal: AbortSignal) => Promise<unknown>

/**
 * One circuit breaker for one provider region, fail-closed: an open region
 * refuses at once (the router tries the next region, the login path decides
 * about a cached login). Only transient failures (classifyUpstreamFailure)
 * count: a fatal answer says the request was refused, not that the region is
 * unhealthy. The policy is the live one (config, or an override PATCHed on
 * any instance).
 */
export class RegionBreaker {
  readonly provider: string
  readonly region: string
  #policy: BreakerPolicy
  #source: PolicySource = { kind: 'config' }
  readonly #guard: Guard<[Work], unknown>
  readonly #metrics: Metrics
  /** Bounded calls (BOUNDED) in flight: the bulkhead, kept here so that a refusal never reaches opossum, which would count it as a failure. */
  #inFlight = 0
  #busyRefused = 0
  #busyWarnedAt = -Infinity

  constructor (provider: string, region: string, policy: BreakerPolicy, deps: { metrics: Metrics, onTransition: (t: BreakerTransition) => void }) {
    this.provider = provider
    this.region = region
    this.#policy = policy
    this.#metrics = deps.metrics
    this.#guard = new Guard({
      name: `${provider}/${region}`,
      policy: guardPolicy(policy),
      action: async (signal, work: Work) => work(signal),
      whenUnavailable: { mode: 'fail-closed', error: (failure) => this.#error(failure) },
      isFailure: (err) => classifyUpstreamFailure(err) === 'transient',
      onTransition: (transition) => {
        this.#metrics.breakerState.set({ provider, region }, STATE_VALUE[transition.to])
        deps.onTransition({ provider, region, ...transition })
      },
    })
    this.#metrics.breakerState.set({ provider, region }, 0)
  }

  /** closed, half-open or open; a breaker pinned open by a drill is open. */
  get state (): BreakerState { return this.#guard.state }
  /** When the current state began (ms since the epoch). */
  get since (): number { return this.#guard.since }
  /** While not closed: when the breaker left closed (the region went down), however many trials have failed since. */
  get downSince (): number | undefined { return this.#guard.downSince }
  get policy (): BreakerPolicy { return { ...this.#policy } }
  get policySource (): PolicySource { return this.#source }
  get pinnedOpen (): boolean { return this.#guard.pinnedOpen }

  /** Rolling-window counts, for the admin API. */
  stats (): Record<string, number> {
    return this.#guard.stats()
  }

  /** Code exchanges in flight (the calls the capacity bounds). */
  get inFlight (): number { return this.#inFlight }

  /**
   * Runs `operation` through the breaker with a fresh AbortSignal; fails fast
   * while open. A code exchange beyond the region's capacity is refused at once
   * with US_ERR_UPSTREAM_BUSY, before opossum sees it: the gateway's own load
   * says nothing about the region, so it is not counted, neither opens nor
   * keeps open the breaker, nor uses up a half-open breaker's trial, and is
   * never taken for an outage (classifyUpstreamFailure: busy). While the breaker
   * is open it refuses as open, as before: that is the gateway's evidence.
   */
  async call<T> (operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const bounded = BOUNDED.has(operation)
    if (bounded && this.#inFlight >= DEFAULT_CAPACITY && this.#guard.state !== 'open') throw this.#busy(operation)
    if (bounded) this.#inFlight++
    const stop = this.#metrics.upstreamDuration.startTimer({ provider: this.provider, region: this.region, operation })
    try {
      return await this.#guard.run(fn) as T
    } finally {
      stop()
      if (bounded) this.#inFlight--
    }
  }

  /** A failed health probe is a deliberate test, not traffic: it opens the breaker at once. */
  probeFailed (): void {
    this.#guard.open()
  }

  /** Pins the breaker open (a drill) until `release`. */
  pinOpen (): void {
    this.#guard.pinOpen()
  }

  /** Ends a drill: the breaker closes and returns to normal operation. */
  release (): void {
    this.#guard.release()
  }

  /** Applies a new policy from the next call on; the current state carries over. */
  setPolicy (policy: BreakerPolicy, source: PolicySource): BreakerPolicy {
    const old = this.#policy
    this.#guard.setPolicy(guardPolicy(policy))
    this.#policy = policy
    this.#source = source
    return old
  }

  /** Stops timers; the breaker rejects everything afterwards. */
  shutdown (): void {
    this.#guard.shutdown()
  }

  /**
   * The refusal of a call beyond capacity. The first in a minute is marked
   * `announce` with how many were refused since the last one (itself included):
   * the caller logs that one at warn, the others at debug, so a flood costs one
   * warning a minute per region.
   */
  #busy (operation: string): UnderstudyError {
    this.#busyRefused++
    this.#metrics.upstreamBusy.inc({ provider: this.provider, region: this.region })
    const details: Record<string, unknown> = { provider: this.provider, region: this.region, operation, capacity: DEFAULT_CAPACITY }
    const now = Date.now()
    if (now - this.#busyWarnedAt >= BUSY_WARNING_INTERVAL_MS) {
      details.announce = true
      details.refused = this.#busyRefused
      this.#busyWarnedAt = now
      this.#busyRefused = 0
    }
    return new UnderstudyError('US_ERR_UPSTREAM_BUSY', `the ${this.provider}/${this.region} region has ${DEFAULT_CAPACITY} code exchanges in flight`, { details })
  }

  #error ({ kind, cause }: GuardFailure): unknown {
    const details = { provider: this.provider, region: this.region }
    switch (kind) {
      case 'open': return new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `the ${this.provider}/${this.region} breaker is open`, { details: { ...details, breaker: 'open' } })
      // opossum is given no capacity (guardPolicy): the bulkhead is `call`'s. Should one come back, it is the gateway's load, not an outage.
      case 'capacity':
        this.#metrics.upstreamBusy.inc(details)
        return new UnderstudyError('US_ERR_UPSTREAM_BUSY', `the ${this.provider}/${this.region} breaker is at capacity`, { details: { ...details, breaker: 'capacity' } })
      case 'timeout': return new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', `the ${this.provider}/${this.region} call timed out`, { cause, details })
      case 'failed': return cause
    }
  }
}

/**
 * The config's policy (seconds) as the guard reads it (milliseconds). No
 * capacity: opossum counts its own "Semaphore locked" refusal as a failure of
 * the region (a forged outage); RegionBreaker.call bounds the calls instead.
 */
function guardPolicy (policy: BreakerPolicy): GuardPolicy {
  const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000))
  return { timeoutMs: ms(policy.timeout), resetTimeoutMs: ms(policy.resetTimeout), rollingCountTimeoutMs: ms(policy.rollingCountTimeout), errorThresholdPercentage: policy.errorThresholdPercentage, volumeThreshold: policy.volumeThreshold }
}
