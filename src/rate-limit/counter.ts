import { redisTuning, type Config } from '../config/resolve.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { firstFailureOpens, Guard } from '../resilience/guard.js'
import { connectRedis, describeTarget, redisTarget, type RedisClient } from '../store/redis-connection.js'

/** One request counted: how many in this key's window so far, and milliseconds until the window ends. */
export interface Hit { current: number, ttlMs: number }

/** Counts requests per key in fixed windows: shared by every instance (Redis) or per instance (memory). */
export interface RateLimitCounter {
  /** `memory` or `redis`, for logs. */
  readonly name: string
  /** Counts one request for `key` in a window of `windowMs`. */
  incr (key: string, windowMs: number): Promise<Hit>
  /** How many requests `key`'s current window has counted, without counting one (0 and ttlMs 0 when no window is open). */
  peek (key: string): Promise<Hit>
  close (): Promise<void>
}

// Each distinct key costs about 150 bytes; an attacker cycling keys evicts the oldest instead of growing the heap.
const DEFAULT_MAX_KEYS = 100_000

/**
 * Fixed-window counters in this process; beyond `maxKeys`, the keys whose window started longest ago are evicted.
 * `now` is the clock in milliseconds (tests hold it still, so that a flood falls in one window however slow the machine).
 */
export class MemoryCounter implements RateLimitCounter {
  readonly name = 'memory'
  readonly #windows = new Map<string, { count: number, endsAt: number }>()
  readonly #maxKeys: number
  readonly #now: () => number

  constructor (options: { maxKeys?: number, now?: () => number } = {}) {
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS
    this.#now = options.now ?? Date.now
  }

  async incr (key: string, windowMs: number): Promise<Hit> {
    const now = this.#now()
    let window = this.#windows.get(key)
    if (window === undefined || window.endsAt <= now) {
      // A new window goes to the end, so the Map's first key is the window that started longest ago:
      // the first to evict. A hit within a window touches nothing but its count.
      window = { count: 0, endsAt: now + windowMs }
      this.#windows.delete(key)
      this.#windows.set(key, window)
      if (this.#windows.size > this.#maxKeys) this.#windows.delete(this.#windows.keys().next().value!)
    }
    window.count++
    return { current: window.count, ttlMs: window.endsAt - now }
  }

  async peek (key: string): Promise<Hit> {
    const now = this.#now()
    const window = this.#windows.get(key)
    return window === undefined || window.endsAt <= now ? { current: 0, ttlMs: 0 } : { current: window.count, ttlMs: window.endsAt - now }
  }

  async close (): Promise<void> {
    this.#windows.clear()
  }
}

/** INCR with the window set on the first hit (and repaired if a key ever lost its TTL); answers the count and the TTL. */
const INCR_WINDOW = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`

interface Scripts { understudyRateLimit (key: string, windowMs: number): Promise<[number, number]> }

/** How long the counters' breaker stays open before a trial command (ms). */
const BREAKER_RESET_MS = 1_000

/**
 * Counters in Redis, so every instance of a region shares one limit. Behind
 * its own breaker, fail-open to this process: while Redis does not answer
 * within the command timeout, requests are counted in this process instead
 * (the limits still hold per instance, and a Redis outage never turns into
 * 5xx or unlimited traffic). The first failure opens the breaker, as for the store.
 */
export class RedisCounter implements RateLimitCounter {
  readonly name = 'redis'
  readonly #client: RedisClient
  readonly #prefix: string
  readonly #guard: Guard<[string, number, 0 | 1], Hit>

  constructor (client: RedisClient, options: { prefix: string, timeoutMs: number, fallback: MemoryCounter, log: Logger, metrics?: Metrics, target?: string }) {
    const { log, metrics, fallback } = options
    this.#client = client
    this.#prefix = options.prefix
    client.defineCommand('understudyRateLimit', { numberOfKeys: 1, lua: INCR_WINDOW })
    // ioredis takes no signal: its own command timeout (the same value) ends a command that outlives the breaker's.
    this.#guard = new Guard({
      name: 'rate-limit',
      policy: firstFailureOpens(options.timeoutMs, BREAKER_RESET_MS),
      signal: false,
      latency: false,
      action: async (_signal, key: string, windowMs: number, count: 0 | 1) => this.#hit(key, windowMs, count),
      whenUnavailable: { mode: 'fail-open', fallback: async (key, windowMs, count) => (count === 0 ? fallback.peek(key) : fallback.incr(key, windowMs)) },
      onFailure: () => metrics?.storeErrors.inc({ store: 'rate-limit' }),
      announce: { log, fields: { store: 'rate-limit', redis: options.target }, down: 'rate-limit counters unreachable: counting in this process until Redis answers', up: 'rate-limit counters shared through Redis again' },
    })
  }

  async incr (key: string, windowMs: number): Promise<Hit> {
    return this.#guard.run(key, windowMs, 1)
  }

  async peek (key: string): Promise<Hit> {
    return this.#guard.run(key, 1, 0)
  }

  async #hit (key: string, windowMs: number, count: 0 | 1): Promise<Hit> {
    if (count === 0) return this.#peek(`${this.#prefix}${key}`)
    const [current, ttlMs] = await (this.#client as unknown as Scripts).understudyRateLimit(`${this.#prefix}${key}`, Math.max(1, Math.round(windowMs)))
    return { current, ttlMs }
  }

  /**
   * A plain GET: every token request peeks, and nearly every address has no window open (a failed
   * authentication opens one), so the TTL is asked only for a window there is. A window that ends
   * between the two answers its count with no time left (PTTL -2), as one that just ended.
   */
  async #peek (key: string): Promise<Hit> {
    const counted = await this.#client.get(key)
    if (counted === null) return { current: 0, ttlMs: 0 }
    return { current: Number(counted), ttlMs: Math.max(0, await this.#client.pttl(key)) }
  }

  async close (): Promise<void> {
    this.#guard.shutdown()
    if (this.#client.status === 'ready') await this.#client.quit().catch(() => undefined)
    this.#client.disconnect()
  }
}

/**
 * The counter for this config: Redis when `store.kind` is redis, memory otherwise.
 * TODO: share the store's own ioredis client once src/store exposes it; until
 * then the counters use a dedicated connection with the store's target and timeouts.
 * `now` (milliseconds) is the in-process windows' clock; Redis keeps its own time.
 */
export function createRateLimitCounter (config: Config, deps: { log: Logger, metrics?: Metrics, now?: () => number }): RateLimitCounter {
  const fallback = new MemoryCounter(deps.now ? { now: deps.now } : {})
  const redis = config.store.redis
  if (config.store.kind !== 'redis' || redis === undefined) return fallback
  const tuning = redisTuning(config.store)
  const target = redisTarget(redis)
  const client = connectRedis(target, { commandTimeoutMs: tuning.commandTimeoutMs, connectTimeoutMs: tuning.connectTimeoutMs }, deps.log)
  return new RedisCounter(client, { prefix: `${tuning.keyPrefix}ratelimit:`, timeoutMs: tuning.commandTimeoutMs, fallback, log: deps.log, ...(deps.metrics ? { metrics: deps.metrics } : {}), target: describeTarget(target) })
}
