import CircuitBreaker from 'opossum'
import type { Logger } from '../log.js'

export type BreakerState = 'closed' | 'half-open' | 'open'

/** A state change of one guard, with why it happened. */
export interface GuardTransition { from: BreakerState, to: BreakerState, at: number, reason: string }

/** How one guard decides, every duration in milliseconds. */
export interface GuardPolicy {
  /** A call that has not answered by then has failed, and its signal is aborted. Never disabled. */
  timeoutMs: number
  /** How long the guard stays open before a trial call may go through. */
  resetTimeoutMs: number
  errorThresholdPercentage: number
  volumeThreshold: number
  rollingCountTimeoutMs: number
  /**
   * Most calls in flight; beyond it calls fail fast (kind `capacity`) instead of
   * queueing. The guard refuses them itself, before opossum: the caller's own
   * load says nothing about the dependency, so a refusal is never counted as a
   * failure and never opens the guard (opossum's own bulkhead, "Semaphore
   * locked", would count as one). Unbounded when absent.
   */
  capacity?: number
}

/** Why a guarded call has no answer: refused (open, or at capacity), out of time, or failed on its own. */
export interface GuardFailure { kind: 'open' | 'capacity' | 'timeout' | 'failed', cause: unknown }

/**
 * What a caller gets when the dependency cannot answer, stated by each user:
 * `fail-closed` throws the caller's own error; `fail-open` answers from a fallback.
 */
export type WhenUnavailable<A extends unknown[], R> =
  | { mode: 'fail-closed', error: (failure: GuardFailure) => unknown }
  | { mode: 'fail-open', fallback: (...args: A) => Promise<R> }

export interface GuardOptions<A extends unknown[], R> {
  /** Names the opossum breaker (its stats, its errors). */
  name: string
  policy: GuardPolicy
  /** The guarded work, given a fresh signal per call that aborts at the policy timeout. */
  action: (signal: AbortSignal, ...args: A) => Promise<R>
  whenUnavailable: WhenUnavailable<A, R>
  /**
   * Whether an error of the work says the dependency is unhealthy (default: every error).
   * Others pass through unchanged and count as answers. The guard's timeouts always count; its refusals (open, capacity) are not calls.
   */
  isFailure?: (err: unknown) => boolean
  /** Runs on every failure that counts against the dependency (metrics). */
  onFailure?: () => void
  /** Runs on every state change (metrics, incidents, logs of every transition). */
  onTransition?: (transition: GuardTransition) => void
  /** Logged once when the guard leaves closed (warn), and once when it closes again (info): a failed trial is no news. */
  announce?: { log: Logger, fields: Record<string, unknown>, down: string, up: string }
  /**
   * Whether the work reads its AbortSignal (default true). Work that cannot be
   * cancelled (a Redis command, which ioredis ends at its own command timeout
   * of the same length) gets a signal that never aborts, and the guard makes
   * no AbortController and no timer of its own per call: opossum's timeout
   * still fails the call at the deadline.
   */
  signal?: boolean
  /**
   * Whether `stats()` reports a latency mean (default true). opossum keeps every
   * call's latency of its rolling window for it and sorts them all once a
   * second: thousands of numbers a second for a store or counter guard on the
   * login path, whose stats nobody reads.
   */
  latency?: boolean
}

/** The signal of work that does not read one: it never aborts. */
const NEVER_ABORTED = new AbortController().signal

/** The policy of a guard that opens at the first failure: one failed command is reason enough to stop waiting. */
export function firstFailureOpens (timeoutMs: number, resetTimeoutMs: number): GuardPolicy {
  return { timeoutMs, resetTimeoutMs, errorThresholdPercentage: 0, volumeThreshold: 0, rollingCountTimeoutMs: 10_000 }
}

const REFUSALS: Record<string, GuardFailure['kind']> = { EOPENBREAKER: 'open', ESEMLOCKED: 'capacity', ETIMEDOUT: 'timeout' }

/**
 * One circuit breaker (opossum) around one dependency: the store, a peer,
 * the rate-limit counters, an upstream region. opossum's timeout does not
 * cancel the work, so each call gets a fresh AbortSignal that fires at the
 * same deadline. The state (and when it began, and since when the dependency
 * has been down) is tracked here once, for every user.
 */
export class Guard<A extends unknown[], R> {
  readonly #options: GuardOptions<A, R>
  #policy: GuardPolicy
  #breaker: CircuitBreaker<A, R>
  #pinnedOpen = false
  #state: BreakerState = 'closed'
  #since = Date.now()
  #downSince: number | undefined
  /** Calls handed to opossum and not yet settled: the bulkhead of `policy.capacity`. */
  #inFlight = 0

  constructor (options: GuardOptions<A, R>) {
    this.#options = options
    this.#policy = checked(options.policy, options.name)
    this.#breaker = this.#build(this.#policy)
  }

