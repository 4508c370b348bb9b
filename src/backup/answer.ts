import type { AuthorizationRequest } from '../oidc/authorization-request.js'
import type { Client } from '../oidc/clients.js'
import { OAuthError } from '../oidc/errors.js'
import type { Session } from '../sessions/session.js'

/**
 * Whether a backup login's person may answer this request: the client
 * accepts backup logins, the person's own provider is one the client uses
 * (the `sub` the site knows them by comes from it), and the request's
 * id_token_hint, if any, names this person.
 */
export function checkBackupAnswer (client: Pick<Client, 'providers' | 'freshness'>, request: Pick<AuthorizationRequest, 'hintSub'>, session: Session): void {
  if (!client.freshness.acceptBackupLogin) throw new OAuthError('temporarily_unavailable', 'the login provider is unavailable and this site does not accept backup logins')
  if (!client.providers.includes(session.provider)) throw new OAuthError('temporarily_unavailable', 'this account logs in through a provider this site does not use')
  // OIDC Core §3.1.2.1: a hint naming another user is never answered with this one.
  if (request.hintSub !== undefined && request.hintSub !== session.sub) throw new OAuthError('login_required', 'the user who logged in is not the one the site asked for')
}
