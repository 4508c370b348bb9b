import { UnderstudyError, isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import type { RegionBreaker } from '../resilience/breaker.js'
import type { FaultInjector } from '../resilience/fault-injector.js'
import type { Connector, UpstreamAuthorization, UpstreamCodeExchange, UpstreamIdentity, UpstreamRegion } from './connector.js'
import { randomId } from '../sessions/random.js'
import { classifyUpstreamFailure, isUnconfirmedExchangeFailure } from './failure.js'

interface Lane { region: UpstreamRegion, breaker: RegionBreaker }

/**
 * Whether a made-up code's exchange failed with the token endpoint's own
 * refusal (an OAuth error such as `invalid_grant`, or another 4xx): proof that
 * it answers. Anything else (a 5xx, a timeout, or a failure before the request
 * was sent) proves nothing, and the exchange's failure counts as it did.
 */
function answeredByTokenEndpoint (err: unknown): boolean {
  return isUnderstudyError(err, 'US_ERR_UPSTREAM_OAUTH') || (isUnderstudyError(err, 'US_ERR_UPSTREAM_HTTP') && classifyUpstreamFailure(err) === 'fatal')
}

/** Longest code the gateway sends upstream; real codes are tens to hundreds of characters (some IdPs' are JWTs). */
export const MAX_CODE_LENGTH = 2048
/**
 * RFC 6749 §A.11 allows any VSCHAR (%x20-7E) in a code; real providers issue
 * base64, base64url, hex or JWTs, with the odd `/`, `*`, `!`, `:`, `@`, `%`
 * or `$`. Left out: space, quotes, `<>`, `\`, `` ` ``, `{}|^`, `;`, `()` and
 * `[]`, which no provider's codes use and a web application firewall in front
 * of a token endpoint may answer with a reset or a tarpit, which would count
 * as an outage (a timeout or a network error is not corroborated).
 */
const CODE = /^[A-Za-z0-9._~+/=*!:@,$%&?#-]+$/

/** A code the gateway sends upstream: bounded, and of the characters above. Anything else is garbage the upstream never sees. */
export function isWellFormedCode (code: string): boolean {
  return code.length <= MAX_CODE_LENGTH && CODE.test(code)
}

/**
 * Routes one provider's calls to its regions, in config order: a browser goes
 * to the first region whose breaker is closed (a half-open region gets none);
 * a refresh goes to the first region whose breaker is not open (it may be a
 * half-open region's trial: a failure only sends it on). Calls that are safe
 * to repeat fail over to the next region within the same request; a code
 * exchange is only ever sent to the region that issued the code. What counts
 * against a region is the gateway's own evidence: a 5xx or 429 answer to a
 * code the browser brought counts only once the region's own probe failed too
 * (`exchangeCode`).
 */
export class UpstreamRouter {
  readonly id: string
  readonly connector: Connector
  readonly #lanes: Lane[]
  readonly #metrics: Metrics
  readonly #log: Logger

  readonly #onFailover: ((provider: string, from: string, to: string) => void) | undefined

  readonly #faults: FaultInjector | undefined

  /** The token-endpoint probe in flight per region that corroborates 5xx answers to code exchanges: concurrent ones share it. */
  readonly #corroborating = new Map<Lane, Promise<boolean>>()

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

  /**
   * Redeems a code in the region that issued it; never re-sent elsewhere
   * (codes are single-use). A malformed code is refused without a call.
   *
   * The browser picks the code, and some providers answer a garbage code with
   * a 5xx or 429: counted as it comes, enough garbage codes would open the
   * breaker and move every user to cached logins. Such an answer is only
   * unconfirmed evidence (isUnconfirmedExchangeFailure), so within the same
   * breaker call the gateway asks the region's token endpoint itself, with a
   * code it made up (no browser input; concurrent exchanges share one). Probe
   * failed: the region is failing, the exchange's error stands (transient: it
   * counts, and may earn this user a cached login, as before). Probe answered:
   * the code, not the region, failed; the call ends in a fatal error
   * (`details.probe: 'up'`), logged at warn, never a cached login, not counted
   * against the region.
   *
   * Why inside the breaker call rather than after it: opossum emits
   * `success` for an error its filter does not count, and a success closes a
   * half-open breaker. Here the call ends in a success only when the gateway's
   * own probe has just answered, evidence as good as the health check's whose
   * success closes a half-open breaker; a 5xx alone never does (the probe
   * failing makes it a failure, which re-opens it). So garbage codes can neither
   * open a closed breaker nor close a dead region's half-open one, and a real
   * outage counts one failure per failed exchange, as before. The probe is sent
   * directly, not through the breaker: this call already holds it (in half-open,
   * as the one trial opossum lets through), and its outcome is counted once, as
   * this call's. It runs within this call's breaker timeout: an upstream that
   * takes nearly the whole timeout to answer a code with a 5xx leaves the probe
   * no time, and the call counts as timed out.
   */
  async exchangeCode (regionName: string, exchange: Omit<UpstreamCodeExchange, 'signal'>): Promise<UpstreamIdentity> {
    const lane = this.#lanes.find((l) => l.region.name === regionName)
    if (!lane) throw new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', `provider ${this.id} has no region ${regionName}`)
    if (!isWellFormedCode(exchange.code)) {
      throw new UnderstudyError('US_ERR_UPSTREAM_INVALID', 'the authorization response carries a malformed code; it was not sent upstream', { details: { provider: this.id, region: regionName, operation: 'token' } })
    }
    return this.#call(lane, 'token', async (signal) => {
      try {
        return await lane.region.exchangeCode({ ...exchange, signal })
      } catch (err) {
        if (!isUnconfirmedExchangeFailure(err) || !(await this.#tokenEndpointAnswers(lane, exchange))) throw err
        const { details } = err as UnderstudyError
        this.#log.warn({ provider: this.id, region: lane.region.name, status: details.status }, 'the upstream answered a code exchange with an error status but answers the gateway\'s probe: the code, not the region, failed; no cached login, not counted against the region')
        throw new UnderstudyError('US_ERR_UPSTREAM_HTTP', `the ${this.id}/${lane.region.name} token endpoint answered ${String(details.status)} to this code, and the region answers its probe`, { cause: err, details: { ...details, provider: this.id, region: lane.region.name, probe: 'up' } })
      }
    })
  }

  /**
   * Whether the region's token endpoint answers a code the gateway made up
   * itself (random, well-formed, with a verifier of its own): a refusal such as
   * `invalid_grant` is an answer, only a transient failure is not. The token
   * endpoint itself, not the discovery document the health check reads: that
   * one may well be served (a CDN) while the token endpoint is down, which is
   * an outage. An upstream that answers every unknown code with a 5xx cannot be
   * told from one that is down, and counts as down. One probe per region at a
   * time, bounded by the breaker timeout: a burst of garbage codes sends one
   * request, not one each.
   */
  async #tokenEndpointAnswers (lane: Lane, exchange: Omit<UpstreamCodeExchange, 'signal'>): Promise<boolean> {
    let probe = this.#corroborating.get(lane)
    if (probe === undefined) {
      const timeoutMs = Math.max(1, Math.round(lane.breaker.policy.timeout * 1000))
      // The callback's `iss` (already checked: a wrong one fails before any token request, so never reaches here)
      // goes along, or a provider that sends one would fail the probe before it is sent.
      const madeUp = { code: randomId(32), redirectUri: exchange.redirectUri, nonce: randomId(), codeVerifier: randomId(32), ...(exchange.iss === undefined ? {} : { iss: exchange.iss }) }
      probe = lane.region.exchangeCode({ ...madeUp, signal: AbortSignal.timeout(timeoutMs) })
        .then(() => true, answeredByTokenEndpoint)
        .finally(() => { this.#corroborating.delete(lane) })
      this.#corroborating.set(lane, probe)
    }
    return probe
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
