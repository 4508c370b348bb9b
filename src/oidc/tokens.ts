import { hash } from 'node:crypto'
import { compactVerify, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import type { Keyring, SigningAlg, SigningKey } from '../keys/keyring.js'
import { signJwt } from '../keys/sign.js'
import { seal, unseal } from '../sessions/seal.js'
import { claimsForScope } from './claims.js'
import { OAuthError } from './errors.js'

/** Everything a grant needs to mint tokens; carried by codes and refresh tokens. */
export interface GrantContext {
  /** Grant id: shared by every token of one authorization; the refresh family id. */
  gid: string
  clientId: string
  sub: string
  sid: string
  /** A backup login's method (Session `backup.id`): removing the method tombstones it, and with it this grant. */
  mid?: string
  provider: string
  scope: string
  claims: Record<string, unknown>
  authTime: number
  /** The upstream's `amr`, passed on in ID tokens when it sent one. */
  amr?: string[]
  vouchedAt: number
  acr: string
  nonce?: string
  /** The upstream's subject and refresh token, sealed inside our refresh token for revalidation; never in a JWT. */
  upstreamSub: string
  upstreamRefreshToken?: string
}

/** A sealed refresh token: the grant it continues, its family and its place in the rotation. */
export interface RefreshPayload extends GrantContext {
  generation: number
  /** When the family (the whole chain of rotations) ends, in seconds. */
  familyExpiresAt: number
}

/** Claims of a verified access token: a JWT's (RFC 9068), or the same claims sealed in an opaque one. */
export interface AccessTokenClaims extends JWTPayload {
  sub: string
  client_id: string
  scope: string
  jti: string
  gid: string
  sid: string
  /** A backup login's method, checked against its tombstone like sid and gid. */
  mid?: string
  exp: number
  iat: number
  /** The claims userinfo may release for this token's scope. */
  uc?: Record<string, unknown>
}

/** Signs an ID token for the grant with the client's algorithm. */
export async function mintIdToken (signer: SigningKey, issuer: string, grant: GrantContext, now: number, lifetime: number, accessToken?: string): Promise<string> {
  const payload: JWTPayload & Record<string, unknown> = claimsForScope(grant.scope, grant.claims)
  payload.azp = grant.clientId
  payload.auth_time = grant.authTime
  payload.acr = grant.acr
  if (grant.amr !== undefined) payload.amr = grant.amr
  payload.sid = grant.sid
  if (grant.nonce !== undefined) payload.nonce = grant.nonce
  if (accessToken !== undefined) payload.at_hash = halfHash(accessToken, signer.alg)
  payload.iss = issuer
  payload.sub = grant.sub
  payload.aud = grant.clientId
  payload.iat = now
  payload.exp = now + lifetime
  return signJwt(signer, 'JWT', payload)
}

/** Signs a JWT access token (RFC 9068) for the grant; the gateway itself is the audience. */
export async function mintAccessToken (signer: SigningKey, issuer: string, grant: GrantContext, jti: string, now: number, lifetime: number): Promise<string> {
  return signJwt(signer, 'at+jwt', accessTokenClaims(issuer, grant, jti, now, lifetime))
}

/**
 * Seals an opaque access token: the claims a JWT access token carries, as a
 * compact JWE only this issuer's sealing keys open (seal kind `at`, so it
 * never opens as a code, refresh token or session). Self-contained like the
 * JWT, so no store write; synchronous, as sealing is.
 */
export function sealAccessToken (keys: Keyring, issuer: string, grant: GrantContext, jti: string, now: number, lifetime: number): string {
  return seal(keys, 'at', accessTokenClaims(issuer, grant, jti, now, lifetime), now + lifetime)
}

/** The claims of an access token, whichever its format. */
function accessTokenClaims (issuer: string, grant: GrantContext, jti: string, now: number, lifetime: number): Record<string, unknown> {
  const uc = claimsForScope(grant.scope, grant.claims)
  // One object literal of one shape, `mid` and `uc` set after it when there are any (a conditional spread cost a clone and a map transition).
  const payload: Record<string, unknown> = {
    client_id: grant.clientId,
    scope: grant.scope,
    auth_time: grant.authTime,
    acr: grant.acr,
    sid: grant.sid,
    gid: grant.gid,
    iss: issuer,
    sub: grant.sub,
    aud: issuer,
    jti,
    iat: now,
    exp: now + lifetime,
  }
  if (grant.mid !== undefined) payload.mid = grant.mid
  if (Object.keys(uc).length > 0) payload.uc = uc
  return payload
}

/**
 * Verifies an access token of either format: a JWT's signature, type,
 * issuer, audience and expiry, or an opaque token's seal, issuer, audience
 * and expiry; invalid_token otherwise. The two are told apart by their
 * shape: a compact JWE has five segments, a JWS three.
 */
export async function verifyAccessToken (keys: Keyring, issuer: string, token: string, now: number): Promise<AccessTokenClaims> {
  if (isSealed(token)) return openAccessToken(keys, issuer, token, now)
  const signer = keyFor(keys, token)
  try {
    const { payload } = await jwtVerify(token, signer.publicKey, {
      issuer,
      audience: issuer,
      typ: 'at+jwt',
      algorithms: [signer.alg],
      currentDate: new Date(now * 1000),
      requiredClaims: ['sub', 'jti', 'exp', 'iat'],
    })
    if (!isAccessTokenClaims(payload)) throw new Error('missing claims')
    return payload
  } catch (err) {
    throw invalidAccessToken(err)
  }
}

/** Opens an opaque access token; the seal checked its integrity and expiry (`exp <= now` is expired, as for a JWT). */
function openAccessToken (keys: Keyring, issuer: string, token: string, now: number): AccessTokenClaims {
  let payload: Record<string, unknown>
  try {
    payload = unseal<Record<string, unknown>>(keys, 'at', token, now)
  } catch (err) {
    throw invalidAccessToken(err)
  }
  if (payload.iss !== issuer || payload.aud !== issuer || !isAccessTokenClaims(payload)) throw invalidAccessToken(new Error('not an access token of this issuer'))
  return payload
}

function isAccessTokenClaims (payload: Record<string, unknown>): payload is AccessTokenClaims {
  return typeof payload.sub === 'string' && typeof payload.client_id === 'string' && typeof payload.scope === 'string' &&
    typeof payload.jti === 'string' && typeof payload.gid === 'string' && typeof payload.sid === 'string' &&
    (payload.mid === undefined || typeof payload.mid === 'string') && typeof payload.exp === 'number' && typeof payload.iat === 'number'
}

/** Five dot-separated segments: a compact JWE (RFC 7516 §7.1), counted without splitting the token. */
function isSealed (token: string): boolean {
  let dots = 0
  for (let at = token.indexOf('.'); at !== -1; at = token.indexOf('.', at + 1)) dots++
  return dots === 4
}

function invalidAccessToken (cause: unknown): OAuthError {
  return new OAuthError('invalid_token', 'the access token is invalid or expired', { cause, challenge: 'Bearer' })
}

/**
 * Verifies an id_token_hint we issued: signature and issuer only, since an
 * expired ID token is still a valid hint (OIDC RP-Initiated Logout §2).
 */
export async function verifyIdTokenHint (keys: Keyring, issuer: string, token: string): Promise<JWTPayload> {
  try {
    const signer = keyFor(keys, token)
    const { payload } = await compactVerify(token, signer.publicKey, { algorithms: [signer.alg] })
    const claims = JSON.parse(new TextDecoder().decode(payload)) as JWTPayload
    if (claims.iss !== issuer || typeof claims.sub !== 'string') throw new Error('not our ID token')
    // Access tokens are signed with the same keys: an ID token is addressed to a client, never typed at+jwt.
    const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud
    if (decodeProtectedHeader(token).typ === 'at+jwt' || typeof aud !== 'string' || aud === issuer) throw new Error('not an ID token')
    return claims
  } catch (err) {
    throw new OAuthError('invalid_request', 'id_token_hint is not a valid ID token issued here', { cause: err })
  }
}

function keyFor (keys: Keyring, token: string): SigningKey {
  let kid: unknown
  try {
    kid = decodeProtectedHeader(token).kid
  } catch (err) {
    throw new OAuthError('invalid_token', 'the token is malformed', { cause: err, challenge: 'Bearer' })
  }
  const key = typeof kid === 'string' ? keys.verifier(kid) : undefined
  if (!key) throw new OAuthError('invalid_token', 'the token was not signed by a key of this issuer', { challenge: 'Bearer' })
  return key
}

const HASH_FOR: Record<SigningAlg, string> = { ES256: 'sha256', RS256: 'sha256', EdDSA: 'sha512' }

/** at_hash: the left half of the hash of the access token (OIDC Core §3.1.3.6). */
function halfHash (value: string, alg: SigningAlg): string {
  const digest = hash(HASH_FOR[alg], value, 'buffer')
  return digest.subarray(0, digest.length / 2).toString('base64url')
}
