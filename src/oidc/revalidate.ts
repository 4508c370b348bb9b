import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../sessions/freshness.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import type { Upstreams } from './deps.js'
import { OAuthError } from './errors.js'
import type { GrantContext } from './tokens.js'
import { refreshUpstream, type UpstreamGrantDeps } from './upstream-grant.js'

/** What revalidating a stale grant uses: each provider's router, the user's current upstream refresh token, and the revalidation count. */
export interface RevalidateDeps extends UpstreamGrantDeps {
  upstreams: Upstreams
  metrics: Pick<Metrics, 'revalidations'>
}

/**
 * A grant older than the client's maxStaleness asks the upstream again, with
 * the user's current upstream refresh token (upstream-grant.ts), behind the
 * breakers (so never longer than the breaker timeout). The upstream vouching renews the grant (`acr` upstream);
 * an unavailable upstream (every breaker open, or a transient failure of this
 * call) leaves it a cached login (`acr` cached, short-lived tokens); an
 * upstream that refuses, or no way to ask it, ends the grant.
 */
export async function revalidate (deps: RevalidateDeps, grant: GrantContext, log: Logger): Promise<GrantContext> {
  const router = deps.upstreams.get(grant.provider)
  // A provider taken out of the config has no outage to wait out: nobody will ever vouch for this grant again.
  if (!router) throw new OAuthError('invalid_grant', 'the login provider of this grant is no longer configured: log in again')
  // A backup login has no upstream grant to ask, and is never served as a cached login: the user logs in again (a passkey is one touch).
  if (grant.acr === ACR_BACKUP) throw new OAuthError('invalid_grant', 'this backup login is older than this client allows: log in again')
  const cached = { ...grant, acr: ACR_CACHED }
  if (!router.available()) return cached
  if (grant.upstreamRefreshToken === undefined) {
    throw new OAuthError('invalid_grant', 'the login is older than this client allows and the upstream must be asked again: log in again')
  }
  try {
    const { identity, refreshToken } = await refreshUpstream(deps, router, grant, grant.upstreamRefreshToken, log)
    deps.metrics.revalidations.inc({ provider: grant.provider, result: 'vouched' })
    log.info({ provider: grant.provider, client: grant.clientId }, 'upstream revalidated a stale grant')
    return {
      ...grant,
      acr: ACR_UPSTREAM,
      vouchedAt: deps.now(),
      claims: { ...grant.claims, ...identity.claims },
      upstreamRefreshToken: refreshToken,
    }
  } catch (err) {
    // Only the gateway's own evidence of an outage earns a cached login; any refusal (a WAF's HTML 403 included) ends the grant.
    if (classifyUpstreamFailure(err) === 'fatal') {
      deps.metrics.revalidations.inc({ provider: grant.provider, result: 'refused' })
      log.warn({ err, provider: grant.provider, client: grant.clientId }, 'upstream no longer vouches for the user; the grant ends')
      throw new OAuthError('invalid_grant', 'the login provider no longer vouches for this login: log in again', { cause: err })
    }
    deps.metrics.revalidations.inc({ provider: grant.provider, result: 'unavailable' })
    log.warn({ err, provider: grant.provider, client: grant.clientId }, 'upstream unavailable for revalidation; serving a cached login')
    return cached
  }
}
