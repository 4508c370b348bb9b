import type { Config } from '../config/resolve.js'
import type { Keyring } from '../keys/keyring.js'
import type { Logger } from '../log.js'
import { seal, unseal } from '../sessions/seal.js'
import { subjectFor } from '../sessions/session.js'
import type { Store } from '../store/store.js'
import type { UpstreamIdentity } from '../upstream/connector.js'
import type { Clock, ProviderRouter } from './deps.js'
import type { GrantContext } from './tokens.js'

/** What asking the upstream with the user's current refresh token uses: where that token is kept, sealed, and for how long. */
export interface UpstreamGrantDeps {
  keys: Keyring
  now: Clock
  store: Store
  tokens: Pick<Config['tokens'], 'refreshToken'>
  /** The longest outageMaxStaleness of any client (seconds): how long a session cookie may still carry a copy. */
  sessionLifetime: number
}

/** What the store keeps for one upstream user, sealed: whoever reads the store learns no upstream token. */
interface KeptToken { user: string, refreshToken: string }

/** A revalidation's answer: who the upstream says the user is, and the upstream refresh token current after it. */
export interface UpstreamRefresh { identity: UpstreamIdentity, refreshToken: string }

/** An upstream refresh token and when it was known good (seconds): the version that orders it against other copies. */
interface Candidate { token: string, version: number }

/** Upstream refreshes in flight through each router (one per provider in each gateway), by upstream user. */
const inFlight = new WeakMap<ProviderRouter, Map<string, Promise<UpstreamRefresh>>>()

/**
 * Asks the upstream again about the grant's user with the current upstream
 * refresh token, and keeps the one it rotates to.
 *
 * An upstream that rotates refresh tokens (Kakao; oidc-provider with
 * `rotateRefreshToken`) expires the old one at each refresh, and with reuse
 * detection ends the whole upstream grant when the old one comes back. Yet
 * every copy of the token (the session cookie, each relying party's refresh
 * family) was made from the one the login got. So the current token of each
 * upstream user lives in one place that every copy reads: the store
 * (`keepLatest`, sealed, replicated to peers), read before each upstream
 * refresh and written after each rotation. `copy`, the token sealed into the
 * grant itself, is the fallback when the store holds nothing newer than it
 * (a copy's version is when the upstream vouched for it).
 *
 * Within one gateway, concurrent revalidations of one user share one upstream
 * call: a second call with the same token would be a reuse. Across instances
 * nothing serialises them (docs/multi-region.md).
 */
export async function refreshUpstream (deps: UpstreamGrantDeps, router: ProviderRouter, grant: GrantContext, copy: string, log: Logger): Promise<UpstreamRefresh> {
  let flights = inFlight.get(router)
  if (flights === undefined) {
    flights = new Map()
    inFlight.set(router, flights)
  }
  const user = subjectFor(grant.provider, grant.upstreamSub)
  let flight = flights.get(user)
  if (flight === undefined) {
    const started = refreshOnce(deps, router, grant, user, { token: copy, version: grant.vouchedAt }, log)
    flight = started.finally(() => flights.delete(user))
    flights.set(user, flight)
  }
  return flight
}

async function refreshOnce (deps: UpstreamGrantDeps, router: ProviderRouter, grant: GrantContext, user: string, copy: Candidate, log: Logger): Promise<UpstreamRefresh> {
  const current = await currentToken(deps, user, copy, log)
  const identity = await router.refresh(current.token, grant.upstreamSub)
  const refreshToken = identity.refreshToken ?? current.token
  // The version moves past the one used even within one second, so that the rotated token always wins.
  if (refreshToken !== current.token) await keep(deps, user, refreshToken, Math.max(deps.now(), current.version + 1))
  return { identity, refreshToken }
}

/** The store's token for `user` when it is at least as recent as the grant's own copy; the copy otherwise. */
async function currentToken (deps: UpstreamGrantDeps, user: string, copy: Candidate, log: Logger): Promise<Candidate> {
  const kept = await deps.store.latest(key(user))
  if (kept === undefined || kept.version < copy.version) return copy
  try {
    const opened = unseal<KeptToken>(deps.keys, 'upstream', kept.value, deps.now())
    // Bound to its user: a sealed token copied to another user's key in the store opens, but is not used.
    if (opened.user === user && typeof opened.refreshToken === 'string') return { token: opened.refreshToken, version: kept.version }
    log.warn({ store: deps.store.name }, 'the stored upstream refresh token belongs to another user; using the copy in the grant')
  } catch (err) {
    log.warn({ err, store: deps.store.name }, 'the stored upstream refresh token does not open; using the copy in the grant')
  }
  return copy
}

/** Keeps a rotated token as the user's current one, for as long as any session or refresh family may still read it. */
async function keep (deps: UpstreamGrantDeps, user: string, refreshToken: string, version: number): Promise<void> {
  const ttlSec = Math.max(deps.tokens.refreshToken, deps.sessionLifetime)
  const sealed = seal(deps.keys, 'upstream', { user, refreshToken } satisfies KeptToken, deps.now() + ttlSec)
  await deps.store.keepLatest(key(user), sealed, version, ttlSec)
}

function key (user: string): string {
  return `upstream:${user}`
}
