import { classifyUpstreamFailure } from '../upstream/failure.js'
import type { ProviderConfig } from '../config/resolve.js'
import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Redirect } from '../oidc/answer.js'
import type { Clock, Upstreams } from '../oidc/deps.js'
import { OAuthError } from '../oidc/errors.js'
import type { Params } from '../oidc/params.js'
import { redeem } from '../oidc/redeem.js'
import { readSession, sealSession, type SessionReadDeps, type SessionSealDeps } from '../oidc/session-cookie.js'
import type { AccountTransaction } from '../oidc/transaction.js'
import type { CookieNames, Session } from '../sessions/session.js'
import type { BackupDeps } from './deps.js'
import { canChangeMethods } from './account.js'
import type { IdentityEvents } from './identity-events.js'

/** What finishing an account-page visit to the upstream uses. */
export interface AccountVisitDeps extends SessionReadDeps, SessionSealDeps {
  issuer: string
  now: Clock
  upstreams: Upstreams
  cookies: Pick<CookieNames, 'session'>
  backup?: BackupDeps
  identityEvents?: IdentityEvents
  /** The providers' reauthenticate parameters: a link needs a login made for it. */
  providers: ReadonlyArray<Pick<ProviderConfig, 'id' | 'reauthenticate'>>
}

/** What the account page says after a visit to the upstream: `?result=` values it explains. */
export type AccountResult = 'signed-in' | 'linked' | 'already-linked' | 'taken' | 'same-provider' | 'not-fresh' | 'expired' | 'unavailable' | 'failed'

/** How far the linked provider's clock may be behind the gateway's when it says when it authenticated the user (seconds). */
const LINK_CLOCK_SKEW = 60

/**
 * The upstream's answer to a visit made for the account page: a plain login
 * opens the page (a new session, as any upstream login makes); a link visit
 * links the identity the user just logged in with to the person whose fresh
 * session in this browser started it, and to nobody else.
 */
export async function accountVisit (deps: AccountVisitDeps, tx: AccountTransaction, params: Params, cookie: (name: string) => string | undefined, log: Logger): Promise<Redirect> {
  const back = (result: AccountResult): Redirect => ({ location: `${deps.issuer}/account?result=${result}`, cookies: [] })
  let upstream: Session
  let upstreamAuthTime: number | undefined
  try {
    ({ session: upstream, upstreamAuthTime } = await redeem(deps, tx, params, log))
  } catch (err) {
    if (!(err instanceof OAuthError) && !isUnderstudyError(err)) throw err
    log.info({ err, provider: tx.provider }, 'an account-page login at the upstream did not complete')
    // Only an outage is "unavailable"; a refusal, a malformed code or an answer that fails validation failed.
    return back(err instanceof OAuthError || classifyUpstreamFailure(err) === 'fatal' ? 'failed' : 'unavailable')
  }
  const link = tx.account.link
  if (link === undefined) {
    return { ...back('signed-in'), cookies: [{ name: deps.cookies.session, ...await sealSession(deps, upstream) }] }
  }
  // The link is made for the person whose session started it, in this browser, while it is still fresh.
  const current = await readSession(deps, cookie(deps.cookies.session), log)
  if (current === undefined || current.sid !== link.sid || current.sub !== link.sub || !canChangeMethods(current, deps.now())) return back('expired')
  if (upstream.provider === current.provider) return back('same-provider')
  // A link is a new key to the account: the login at the linked provider must be one made for it, not a session the browser
  // already had there. A provider that states when it authenticated the user is held to it; one that does not (plain OAuth 2.0)
  // was sent its reauthenticate parameters, which docs/backup-login.md asks operators to configure.
  // A provider that neither says when nor has parameters to ask for a new login cannot show the link is the user's doing.
  const asked = Object.keys(deps.providers.find((p) => p.id === upstream.provider)?.reauthenticate ?? {}).length > 0
  if (upstreamAuthTime === undefined ? !asked : upstreamAuthTime < tx.startedAt - LINK_CLOCK_SKEW) {
    log.info({ provider: upstream.provider }, 'the linked provider answered from an earlier login; nothing was linked')
    return back('not-fresh')
  }
  if (deps.backup === undefined || !deps.backup.policy.linkedProviders) return back('failed')
  try {
    await deps.backup.directory.ensurePerson({ sub: current.sub, provider: current.provider, upstreamSub: current.upstreamSub, createdAt: deps.now() })
    const result = await deps.backup.directory.link({ sub: current.sub, provider: upstream.provider, upstreamSub: upstream.upstreamSub, linkedAt: deps.now() })
    if (result === 'linked') {
      log.info({ provider: upstream.provider }, 'a provider was linked as a backup login')
      deps.identityEvents?.emit({ type: 'identity.linked', sub: current.sub, provider: upstream.provider, actor: 'user' })
    }
    return back(result)
  } catch (err) {
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: upstream.provider }, 'directory unavailable: the link was not made')
    return back('unavailable')
  }
}
