import { UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { firstFailureOpens, Guard } from '../resilience/guard.js'
import type { RedisStore } from './redis.js'

export interface GuardOptions {
  /** The `store` label of metrics and logs: `local`, or `peer:<host:port>`. */
  label: string
  /** The breaker's timeout (ms): a call that has not answered by then has failed. */
  timeoutMs: number
  /** How long the breaker stays open before the next trial (ms). */
  resetTimeoutMs: number
  /** How often the background probe tries while the breaker is not closed (ms). */
  probeIntervalMs?: number
  /**
   * Runs before each command, inside the breaker, with the command's deadline:
   * an injected store fault (`chaos.enabled`) reaches this layer as a real
   * outage would, and the fallbacks above it stay in charge.
   */
  beforeCommand?: (signal: AbortSignal) => Promise<void>
  metrics: Metrics
  log: Logger
}

/** Most tries past an open breaker at a time (`lastTry`), for each purpose: a hung store holds each for the command timeout. */
const LAST_TRIES = 16

/**
 * What a try past the breaker is for, each with its own bound and back-off: revocation checks and
 * document reads (one for nearly every request), and single-use decisions (a code's use, a rotation),
 * which a burst of checks must not crowd out, nor a failed check stop.
 */
export type LastTryPurpose = 'check' | 'decision'

/** Longest a `/healthz` ping waits, so that the whole health report stays within its own budget. */
const HEALTH_PING_MS = 300

type Command = (store: RedisStore) => Promise<unknown>

/**
 * A Redis store behind its own circuit breaker, fail-closed: it throws
 * US_ERR_STORE_UNAVAILABLE, and the ResilientStore above it is the one layer
 * that fails open. Any failure opens it at once: on the login path one
 * timed-out command is reason enough to stop waiting, and the fallbacks are
 * correct, only less widely shared.
 * User calls are refused while the breaker is open or half-open; a
 * background ping is the half-open trial, so no login is ever the one that
 * waits to find out. When the trial succeeds the breaker closes and the
 * `onUp` listeners run (replays, queue flushes); so they do when Redis
 * restarted between two commands, unseen (its `run_id` changed).
 */
export class GuardedStore {
  readonly label: string
  readonly store: RedisStore
  readonly #guard: Guard<[Command], unknown>
  readonly #probeIntervalMs: number
  readonly #timeoutMs: number
  readonly #beforeCommand: ((signal: AbortSignal) => Promise<void>) | undefined
  readonly #resetTimeoutMs: number
  readonly #lastTries: Record<LastTryPurpose, number> = { check: 0, decision: 0 }
  readonly #lastTryFailedAt: Record<LastTryPurpose, number> = { check: -Infinity, decision: -Infinity }
  readonly #upListeners: Array<() => void> = []
  #probe: NodeJS.Timeout | undefined

  constructor (store: RedisStore, options: GuardOptions) {
    const { label, metrics, log, beforeCommand } = options
    this.label = label
    this.store = store
    this.#probeIntervalMs = options.probeIntervalMs ?? 500
    this.#timeoutMs = options.timeoutMs
    this.#beforeCommand = beforeCommand
    this.#resetTimeoutMs = options.resetTimeoutMs
    this.#guard = new Guard({
      name: label,
      policy: firstFailureOpens(options.timeoutMs, options.resetTimeoutMs),
      // Only an injected fault reads the deadline's signal; a command itself ends at ioredis's own command timeout (the same).
      signal: beforeCommand !== undefined,
      latency: false,
      action: async (signal, command: Command) => {
        if (beforeCommand) await beforeCommand(signal)
        return command(store)
      },
      whenUnavailable: { mode: 'fail-closed', error: ({ cause }) => this.#unavailable(cause) },
      onFailure: () => metrics.storeErrors.inc({ store: label }),
      onTransition: ({ to }) => {
        if (to === 'open') this.#startProbe()
        if (to !== 'closed') return
        this.#stopProbe()
        for (const listener of this.#upListeners) listener()
      },
      announce: { log, fields: { store: label, redis: store.target }, down: 'store unreachable: using the fallbacks until it answers again', up: 'store answers again' },
    })
    // A restart nobody saw (no command failed, so the breaker stayed closed) left the store empty all
    // the same: the same listeners write back what it lost. During an outage the closing breaker runs them.
    store.onRestart(() => {
      if (this.#guard.state !== 'closed') return
      log.warn({ store: label, redis: store.target }, 'store restarted (another server run_id): writing back what it held')
      for (const listener of this.#upListeners) listener()
    })
    if (!store.ready) this.#guard.open()
  }

  /** True while the breaker is closed: calls go through. */
  get available (): boolean {
    return this.#guard.state === 'closed'
  }

  /** Runs `operation` on the store through the breaker; throws US_ERR_STORE_UNAVAILABLE at once while it is not closed. */
  async call<T> (operation: (store: RedisStore) => Promise<T>): Promise<T> {
    if (!this.available) throw this.#unavailable()
    return await this.#guard.run(operation) as T
  }

  /**
   * One try of `operation` past an open breaker, for an answer whose absence would be a fail-open (a
   * revocation check that no store answered): the first failed command opens the breaker, so one slow
   * command makes the store look down while it answers the next one at once. Bounded like any command
   * (the breaker's timeout; an injected fault applies), never counted: the breaker's own probe still
   * decides when it closes. Undefined when the connection is down or the try fails (so an operation with
   * nothing to answer answers true: its undefined would count as a failed try). So that a store
   * that really hangs costs little: at most LAST_TRIES at a time, and none for the breaker's reset
   * timeout after one failed (the callers fail open at once meanwhile, as without this), counted
   * apart for each `purpose`.
   */
  async lastTry<T> (operation: (store: RedisStore) => Promise<T>, purpose: LastTryPurpose = 'check'): Promise<T | undefined> {
    if (!this.store.ready || this.#lastTries[purpose] >= LAST_TRIES || Date.now() - this.#lastTryFailedAt[purpose] < this.#resetTimeoutMs) return undefined
    this.#lastTries[purpose]++
    try {
      const answer = await this.#tryPastBreaker(operation)
      if (answer === undefined) this.#lastTryFailedAt[purpose] = Date.now()
      return answer
    } finally {
      this.#lastTries[purpose]--
    }
  }

  async #tryPastBreaker<T> (operation: (store: RedisStore) => Promise<T>): Promise<T | undefined> {
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error('last try timed out'))
        resolve(undefined)
      }, this.#timeoutMs)
    })
    const attempt = (async () => {
      if (this.#beforeCommand) await this.#beforeCommand(controller.signal)
      return await operation(this.store)
    })().catch(() => undefined)
    try {
      return await Promise.race([attempt, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Runs `listener` each time the store answers again after an outage, or turns out to have restarted. */
  onUp (listener: () => void): void {
    this.#upListeners.push(listener)
  }

  /** `ok` when a ping answers now, within a short bound; `unreachable` otherwise. */
  async check (): Promise<'ok' | 'unreachable'> {
    if (!this.available) return 'unreachable'
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('late')), HEALTH_PING_MS) })
    try {
      await Promise.race([this.call((s) => s.ping()), late])
      return 'ok'
    } catch {
      return 'unreachable'
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops the probe and the breaker, then closes the connection. */
  async close (): Promise<void> {
    this.#stopProbe()
    this.#guard.shutdown()
    await this.store.close()
  }

  #startProbe (): void {
    if (this.#probe) return
    this.#probe = setInterval(() => {
      // Refused at once while open; while half-open this is the single trial that may close the breaker.
      this.#guard.run((s) => s.ping()).catch(() => undefined)
    }, this.#probeIntervalMs)
    this.#probe.unref()
  }

  #stopProbe (): void {
    clearInterval(this.#probe)
    this.#probe = undefined
  }

  #unavailable (cause?: unknown): UnderstudyError {
    return new UnderstudyError('US_ERR_STORE_UNAVAILABLE', `the ${this.label} store cannot be reached`, { cause, details: { store: this.label } })
  }
}