  /** closed, half-open or open; a guard pinned open is open. */
  get state (): BreakerState { return this.#state }
  /** When the current state began (ms since the epoch). */
  get since (): number { return this.#since }
  /** While not closed: when the guard left closed, however many trials have failed since. */
  get downSince (): number | undefined { return this.#downSince }
  get pinnedOpen (): boolean { return this.#pinnedOpen }
  get policy (): GuardPolicy { return { ...this.#policy } }

  /** Rolling-window counts. */
  stats (): Record<string, number> {
    const s = this.#breaker.stats
    return { fires: s.fires, successes: s.successes, failures: s.failures, rejects: s.rejects, timeouts: s.timeouts, fallbacks: s.fallbacks, latencyMean: Math.round(s.latencyMean) }
  }

  /** Calls in flight (those `policy.capacity` bounds). */
  get inFlight (): number { return this.#inFlight }

  /**
   * Runs the work through the breaker; while open it is refused at once, and
   * the caller's choice answers. Beyond `policy.capacity` calls in flight it is
   * refused at once too (kind `capacity`), before opossum sees it: not counted.
   * While open it refuses as open, as before.
   */
  async run (...args: A): Promise<R> {
    if (this.#pinnedOpen) return this.#unavailable(args, { kind: 'open', cause: undefined })
    const capacity = this.#policy.capacity
    if (capacity !== undefined && this.#inFlight >= capacity && this.#state !== 'open') return this.#unavailable(args, { kind: 'capacity', cause: undefined })
    let error: unknown
    this.#inFlight++
    try {
      return await this.#breaker.fire(...args)
    } catch (err) {
      error = err
    } finally {
      this.#inFlight--
    }
    const refusal = refusalOf(error)
    if (refusal === undefined && !this.#counts(error)) throw error
    return this.#unavailable(args, { kind: refusal ?? 'failed', cause: error })
  }

  /** Opens the guard now: a failed deliberate test (a health probe), or a dependency known not to be there yet. */
  open (): void {
    if (this.#state !== 'open') this.#breaker.open()
  }

  /** Pins the guard open (a drill) until `release`. */
  pinOpen (): void {
    this.#pinnedOpen = true
    this.#breaker.open()
    this.#setState('open', 'forced open by an operator')
  }

  /** Ends a drill: the guard closes and returns to normal operation. */
  release (): void {
    this.#pinnedOpen = false
    this.#breaker.close()
  }

  /** Applies a new policy from the next call on; an open guard stays open, otherwise it starts closed. */
  setPolicy (policy: GuardPolicy): void {
    const wasOpen = this.#breaker.opened
    this.#breaker.shutdown()
    this.#policy = checked(policy, this.#options.name)
    this.#breaker = this.#build(this.#policy)
    if (wasOpen) this.#breaker.open()
    else this.#setState('closed', 'policy changed')
  }

  /** Stops timers; the guard refuses everything afterwards. */
  shutdown (): void {
    this.#breaker.shutdown()
  }

  #build (policy: GuardPolicy): CircuitBreaker<A, R> {
    const { action, isFailure, onFailure } = this.#options
    const work = this.#options.signal === false
      ? async (...args: A) => action(NEVER_ABORTED, ...args)
      : async (...args: A) => {
        const controller = new AbortController()
        const timer = setTimeout(() => controller.abort(new Error('breaker timeout')), policy.timeoutMs)
        try {
          return await action(controller.signal, ...args)
        } finally {
          clearTimeout(timer)
        }
      }
    const latency = this.#options.latency !== false
    const breaker = new CircuitBreaker(work, {
      name: this.#options.name,
      rollingPercentilesEnabled: latency,
      enableSnapshots: latency,
      timeout: policy.timeoutMs,
      errorThresholdPercentage: policy.errorThresholdPercentage,
      volumeThreshold: policy.volumeThreshold,
      resetTimeout: policy.resetTimeoutMs,
      rollingCountTimeout: policy.rollingCountTimeoutMs,
      // No capacity for opossum: `run` bounds the calls, so that a refusal is not a failure.
      ...(isFailure === undefined ? {} : { errorFilter: (err: unknown) => !this.#counts(err) }),
    })
    if (onFailure) breaker.on('failure', onFailure)
    breaker.on('open', () => this.#setState('open', this.#pinnedOpen ? 'forced open by an operator' : 'failures over the threshold'))
    breaker.on('halfOpen', () => {
      // A drill pins the guard open: opossum's reset timer must not let traffic through.
      if (this.#pinnedOpen) breaker.open()
      else this.#setState('half-open', 'reset timeout elapsed; next call is a trial')
    })
    breaker.on('close', () => this.#setState('closed', 'a trial call succeeded'))
    return breaker
  }

  /** The guard's own timeouts and refusals always count; the work's errors as the user's filter says. */
  #counts (err: unknown): boolean {
    if (refusalOf(err) !== undefined) return true
    return this.#options.isFailure?.(err) ?? true
  }

  async #unavailable (args: A, failure: GuardFailure): Promise<R> {
    const choice = this.#options.whenUnavailable
    if (choice.mode === 'fail-open') return choice.fallback(...args)
    throw choice.error(failure)
  }

  #setState (to: BreakerState, reason: string): void {
    if (to === this.#state) return
    const from = this.#state
    this.#state = to
    this.#since = Date.now()
    if (from === 'closed') this.#downSince = this.#since
    if (to === 'closed') this.#downSince = undefined
    const announce = this.#options.announce
    if (announce && from === 'closed') announce.log.warn(announce.fields, announce.down)
    if (announce && to === 'closed') announce.log.info(announce.fields, announce.up)
    this.#options.onTransition?.({ from, to, at: this.#since, reason })
  }
}

/** The guard's own refusal or timeout (opossum marks its errors), as opposed to an error of the work. */
function refusalOf (err: unknown): GuardFailure['kind'] | undefined {
  if (!(err instanceof Error) || !CircuitBreaker.isOurError(err)) return undefined
  return REFUSALS[(err as Error & { code?: string }).code ?? '']
}

/** A guard without a deadline would wait as long as the dependency does: a timeout is never disabled. */
function checked (policy: GuardPolicy, name: string): GuardPolicy {
  if (!(policy.timeoutMs > 0) || !Number.isFinite(policy.timeoutMs)) throw new TypeError(`the ${name} guard needs a positive timeout, not ${policy.timeoutMs}`)
  return { ...policy, timeoutMs: Math.max(1, Math.round(policy.timeoutMs)) }
}
