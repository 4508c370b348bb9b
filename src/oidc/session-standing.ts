import { ACR_BACKUP, ACR_UPSTREAM, standing, type Standing } from '../sessions/freshness.js'
import type { Session } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorization-request.js'
import type { Client } from './clients.js'

/**
 * How the session may serve this request at `now`, under the client's
 * freshness policy: `fresh` (SSO), `outage-only` (a cached login if the
 * upstream is unavailable), or `none` (it cannot: no session, another
 * provider, another user than id_token_hint names, or the request demands
 * fresh authentication).
 */
export function sessionStanding (freshness: Pick<Client['freshness'], 'maxStaleness' | 'outageMaxStaleness' | 'acceptBackupLogin'>, request: Pick<AuthorizationRequest, 'provider' | 'hintSub' | 'prompt' | 'maxAge'>, session: Session | undefined, now: number): Standing | 'none' {
  if (!session || session.provider !== request.provider) return 'none'
  // OIDC Core §3.1.2.1: a hint naming another user is never answered from this user's session.
  if (request.hintSub !== undefined && request.hintSub !== session.sub) return 'none'
  // A cached login never satisfies a demand for fresh authentication (DESIGN §9).
  if (request.prompt.includes('login')) return 'none'
  // max_age=0 demands a fresh login like prompt=login (OIDC Core §3.1.2.1), even within the login's own second.
  if (request.maxAge !== undefined && (request.maxAge === 0 || now - session.authTime > request.maxAge)) return 'none'
  const result = standing(session, freshness, now)
  // A backup login serves SSO within maxStaleness to the clients that accept one, and is never a cached login.
  if (session.backup !== undefined) return result === 'fresh' && freshness.acceptBackupLogin ? 'fresh' : 'none'
  return result === 'expired' ? 'none' : result
}

/** The acr of an answer from a session that may serve fresh: the upstream's login, or a backup login's. */
export function freshAcr (session: Session): string {
  return session.backup === undefined ? ACR_UPSTREAM : ACR_BACKUP
}
