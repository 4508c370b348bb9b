import { createHash } from 'node:crypto'

/**
 * The gateway session: sealed into the browser's cookie, self-contained, so
 * any region can serve a returning user without a store lookup.
 */
export interface Session {
  /** Session id; new at every login (fixation defence), tombstoned at logout. */
  sid: string
  /** The gateway's subject for this upstream identity. */
  sub: string
  provider: string
  /** The upstream's own subject for the user (needed to revalidate with the upstream). */
  upstreamSub: string
  /** Claims the upstream released, under OIDC names. */
  claims: Record<string, unknown>
  /** When the user last authenticated at the upstream (seconds): the upstream's own `auth_time`, or the login through it when it gives none. */
  authTime: number
  /** How the upstream authenticated the user (RFC 8176), when it said. */
  amr?: string[]
  /** When the upstream last vouched for the user: a login or a successful revalidation (seconds). */
  vouchedAt: number
  /** The upstream refresh token this login got; revalidation prefers the user's current one in the store (oidc/upstream-grant.ts). */
  upstreamRefreshToken?: string
  /**
   * Set when the login was a backup login (a passkey, or a linked provider
   * while the user's own was down, DESIGN §10): `provider` and `upstreamSub`
   * are then the user's primary identity, `authTime` and `vouchedAt` the time
   * of the backup authentication. Such a session answers only with acr
   * backup, only within maxStaleness, never as a cached login.
   */
  backup?: BackupMethod
}

/**
 * How a backup login authenticated the user: a passkey, or a linked identity
 * at another provider; `id` names that method as registered
 * (backup/method-id.ts), and is tombstoned when the user removes it.
 */
export type BackupMethod = { method: 'passkey', id: string } | { method: 'linked', provider: string, id: string }

/** The stable, opaque `sub` of one upstream identity: distinct per provider and upstream subject. */
export function subjectFor (provider: string, upstreamSub: string): string {
  return createHash('sha256').update(provider).update('\u0000').update(upstreamSub).digest('base64url')
}

/** The names and attributes of the gateway's cookies; `__Host-` prefixed when the issuer is https. */
export interface CookieNames { session: string, transaction: (state: string) => string, secure: boolean }

/** Cookie names for an issuer. */
export function cookieNames (issuer: string): CookieNames {
  const secure = issuer.startsWith('https:')
  const prefix = secure ? '__Host-understudy' : 'understudy'
  return { session: `${prefix}-session`, transaction: (state) => `${prefix}-tx-${state}`, secure }
}
