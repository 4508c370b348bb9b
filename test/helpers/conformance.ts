import { createHash } from 'node:crypto'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import type { Test } from 'tap'
import type { Reply } from './oidc.js'
import { CLIENTS, type Stack } from './stack.js'

/**
 * The checks the OpenID Foundation's conformance suite (basic OP plan) makes
 * of every token response and ID token, shared by test/conformance/*.
 */

const ALG: Record<keyof typeof CLIENTS, string> = { shop: 'ES256', news: 'RS256', spa: 'ES256' }
const HASH: Record<string, string> = { ES256: 'sha256', RS256: 'sha256', EdDSA: 'sha512' }

/** A successful token response: JSON, not cached, Bearer, a positive lifetime, an access token and an ID token. */
export function validTokenResponse (t: Test, reply: Reply, message = 'token response'): void {
  t.equal(reply.status, 200, `${message}: 200`)
  t.match(reply.headers.get('content-type'), /^application\/json/, `${message}: JSON`)
  t.equal(reply.headers.get('cache-control'), 'no-store', `${message}: Cache-Control no-store`)
  t.equal(reply.headers.get('pragma'), 'no-cache', `${message}: Pragma no-cache`)
  t.match(reply.json?.token_type, /^bearer$/i, `${message}: token_type Bearer`)
  t.ok(Number.isInteger(reply.json?.expires_in) && reply.json.expires_in > 0, `${message}: expires_in a positive integer`)
  t.type(reply.json?.access_token, 'string', `${message}: access_token`)
  t.type(reply.json?.id_token, 'string', `${message}: id_token`)
}

export interface IdTokenExpectations {
  client: keyof typeof CLIENTS
  /** The nonce sent; undefined when none was, so none may come back. */
  nonce?: string
  /** The access token issued with it, for at_hash. */
  accessToken?: string
}

/**
 * Verifies an ID token as the suite does (OIDC Core §3.1.3.7): signed with
 * the client's algorithm by a key of /jwks named by its kid; iss, aud, azp,
 * sub, exp, iat, auth_time; the nonce exactly as sent (or absent); at_hash.
 */
export async function validIdToken (t: Test, stack: Stack, idToken: string, expected: IdTokenExpectations): Promise<JWTPayload> {
  const header = decodeProtectedHeader(idToken)
  const alg = ALG[expected.client]
  t.equal(header.alg, alg, `the ID token is signed with ${alg}`)
  t.type(header.kid, 'string', 'the ID token names its key (kid)')
  const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${stack.issuer}/jwks`)), { issuer: stack.issuer, audience: expected.client, algorithms: [alg] })
  const now = Math.floor(Date.now() / 1000)
  t.equal(payload.azp ?? expected.client, expected.client, 'azp, when present, is the client')
  t.ok(typeof payload.sub === 'string' && payload.sub.length > 0 && payload.sub.length <= 255, 'sub is 1 to 255 characters')
  t.ok(typeof payload.exp === 'number' && payload.exp > now, 'exp in the future')
  t.ok(typeof payload.iat === 'number' && Math.abs(payload.iat - now) <= 30, 'iat is now')
  t.ok(typeof payload.auth_time === 'number' && (payload.auth_time as number) <= now, 'auth_time is not in the future')
  if (expected.nonce === undefined) t.notOk('nonce' in payload, 'no nonce when none was sent')
  else t.equal(payload.nonce, expected.nonce, 'the nonce exactly as sent')
  if (expected.accessToken !== undefined) {
    const digest = createHash(HASH[alg]!).update(expected.accessToken).digest()
    t.equal(payload.at_hash, digest.subarray(0, digest.length / 2).toString('base64url'), 'at_hash matches the access token')
  }
  return payload
}
