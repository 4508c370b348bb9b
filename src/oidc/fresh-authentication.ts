import type { ProviderConfig } from '../config/resolve.js'
import type { AuthorizationRequest } from './authorization-request.js'
import type { Transaction } from './transaction.js'

// The upstream's clock and the gateway's differ a little; the upstream ID token check allows as much.
const CLOCK_SKEW = 30

/**
 * Whether the browser goes to the upstream with the provider's `reauthenticate`
 * parameters from the start: the relying party demanded a new login
 * (`prompt=login`, or `max_age=0`, which means the same: OIDC Core §3.1.2.1),
 * or gave a `max_age` to a provider that cannot say when the user
 * authenticated. An OIDC upstream is given the `max_age` itself first: it
 * honours it and reports `auth_time`, so a user whose upstream login is recent
 * enough is not asked for a password again.
 */
export function reauthenticateUpFront (request: Pick<AuthorizationRequest, 'prompt' | 'maxAge'>, kind: ProviderConfig['kind']): boolean {
  if (request.prompt.includes('login') || request.maxAge === 0) return true
  return request.maxAge !== undefined && kind !== 'oidc'
}

/**
 * Whether the upstream's authentication meets the relying party's demand for
 * fresh authentication (OIDC Core §3.1.2.1): made during this transaction, or
 * within `max_age`. An upstream that gives no `auth_time` is taken at its word
 * only when it was told to re-authenticate; otherwise it is asked again.
 */
export function freshEnough (request: Pick<AuthorizationRequest, 'prompt' | 'maxAge'>, tx: Pick<Transaction, 'startedAt' | 'reauthenticated'>, upstreamAuthTime: number | undefined, now: number): boolean {
  const promptLogin = request.prompt.includes('login')
  if (!promptLogin && request.maxAge === undefined) return true
  if (upstreamAuthTime === undefined) return tx.reauthenticated === true
  if (upstreamAuthTime >= tx.startedAt - CLOCK_SKEW) return true
  return !promptLogin && request.maxAge !== undefined && now - upstreamAuthTime <= request.maxAge
}
