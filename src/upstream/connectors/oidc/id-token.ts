import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { UnderstudyError } from '../../../errors.js'

/** The only ID token algorithms we accept: asymmetric ones. Never `none`, never HS* (whose "key" would be the public key or our client secret). */
export const ASYMMETRIC_ALGS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** The algorithms to pin: what the upstream advertises (default RS256, per OIDC Discovery) that is asymmetric. */
export function idTokenAlgorithms (advertised: readonly string[] | undefined): string[] {
  return (advertised ?? ['RS256']).filter((alg) => ASYMMETRIC_ALGS.includes(alg))
}

export interface IdTokenExpectations {
  issuer: string
  clientId: string
  /** The login's nonce; a refreshed ID token may omit it (OIDC Core §12.2). */
  nonce?: string
  algorithms: readonly string[]
  /** The clock (seconds) for expiry and `auth_time`; default the system clock. */
  now?: number
}

/**
 * An ID token's payload once verified: `sub` is a non-empty string, and
 * `auth_time` (when present) a whole number of seconds no later than now,
 * `amr` (when present) a list of strings.
 */
export type VerifiedIdToken = JWTPayload & { sub: string, auth_time?: number, amr?: string[] }

// Clocks of the upstream and the gateway differ a little; jose and the auth_time check allow the same.
const CLOCK_TOLERANCE = 30

/**
 * Verifies an upstream ID token (OIDC Core §3.1.3.7): signature by a key of the
 * upstream's JWKS with a pinned algorithm, issuer, audience (and `azp`), expiry, and nonce.
 */
export async function verifyIdToken (token: string, keys: JWTVerifyGetKey, expected: IdTokenExpectations): Promise<VerifiedIdToken> {
  if (expected.algorithms.length === 0) throw invalid('the upstream advertises no ID token algorithm we accept')
  const now = expected.now ?? Math.floor(Date.now() / 1000)
  let payload: JWTPayload
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: [...expected.algorithms],
      issuer: expected.issuer,
      audience: expected.clientId,
      requiredClaims: ['iat', 'exp', 'sub'],
      clockTolerance: CLOCK_TOLERANCE,
      currentDate: new Date(now * 1000),
    }))
  } catch (err) {
    // A failure to fetch the keys keeps its own code (timeout, network): it says nothing about the token.
    if (err instanceof UnderstudyError) throw err
    throw invalid(`the ID token fails verification (${(err as { code?: string }).code ?? 'malformed'})`, err)
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw invalid('the ID token has no sub')
  if (expected.nonce !== undefined && payload.nonce !== expected.nonce) throw invalid('the ID token nonce does not match this login')
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) throw invalid('the ID token has several audiences but no azp')
  if (payload.azp !== undefined && payload.azp !== expected.clientId) throw invalid('the ID token azp is not our client')
  return { ...payload, ...authentication(payload, now) } as VerifiedIdToken
}

/**
 * `auth_time` and `amr` checked (OIDC Core §2): the gateway passes both on to
 * relying parties, which decide on them, so a malformed value fails the login
 * rather than being guessed at. An `auth_time` a little ahead (clock skew) is
 * taken as now: the user cannot have authenticated later than that.
 */
function authentication (payload: JWTPayload, now: number): Pick<VerifiedIdToken, 'auth_time' | 'amr'> {
  const { auth_time: authTime, amr } = payload
  if (authTime !== undefined) {
    if (typeof authTime !== 'number' || !Number.isFinite(authTime) || authTime < 0) throw invalid('the ID token auth_time is not a time')
    if (authTime > now + CLOCK_TOLERANCE) throw invalid('the ID token auth_time is in the future')
  }
  if (amr !== undefined && !(Array.isArray(amr) && amr.every((value) => typeof value === 'string' && value.length > 0))) throw invalid('the ID token amr is not a list of strings')
  return {
    ...(authTime === undefined ? {} : { auth_time: Math.min(Math.floor(authTime), now) }),
    ...(amr === undefined ? {} : { amr: amr as string[] }),
  }
}

function invalid (message: string, cause?: unknown): UnderstudyError {
  return new UnderstudyError('US_ERR_UPSTREAM_INVALID', message, { cause, details: { operation: 'id_token' } })
}
