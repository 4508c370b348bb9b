import type { Gateway } from '../gateway.js'
import type { Logger } from '../log.js'
import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { withQuery } from './redirect.js'
import { readSession } from './session-cookie.js'
import { verifyIdTokenHint } from './tokens.js'

/** The result of a logout: a redirect to a registered URI, or the plain "signed out" page. */
export interface LogoutOutcome {
  location?: string
  clearCookie: string
}

/**
 * RP-initiated logout: ends the gateway session everywhere (a tombstone on its
 * sid, which also stops its refresh tokens) and redirects only to a
 * post_logout_redirect_uri registered for the client the hint names.
 */
export async function logout (gw: Gateway, raw: RawParams, sessionCookie: string | undefined, log: Logger): Promise<LogoutOutcome> {
  const params = new Params(raw)
  const hintText = params.get('id_token_hint')
  const hint = hintText === undefined ? undefined : await verifyIdTokenHint(gw.keys, gw.config.issuer, hintText)
  const hintClient = hint === undefined ? undefined : (Array.isArray(hint.aud) ? hint.aud[0] : hint.aud)
  const clientId = params.get('client_id')
  if (clientId !== undefined && hintClient !== undefined && clientId !== hintClient) throw new OAuthError('invalid_request', 'client_id does not match the id_token_hint')
  const postLogout = params.get('post_logout_redirect_uri')
  let location: string | undefined
  if (postLogout !== undefined) {
    const client = gw.clients.get(hintClient ?? clientId)
    if (!client) throw new OAuthError('invalid_request', 'post_logout_redirect_uri needs an id_token_hint or client_id naming the client')
    if (!client.postLogoutRedirectUris.includes(postLogout)) throw new OAuthError('invalid_request', 'post_logout_redirect_uri is not registered for this client')
    location = withQuery(postLogout, { state: params.get('state') })
  }
  const session = await readSession(gw, sessionCookie, log)
  const sids = new Set<string>()
  if (session) sids.add(session.sid)
  if (typeof hint?.sid === 'string' && (!session || session.sub === hint.sub)) sids.add(hint.sid)
  for (const sid of sids) {
    try {
      await gw.store.revoke(sid, gw.sessionLifetime)
    } catch (err) {
      log.error({ err, store: gw.store.name }, 'could not record a logout; the session cookie is cleared but the session is not revoked')
    }
  }
  return { ...(location ? { location } : {}), clearCookie: gw.cookies.session }
}
