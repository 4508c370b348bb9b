import { UnderstudyError, isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import type { RegionBreaker } from '../resilience/breaker.js'
import type { FaultInjector } from '../resilience/fault-injector.js'
import type { Connector, UpstreamAuthorization, UpstreamCodeExchange, UpstreamIdentity, UpstreamRegion } from './connector.js'
import { classifyUpstreamFailure } from './failure.js'

interface Lane { region: UpstreamRegion, breaker: RegionBreaker }

/**
 * Routes one provider's calls to its regions, in config order: a browser goes
 * to the first region whose breaker is closed (a half-open region gets none);
 * a refresh goes to the first region whose breaker is not open (it may be a
 * half-open region's trial: a failure only sends it on). Calls that are safe
 * to repeat fail over to the next region within the same request; a code
 * exchange is only ever sent to the region that issued the code.
 */
export class UpstreamRouter {
  readonly id: string
  readonly connector: Connector
  readonly #lanes: Lane[]
  readonly #metrics: Metrics
  readonly #log: Logger

  readonly #onFailover: ((provider: string, from: string, to: string) => void) | undefined

  readonly #faults: FaultInjector | undefined

  constructor (connector: Connector, breakers: RegionBreaker[], deps: { metrics: Metrics, log: Logger, onFailover?: (provider: string, from: string, to: string) => void, faults?: FaultInjector }) {
    this.id = connector.id
    this.connector = connector
    this.#lanes = connector.regions.map((region) => {
      const breaker = breakers.find((b) => b.region === region.name)
      if (!breaker) throw new TypeError(`no breaker for ${connector.id}/${region.name}`)
      return { region, breaker }
    })
    this.#metrics = deps.metrics
    this.#log = deps.log
    this.#onFailover = deps.onFailover
    this.#faults = deps.faults
  }

  /** The regions with their breakers, in config order. */
  get lanes (): readonly Lane[] { return this.#lanes }

  /** False when every region's breaker is open: the upstream counts as unavailable (DESIGN §5). */
  available (): boolean {
    return this.#lanes.some((lane) => lane.breaker.state !== 'open')
  }

  /**
   * Where to send a browser: the first region whose breaker is closed. Once
   * discovery is cached, building the URL makes no network call, so its
   * success says nothing about the region and must not be the trial that
   * closes a half-open breaker (it would send browsers to a region still
   * down); the health probe is that trial.
   */
  async authorizationUrl (request: UpstreamAuthorization): Promise<{ region: string, url: string }> {
    return this.#failover('authorize', true, async (lane, signal) => ({ region: lane.region.name, url: await lane.region.authorizationUrl(request, signal) }), 'closed')
  }

  /** Redeems a code in the region that issued it; never re-sent elsewhere (codes are single-use). */
  async exchangeCode (regionName: string, exchange: Omit<UpstreamCodeExchange, 'signal'>): Promise<UpstreamIdentity> {
    const lane = this.#lanes.find((l) => l.region.name === regionName)
    if (!lane) throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `provider ${this.id} has no region ${regionName}`)
    return this.#call(lane, 'token', (signal) => lane.region.exchangeCode({ ...exchange, signal }))
  }

  /** Revalidates a user with the upstream refresh token; moves to another region only if the request never left. */
  async refresh (refreshToken: string, expectedSub: string): Promise<UpstreamIdentity> {
    return this.#failover('refresh', false, (lane, signal) => lane.region.refresh(refreshToken, expectedSub, signal))
  }

  /** Probes one region directly through its breaker (health checks). */
  async probe (lane: Lane): Promise<void> {
    await this.#call(lane, 'probe', (signal) => lane.region.probe(signal))
  }

  /** One call through the lane's breaker; injected faults (game days) apply inside it, as a real outage would. */
  async #call<T> (lane: Lane, operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const faults = this.#faults
    if (!faults) return lane.breaker.call(operation, fn)
    return lane.breaker.call(operation, async (signal) => {
      await faults.beforeUpstream(this.id, lane.region.name, signal)
      return fn(signal)
    })
  }

  async #failover<T> (operation: string, idempotent: boolean, fn: (lane: Lane, signal: AbortSignal) => Promise<T>, only?: 'closed'): Promise<T> {
    let lastError: unknown
    let from: string | undefined
    for (const lane of this.#lanes) {
      if (lane.breaker.state === 'open' || (only === 'closed' && lane.breaker.state !== 'closed')) continue
      if (from !== undefined) {
        this.#metrics.failovers.inc({ provider: this.id, from, to: lane.region.name })
        this.#onFailover?.(this.id, from, lane.region.name)
      }
      try {
        return await this.#call(lane, operation, (signal) => fn(lane, signal))
      } catch (err) {
        lastError = err
        if (!retryable(err, idempotent)) throw err
        this.#log.warn({ err, provider: this.id, region: lane.region.name, operation }, 'upstream region failed; trying the next one')
        from = lane.region.name
      }
    }
    throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `no region of ${this.id} can serve ${operation}`, { cause: lastError, details: { provider: this.id, operation } })
  }
}

/** An error that another region might not have: a transient one, and for non-idempotent calls only when nothing was sent. */
function retryable (err: unknown, idempotent: boolean): boolean {
  if (classifyUpstreamFailure(err) !== 'transient' || !isUnderstudyError(err)) return false
  if (idempotent || err.code === 'US_ERR_UPSTREAM_UNAVAILABLE') return true
  return err.code === 'US_ERR_UPSTREAM_NETWORK' && err.details.reason === 'ECONNREFUSED'
}
