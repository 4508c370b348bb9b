import { isUnderstudyError } from '../errors.js'

/** `transient`: the upstream is unavailable (an outage). `fatal`: it answered, and the answer is no. */
export type UpstreamFailure = 'transient' | 'fatal'

/**
 * The one rule for what an upstream failure means, used by every caller that
 * decides between "the upstream is down" and "the upstream said no": the
 * breakers' failure counting, region failover, health probes, the callback's
 * code exchange and refresh revalidation. Transient: a timeout, a network
 * error, a 5xx, a 429, or no region to ask (breakers open). Fatal: any other
 * 4xx (a WAF's HTML 403 included), an OAuth error body, an answer that fails
 * validation, and anything that is not an upstream error at all (a bug is no
 * evidence of an outage, so it never earns a cached login).
 */
export function classifyUpstreamFailure (err: unknown): UpstreamFailure {
  if (!isUnderstudyError(err)) return 'fatal'
  switch (err.code) {
    case 'US_ERR_UPSTREAM_TIMEOUT':
    case 'US_ERR_UPSTREAM_NETWORK':
    case 'US_ERR_UPSTREAM_UNAVAILABLE':
      return 'transient'
    case 'US_ERR_UPSTREAM_HTTP': {
      const status = Number(err.details.status)
      return status >= 500 || status === 429 ? 'transient' : 'fatal'
    }
    default:
      return 'fatal'
  }
}
