import type { Logger } from '../log.js'
import { randomId } from '../sessions/random.js'
import { subjectFor, type Session } from '../sessions/session.js'
import type { Clock, Upstreams } from './deps.js'
import { OAuthError, type OAuthErrorCode } from './errors.js'
import type { Params } from './params.js'
import type { AccountTransaction, Transaction } from './transaction.js'
import { callbackUrl } from './upstream-login.js'

/**
 * Upstream errors that mean the same to the relying party and are passed on as
 * they are. They come through the browser, so whoever holds the browser picks
 * them: even `temporarily_unavailable` is passed on, never taken as an outage.
 */
const PASSED_ON = new Set<OAuthErrorCode>(['access_denied', 'login_required', 'interaction_required', 'consent_required', 'account_selection_required', 'temporarily_unavailable'])

/** The new session from the upstream's answer, and the upstream's own `auth_time` when it gave one. */
export async function redeem (deps: { issuer: string, now: Clock, upstreams: Upstreams }, tx: Transaction | AccountTransaction, params: Params, log: Logger): Promise<{ session: Session, upstreamAuthTime: number | undefined }> {
  const upstreamError = params.get('error')
  if (upstreamError !== undefined) {
    log.info({ provider: tx.provider, region: tx.region, upstreamError }, 'upstream declined the login')
    const code = PASSED_ON.has(upstreamError as OAuthErrorCode) ? upstreamError as OAuthErrorCode : 'access_denied'
    throw new OAuthError(code, 'the login provider did not complete the login')
  }
  const router = deps.upstreams.get(tx.provider)
  // A transaction sealed before a config change may name a provider that is gone.
  if (!router) throw new OAuthError('invalid_request', 'this login\'s provider is no longer configured; start the login again from the site')
  const iss = params.get('iss')
  const identity = await router.exchangeCode(tx.region, {
    code: params.require('code'),
    redirectUri: callbackUrl(deps.issuer, tx.provider),
    nonce: tx.nonce,
    ...(tx.verifier ? { codeVerifier: tx.verifier } : {}),
    ...(iss === undefined ? {} : { iss }),
  })
  const now = deps.now()
  const session: Session = {
    sid: randomId(),
    sub: subjectFor(tx.provider, identity.sub),
    upstreamSub: identity.sub,
    provider: tx.provider,
    claims: identity.claims,
    // The upstream's own auth_time: it may have signed the user in from its session long ago. An upstream that
    // gives none (plain OAuth 2.0) vouches only for now. Never later than now on the gateway's clock.
    authTime: Math.min(identity.authTime ?? now, now),
    vouchedAt: now,
    ...(identity.amr ? { amr: identity.amr } : {}),
    ...(identity.refreshToken ? { upstreamRefreshToken: identity.refreshToken } : {}),
  }
  return { session, upstreamAuthTime: identity.authTime }
}
