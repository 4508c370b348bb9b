import type { Gateway } from '../gateway.js'
import { seal } from '../sessions/seal.js'
import { randomId } from '../sessions/random.js'
import type { Session } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorize.js'
import type { GrantContext } from './tokens.js'

/** What an authorization code carries, sealed: the grant, and what the token request must match. */
export interface CodePayload extends GrantContext {
  /** Single-use id of this code. */
  jti: string
  redirectUri: string
  codeChallenge?: string
}

/** Issues a sealed, single-use authorization code for the request, from the session. */
export function issueCode (gw: Gateway, request: AuthorizationRequest, session: Session, acr: string): string {
  const payload: CodePayload = {
    jti: randomId(),
    gid: randomId(),
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    sub: session.sub,
    sid: session.sid,
    provider: session.provider,
    upstreamSub: session.upstreamSub,
    ...(session.upstreamRefreshToken === undefined ? {} : { upstreamRefreshToken: session.upstreamRefreshToken }),
    scope: request.scope,
    claims: session.claims,
    authTime: session.authTime,
    ...(session.amr === undefined ? {} : { amr: session.amr }),
    vouchedAt: session.vouchedAt,
    acr,
    ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
    ...(request.codeChallenge === undefined ? {} : { codeChallenge: request.codeChallenge }),
  }
  return seal(gw.keys, 'code', payload, gw.now() + gw.config.tokens.code)
}
