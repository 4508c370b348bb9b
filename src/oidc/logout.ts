import type { JWTPayload } from 'jose'
import type { Logger } from '../log.js'
import type { Session } from '../sessions/session.js'
import type { ClientRegistry } from './clients.js'
import { browserProof, proofMatches } from './browser-proof.js'
import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { withQuery } from './redirect.js'
import { readSession, type SessionReadDeps } from './session-cookie.js'
import { revokeSession } from './tombstones.js'
import { verifyIdTokenHint } from './tokens.js'

/** What logout uses: the session cookie's keys and tombstones, the issuer (for hints) and the clients' registered logout redirects. */
export interface LogoutDeps extends SessionReadDeps {
  issuer: string
  clients: Pick<ClientRegistry, 'get'>
  /** How long a logout tombstone must outlive the session it ends (seconds). */
  sessionLifetime: number
}

/**
 * The result of a logout request: `signed-out` when this browser's session
 * ended, `no-session` when the browser held none to end, `confirm` when the
 * request names another user than the one signed in here and the user is
 * asked first (RP-Initiated Logout §2).
 */
export interface LogoutOutcome {
  result: 'signed-out' | 'no-session' | 'confirm'
  /** A registered post_logout_redirect_uri with state: where the browser goes once nothing is left to ask (with `confirm`, once the user has answered). */
  location?: string
  /** With `confirm`: the fields the confirmation form POSTs back to /logout, the proof of this browser among them. */
  confirmation?: Record<string, string>
}

/** The parameters a confirmation form carries back, as the relying party sent them. */
const CARRIED = ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state'] as const

/**
 * RP-initiated logout. Ends only the session this browser's cookie holds (a
 * tombstone on its sid in every region, which also stops its refresh
 * tokens), never one an id_token_hint merely names: ID tokens leak, and a
 * hint alone must not log its user out everywhere. Redirects only to a
 * post_logout_redirect_uri registered for the client the hint (or client_id) names.
 */
export async function logout (deps: LogoutDeps, raw: RawParams, sessionCookie: string | undefined, log: Logger): Promise<LogoutOutcome> {
  const params = new Params(raw)
  const hintText = params.get('id_token_hint')
  const hint = hintText === undefined ? undefined : await verifyIdTokenHint(deps.keys, deps.issuer, hintText)
  const hintClient = hint === undefined ? undefined : (Array.isArray(hint.aud) ? hint.aud[0] : hint.aud)
  const clientId = params.get('client_id')
  if (clientId !== undefined && hintClient !== undefined && clientId !== hintClient) throw new OAuthError('invalid_request', 'client_id does not match the id_token_hint')
  const postLogout = params.get('post_logout_redirect_uri')
  let location: string | undefined
  if (postLogout !== undefined) {
    const client = deps.clients.get(hintClient ?? clientId)
    if (!client) throw new OAuthError('invalid_request', 'post_logout_redirect_uri needs an id_token_hint or client_id naming the client')
    if (!client.postLogoutRedirectUris.includes(postLogout)) throw new OAuthError('invalid_request', 'post_logout_redirect_uri is not registered for this client')
    location = withQuery(postLogout, { state: params.get('state') })
  }
  const at = location === undefined ? {} : { location }
  const session = await readSession(deps, sessionCookie, log)
  if (!session) return { result: 'no-session', ...at }
  const proof = browserProof(sessionCookie!, 'logout confirmation')
  if (!belongsTo(hint, session) && !proofMatches(params.get('confirm'), proof)) {
    log.info({ client: hintClient }, 'logout hint names another user than this browser\'s session; asking the user')
    const confirmation: Record<string, string> = { confirm: proof }
    for (const name of CARRIED) {
      const value = params.get(name)
      if (value !== undefined) confirmation[name] = value
    }
    return { result: 'confirm', confirmation, ...at }
  }
  await revokeSession(deps, session.sid)
  return { result: 'signed-out', ...at }
}

/** Whether the request may end `session` without asking: no hint, or a hint of this session or of its user. */
function belongsTo (hint: JWTPayload | undefined, session: Session): boolean {
  return hint === undefined || hint.sid === session.sid || hint.sub === session.sub
}
