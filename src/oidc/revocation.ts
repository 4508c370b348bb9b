import type { Logger } from '../log.js'
import { unseal } from '../sessions/seal.js'
import type { Client } from './clients.js'
import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { activeAccessToken, anyRevoked, revokeGrant, type AccessTokenDeps, type GrantRevocationDeps } from './tombstones.js'
import type { RefreshPayload } from './tokens.js'

/** What revocation and introspection use: the keys, issuer and clock to read tokens, and the store's tombstones and families. */
export type RevocationDeps = AccessTokenDeps & GrantRevocationDeps

/** What a presented token turned out to be, for the client that presented it. */
type Identified =
  | { kind: 'access_token', client: string, jti: string, exp: number, claims: Record<string, unknown> }
  | { kind: 'refresh_token', client: string, gid: string, exp: number, claims: Record<string, unknown> }

/** RFC 7009, for an authenticated client: revokes an access token, or a refresh token's whole family. Unknown tokens are not an error. */
export async function revoke (deps: RevocationDeps, raw: RawParams, client: Client, log: Logger): Promise<void> {
  const params = new Params(raw)
  const found = await identify(deps, params, client, log)
  if (!found || found.client !== client.clientId) return
  if (found.kind === 'refresh_token') await revokeGrant(deps, found.gid)
  else await deps.store.revoke(found.jti, Math.max(1, found.exp - deps.now()))
}

/** RFC 7662, for an authenticated client: a client may introspect only tokens issued to it; anything else is inactive. */
export async function introspect (deps: RevocationDeps, raw: RawParams, client: Client, log: Logger): Promise<Record<string, unknown>> {
  const params = new Params(raw)
  const found = await identify(deps, params, client, log)
  if (!found || found.client !== client.clientId) return { active: false }
  return { active: true, token_type: found.kind === 'access_token' ? 'Bearer' : 'refresh_token', ...found.claims }
}

async function identify (deps: RevocationDeps, params: Params, client: Client, log: Logger): Promise<Identified | undefined> {
  const token = params.require('token')
  const hint = params.get('token_type_hint')
  if (hint !== undefined && hint !== 'access_token' && hint !== 'refresh_token') throw new OAuthError('unsupported_token_type', 'token_type_hint must be access_token or refresh_token')
  const order = hint === 'refresh_token' ? [asRefreshToken, asAccessToken] : [asAccessToken, asRefreshToken]
  for (const attempt of order) {
    const found = await attempt(deps, token)
    if (found) return found
  }
  log.debug({ client: client.clientId }, 'token presented for revocation or introspection is not ours or not active')
  return undefined
}

/** An active access token of either format (a JWT, or an opaque one: a refresh token never opens as one). */
async function asAccessToken (deps: RevocationDeps, token: string): Promise<Identified | undefined> {
  try {
    const c = await activeAccessToken(deps, token)
    return { kind: 'access_token', client: c.client_id, jti: c.jti, exp: c.exp, claims: { scope: c.scope, client_id: c.client_id, sub: c.sub, exp: c.exp, iat: c.iat, iss: c.iss, aud: c.aud, jti: c.jti, auth_time: c.auth_time, acr: c.acr } }
  } catch (err) {
    if (err instanceof OAuthError) return undefined
    throw err
  }
}

async function asRefreshToken (deps: RevocationDeps, token: string): Promise<Identified | undefined> {
  if (token.split('.').length !== 5) return undefined
  let payload: RefreshPayload & { exp: number }
  try {
    payload = unseal<RefreshPayload>(deps.keys, 'refresh', token, deps.now())
  } catch {
    return undefined
  }
  if (await anyRevoked(deps.store, [payload.gid, payload.sid, payload.mid])) return undefined
  if (await isRotatedAway(deps, payload)) return undefined
  return { kind: 'refresh_token', client: payload.clientId, gid: payload.gid, exp: payload.exp, claims: { scope: payload.scope, client_id: payload.clientId, sub: payload.sub, exp: payload.exp, iss: deps.issuer, auth_time: payload.authTime, acr: payload.acr } }
}

/**
 * True when the family has moved past this token's generation: the token was
 * exchanged already and is no longer usable (RFC 7662 §2.2 "active"). While
 * no store knows the family (an outage), the token reads as current, as
 * revocation checks fail open.
 */
async function isRotatedAway (deps: Pick<RevocationDeps, 'store'>, payload: RefreshPayload): Promise<boolean> {
  const current = await deps.store.familyGeneration(payload.gid)
  return current !== undefined && current > payload.generation
}
