import type { Config } from '../config/resolve.js'
import type { Keyring } from '../keys/keyring.js'
import { seal } from '../sessions/seal.js'
import { randomId } from '../sessions/random.js'
import type { Session } from '../sessions/session.js'
import type { AuthorizationRequest } from './authorization-request.js'
import type { Clock } from './deps.js'
import type { GrantContext } from './tokens.js'

/** What an authorization code carries, sealed: the grant, and what the token request must match. */
export interface CodePayload extends GrantContext {
  /** Single-use id of this code. */
  jti: string
  redirectUri: string
  codeChallenge?: string
}

/** What issuing a code uses: the sealing keys, the clock and the code's lifetime. */
export interface CodeDeps {
  keys: Keyring
  now: Clock
  tokens: Pick<Config['tokens'], 'code'>
}

/** Issues a sealed, single-use authorization code for the request, from the session. */
export function issueCode (deps: CodeDeps, request: AuthorizationRequest, session: Session, acr: string): string {
  const payload: CodePayload = {
    jti: randomId(),
    gid: randomId(),
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    sub: session.sub,
    sid: session.sid,
    ...(session.backup === undefined ? {} : { mid: session.backup.id }),
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
  return seal(deps.keys, 'code', payload, deps.now() + deps.tokens.code)
}
