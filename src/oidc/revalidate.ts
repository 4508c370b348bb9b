import { isUnderstudyError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import type { Logger } from '../log.js'
import { ACR_CACHED, ACR_UPSTREAM } from '../sessions/freshness.js'
import { OAuthError } from './errors.js'
import type { GrantContext } from './tokens.js'

/**
 * A grant older than the client's maxStaleness asks the upstream again, with
 * the upstream refresh token, behind the breakers (so never longer than the
 * breaker timeout). The upstream vouching renews the grant (`acr` upstream);
 * an unavailable upstream leaves it a cached login (`acr` cached, short-lived
 * tokens); an upstream that refuses, or no way to ask it, ends the grant.
 */
export async function revalidate (gw: Gateway, grant: GrantContext, log: Logger): Promise<GrantContext> {
  const router = gw.upstreams.get(grant.provider)
  const cached = { ...grant, acr: ACR_CACHED }
  if (!router || !router.available()) return cached
  if (grant.upstreamRefreshToken === undefined) {
    throw new OAuthError('invalid_grant', 'the login is older than this client allows and the upstream must be asked again: log in again')
  }
  try {
    const identity = await router.refresh(grant.upstreamRefreshToken, grant.upstreamSub)
    gw.metrics.revalidations.inc({ provider: grant.provider, result: 'vouched' })
    log.info({ provider: grant.provider, client: grant.clientId }, 'upstream revalidated a stale grant')
    return {
      ...grant,
      acr: ACR_UPSTREAM,
      vouchedAt: gw.now(),
      claims: { ...grant.claims, ...identity.claims },
      ...(identity.refreshToken === undefined ? {} : { upstreamRefreshToken: identity.refreshToken }),
    }
  } catch (err) {
    if (isUnderstudyError(err) && (err.code === 'US_ERR_UPSTREAM_OAUTH' || err.code === 'US_ERR_UPSTREAM_INVALID')) {
      gw.metrics.revalidations.inc({ provider: grant.provider, result: 'refused' })
      log.warn({ err, provider: grant.provider, client: grant.clientId }, 'upstream no longer vouches for the user; the grant ends')
      throw new OAuthError('invalid_grant', 'the login provider no longer vouches for this login: log in again', { cause: err })
    }
    gw.metrics.revalidations.inc({ provider: grant.provider, result: 'unavailable' })
    log.warn({ err, provider: grant.provider, client: grant.clientId }, 'upstream unavailable for revalidation; serving a cached login')
    return cached
  }
}
