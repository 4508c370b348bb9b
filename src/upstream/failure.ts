import { isUnderstudyError } from '../errors.js'

/**
 * `transient`: the upstream is unavailable (an outage). `fatal`: it answered,
 * and the answer is no. `busy`: the gateway did not ask, because the region
 * has as many calls in flight as it allows (its own load, or a flood of
 * callbacks): neither an outage nor a refusal of the user, so never a cached
 * login and never the end of a grant; the relying party is told
 * temporarily_unavailable.
 */
export type UpstreamFailure = 'transient' | 'fatal' | 'busy'

/**
 * The one rule for what an upstream failure means, used by every caller that
 * decides between "the upstream is down" and "the upstream said no": the
 * breakers' failure counting, region failover, health probes, the callback's
 * code exchange and refresh revalidation. Transient: a timeout, a network
 * error, a 5xx, a 429, or no region to ask (breakers open). Fatal: any other
 * 4xx (a WAF's HTML 403 included), an OAuth error body, an answer that fails
 * validation, a 5xx or 429 answer to a code exchange that the gateway's own
 * probe of the region contradicted (`details.probe: 'up'`, see
 * `UpstreamRouter.exchangeCode`: the browser picks the code, so such an
 * answer is no evidence of an outage), and anything that is not an upstream
 * error at all (a bug is no evidence of an outage, so it never earns a cached
 * login). Busy: a code exchange refused because the region was at capacity
 * (`RegionBreaker.call`): nothing was sent, so it proves nothing about the
 * upstream; it does not count against the breaker, is not retried in another
 * region, and earns no cached login.
 */
export function classifyUpstreamFailure (err: unknown): UpstreamFailure {
  if (!isUnderstudyError(err)) return 'fatal'
  switch (err.code) {
    case 'US_ERR_UPSTREAM_BUSY':
      return 'busy'
    case 'US_ERR_UPSTREAM_TIMEOUT':
    case 'US_ERR_UPSTREAM_NETWORK':
    case 'US_ERR_UPSTREAM_UNAVAILABLE':
      return 'transient'
    case 'US_ERR_UPSTREAM_HTTP': {
      if (err.details.probe === 'up') return 'fatal'
      const status = Number(err.details.status)
      return status >= 500 || status === 429 ? 'transient' : 'fatal'
    }
    default:
      return 'fatal'
  }
}

/** Requests a code exchange makes that carry nothing from the browser: their answers are the region's own. */
const BROWSER_FREE = new Set(['discovery', 'jwks', 'userinfo'])

/**
 * A 5xx or 429 answer to a code exchange: unconfirmed evidence of an outage,
 * because the browser chose the code and some providers answer a malformed one
 * so. Timeouts and network errors cannot be caused by the code's value and are
 * not this; nor is a game day's injected fault (the operator's word), nor a 5xx
 * of a request the exchange makes without browser input (discovery, JWKS,
 * userinfo). An answer that names no operation is taken as the token
 * endpoint's: unconfirmed, the safe side.
 */
export function isUnconfirmedExchangeFailure (err: unknown): boolean {
  return isUnderstudyError(err, 'US_ERR_UPSTREAM_HTTP') && !BROWSER_FREE.has(String(err.details.operation)) &&
    err.details.injected !== true && err.details.probe === undefined && classifyUpstreamFailure(err) === 'transient'
}
