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

/** A verified access token that has not been revoked (by itself, its grant, its session or its backup method). */
export async function activeAccessToken (deps: AccessTokenDeps, token: string): Promise<AccessTokenClaims> {
  const claims = await verifyAccessToken(deps.keys, deps.issuer, token, deps.now())
  if (await anyRevoked(deps.store, [claims.jti, claims.gid, claims.sid, claims.mid])) {
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

/**
 * What removing a backup method uses: the store, and the lifetimes that bound
 * what logins with it produced (seconds).
 */
export interface MethodRevocationDeps {
  store: Store
  sessionLifetime: number
  tokens: Pick<Config['tokens'], 'code' | 'refreshToken'>
}

/**
 * Ends everything logins with a backup method produced (DESIGN §10): their
 * sessions, and the codes and tokens issued from them (by `mid`). The
 * tombstone outlives them all: a session made just before the removal issues
 * codes while its cookie lives, and a code's refresh family lives
 * `tokens.refreshToken` after it is redeemed. Kept with the logouts: it ends
 * sessions, and removals (each needing a fresh upstream login or the admin
 * token) are few.
 */
export async function revokeMethod (deps: MethodRevocationDeps, mid: string): Promise<void> {
  await deps.store.revoke(mid, deps.sessionLifetime + deps.tokens.code + deps.tokens.refreshToken, 'session')
}

/**
 * True when any id is tombstoned, all asked in one store lookup (one EXISTS
 * over their keys; on a Redis Cluster one per key, pipelined); an absent id
 * (a `mid` outside backup logins) is not asked. While no store answers, the store itself
 * fails open (RevocationFailOpen).
 */
export async function anyRevoked (store: Store, ids: ReadonlyArray<string | undefined>): Promise<boolean> {
  const asked: string[] = []
  for (const id of ids) if (id !== undefined) asked.push(id)
  return store.anyRevoked(asked)
}
