import type { Config } from '../config/resolve.js'
import type { Keyring } from '../keys/keyring.js'
import type { Store } from '../store/store.js'
import type { Clock } from './deps.js'
import { OAuthError } from './errors.js'
import { verifyAccessToken, type AccessTokenClaims } from './tokens.js'

/** What verifying an access token uses: the signing keys, the issuer, the clock and the store's tombstones. */
export interface AccessTokenDeps {
  keys: Keyring
  issuer: string
  now: Clock
  store: Store
}

/** What revoking a grant uses: the store, and how long a refresh family may live. */
export interface GrantRevocationDeps {
  store: Store
  tokens: Pick<Config['tokens'], 'refreshToken'>
}

/** A verified access token that has not been revoked (by itself, its grant or its session). */
export async function activeAccessToken (deps: AccessTokenDeps, token: string): Promise<AccessTokenClaims> {
  const claims = await verifyAccessToken(deps.keys, deps.issuer, token, deps.now())
  if (await anyRevoked(deps.store, [claims.jti, claims.gid, claims.sid])) {
    throw new OAuthError('invalid_token', 'the access token was revoked', { challenge: 'Bearer' })
  }
  return claims
}

/** What ending a gateway session uses: the store, and how long a session cookie may live. */
export interface SessionRevocationDeps {
  store: Store
  /** How long a logout tombstone must outlive the session it ends (seconds). */
  sessionLifetime: number
}

/** Revokes every token of a grant: access tokens by gid, and the refresh family. */
export async function revokeGrant (deps: GrantRevocationDeps, gid: string): Promise<void> {
  await deps.store.revoke(gid, deps.tokens.refreshToken)
}

/**
 * Ends a gateway session everywhere, and the tokens issued from it (by sid).
 * A session tombstone, kept under a bound of its own: grant tombstones
 * outlive it, and a loop of reused codes writes one each time.
 */
export async function revokeSession (deps: SessionRevocationDeps, sid: string): Promise<void> {
  await deps.store.revoke(sid, deps.sessionLifetime, 'session')
}

/** True when any id is tombstoned. While no store answers, the store itself fails open (RevocationFailOpen). */
export async function anyRevoked (store: Store, ids: string[]): Promise<boolean> {
  const answers = await Promise.all(ids.map((id) => store.isRevoked(id)))
  return answers.includes(true)
}
