import { hash, timingSafeEqual } from 'node:crypto'
import type { Config } from '../config/resolve.js'
import type { Logger } from '../log.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM, standing } from '../sessions/freshness.js'
import { seal, unseal } from '../sessions/seal.js'
import { randomId } from '../sessions/random.js'
import type { Client } from './clients.js'
import type { CodePayload } from './code.js'
import { OAuthError } from './errors.js'
import { Params, type RawParams } from './params.js'
import { revalidate, type RevalidateDeps } from './revalidate.js'
import { anyRevoked, revokeGrant } from './tombstones.js'
import { mintAccessToken, mintIdToken, sealAccessToken, type GrantContext, type RefreshPayload } from './tokens.js'

/** What the token endpoint uses: keys and clock, the store's single-use guards, families and tombstones, token lifetimes, and revalidation. */
export interface TokenDeps extends RevalidateDeps {
  issuer: string
  tokens: Config['tokens']
}

/** The RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  id_token: string
  refresh_token: string
  scope: string
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/** The token endpoint, for an authenticated client (`ClientRegistry.authenticate`): dispatches on grant_type. */
export async function token (deps: TokenDeps, raw: RawParams, client: Client, log: Logger): Promise<TokenResponse> {
  const params = new Params(raw)
  const grantType = params.require('grant_type')
  switch (grantType) {
    case 'authorization_code': return authorizationCodeGrant(deps, client, params, log)
    case 'refresh_token': return refreshTokenGrant(deps, client, params, log)
    default: throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`)
  }
}

async function authorizationCodeGrant (deps: TokenDeps, client: Client, params: Params, log: Logger): Promise<TokenResponse> {
  const code = params.require('code')
  const redirectUri = params.get('redirect_uri')
  const verifier = params.get('code_verifier')
  let payload: CodePayload
  try {
    payload = unseal<CodePayload>(deps.keys, 'code', code, deps.now())
  } catch (err) {
    throw new OAuthError('invalid_grant', 'the authorization code is invalid or expired', { cause: err })
  }
  if (payload.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client')
  if (redirectUri !== payload.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
  checkPkce(payload.codeChallenge, verifier)
  // Asked together (one write to Redis): the code is spent whatever the tombstones say.
  const [claimed, ended] = await Promise.all([claimCode(deps, payload), anyRevoked(deps.store, [payload.sid, payload.gid, payload.mid])])
  if (!claimed) {
    await revokeGrant(deps, payload.gid)
    log.warn({ client: client.clientId }, 'authorization code reused; its grant is revoked')
    throw new OAuthError('invalid_grant', 'the authorization code was already used')
  }
  if (ended) throw new OAuthError('invalid_grant', 'the session behind this code has ended')
  const now = deps.now()
  return issueTokens(deps, client, payload, 0, now + deps.tokens.refreshToken)
}

async function refreshTokenGrant (deps: TokenDeps, client: Client, params: Params, log: Logger): Promise<TokenResponse> {
  const refreshToken = params.require('refresh_token')
  let payload: RefreshPayload
  try {
    payload = unseal<RefreshPayload>(deps.keys, 'refresh', refreshToken, deps.now())
  } catch (err) {
    throw new OAuthError('invalid_grant', 'the refresh token is invalid or expired', { cause: err })
  }
  if (payload.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client')
  // The login came through a provider taken out of the config: nothing may vouch for it any more.
  if (!deps.upstreams.has(payload.provider)) throw new OAuthError('invalid_grant', 'the login provider of this grant is no longer configured; log in again')
  const scope = narrowScope(payload.scope, params.get('scope'))
  if (await anyRevoked(deps.store, [payload.gid, payload.sid, payload.mid])) throw new OAuthError('invalid_grant', 'the refresh token was revoked')
  const now = deps.now()
  const policy = client.freshness
  const state = standing(payload, policy, now)
  if (state === 'expired') throw new OAuthError('invalid_grant', 'the login is too old; the user must log in again')
  const rotation = await deps.store.rotateFamily(payload.gid, payload.generation, payload.familyExpiresAt - now)
  if (rotation === 'reused') {
    await revokeGrant(deps, payload.gid)
    log.warn({ client: client.clientId }, 'refresh token reused; its family is revoked')
    throw new OAuthError('invalid_grant', 'the refresh token was already used')
  }
  // A backup login stays one: only the upstream vouching again (revalidate) makes a grant upstream's.
  const current = grantOf(payload, payload.scope, payload.acr === ACR_BACKUP ? ACR_BACKUP : ACR_UPSTREAM)
  if (current.acr === ACR_BACKUP && !policy.acceptBackupLogin) throw new OAuthError('invalid_grant', 'this client no longer accepts backup logins; log in again')
  const grant = state === 'fresh' ? current : await revalidate(deps, current, log)
  return issueTokens(deps, client, grant, payload.generation + 1, payload.familyExpiresAt, scope)
}

/**
 * Mints the access token, ID token and next refresh token of a grant. The
 * access and ID tokens carry `scope` (a refresh may narrow it); the refresh
 * token keeps the grant's whole scope (RFC 6749 §6).
 */
async function issueTokens (deps: TokenDeps, client: Client, grant: GrantContext, generation: number, familyExpiresAt: number, scope = grant.scope): Promise<TokenResponse> {
  const { issuer, tokens, keys } = deps
  const now = deps.now()
  const cached = grant.acr === ACR_CACHED
  const accessLifetime = cached ? Math.min(tokens.accessToken, tokens.degraded) : tokens.accessToken
  const idLifetime = cached ? Math.min(tokens.idToken, tokens.degraded) : tokens.idToken
  const answered = scope === grant.scope ? grant : grantOf(grant, scope, grant.acr)
  // The client's format (DESIGN §3): an opaque token is sealed in line; a JWT is signed, ES256 when there is such a key.
  const accessToken = client.accessTokenFormat === 'opaque'
    ? sealAccessToken(keys, issuer, answered, randomId(), now, accessLifetime)
    : await mintAccessToken(keys.signer('ES256') ?? keys.signer(client.idTokenSignedResponseAlg)!, issuer, answered, randomId(), now, accessLifetime)
  const idToken = await mintIdToken(keys.signer(client.idTokenSignedResponseAlg)!, issuer, answered, now, idLifetime, accessToken)
  const refresh: RefreshPayload = { ...grantOf(grant, grant.scope, grant.acr), generation, familyExpiresAt }
  const refreshToken = seal(keys, 'refresh', refresh, familyExpiresAt)
  return { access_token: accessToken, token_type: 'Bearer', expires_in: accessLifetime, id_token: idToken, refresh_token: refreshToken, scope }
}

/** PKCE (RFC 7636) with downgrade protection: a challenge needs a verifier, and no challenge refuses one. */
function checkPkce (challenge: string | undefined, verifier: string | undefined): void {
  if (challenge === undefined) {
    if (verifier !== undefined) throw new OAuthError('invalid_grant', 'code_verifier sent for a code issued without a code_challenge')
    return
  }
  if (verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required')
  if (!VERIFIER.test(verifier)) throw new OAuthError('invalid_grant', 'code_verifier is malformed')
  const computed = Buffer.from(hash('sha256', verifier, 'base64url'))
  const expected = Buffer.from(challenge)
  if (computed.length !== expected.length || !timingSafeEqual(computed, expected)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge')
}

function narrowScope (granted: string, asked: string | undefined): string {
  if (asked === undefined) return granted
  const allowed = new Set(granted.split(' '))
  const requested = asked.split(' ').filter(Boolean)
  if (requested.some((s) => !allowed.has(s))) throw new OAuthError('invalid_scope', 'a refresh may not widen the scope')
  if (!requested.includes('openid')) throw new OAuthError('invalid_scope', 'the openid scope is required')
  return granted.split(' ').filter((s) => requested.includes(s)).join(' ')
}

/**
 * Codes are single-use. The guard is the code's tombstone, written once (one SET NX in the
 * region's Redis; while it is down, this instance's): the tombstone reaches the other regions'
 * stores (peers), and a redemption here also asks them, so a code replayed in another region is
 * refused there too.
 */
async function claimCode (deps: TokenDeps, payload: CodePayload): Promise<boolean> {
  return deps.store.revokeOnce(`code:${payload.jti}`, deps.tokens.code)
}

/**
 * The grant a code or refresh token carries, without that token's own fields
 * (jti, redirectUri, codeChallenge, generation, familyExpiresAt, knd, exp) and
 * without the nonce, which answers the authentication request and is not
 * repeated in refreshes. Picked field by field: object rest and `delete` left
 * V8 objects in dictionary mode, slow to copy and to serialize on every token
 * response (bench/README.md, "Profile findings").
 */
function grantOf (source: GrantContext, scope: string, acr: string): GrantContext {
  const grant: GrantContext = {
    gid: source.gid,
    clientId: source.clientId,
    sub: source.sub,
    sid: source.sid,
    provider: source.provider,
    scope,
    claims: source.claims,
    authTime: source.authTime,
    vouchedAt: source.vouchedAt,
    acr,
    upstreamSub: source.upstreamSub,
  }
  if (source.upstreamRefreshToken !== undefined) grant.upstreamRefreshToken = source.upstreamRefreshToken
  if (source.amr !== undefined) grant.amr = source.amr
  if (source.mid !== undefined) grant.mid = source.mid
  return grant
}
