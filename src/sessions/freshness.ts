import type { Freshness } from '../config/resolve.js'
import type { Session } from './session.js'

export const ACR_UPSTREAM = 'urn:understudy:acr:upstream'
export const ACR_CACHED = 'urn:understudy:acr:cached'
/** A login by a backup method (a passkey, a linked provider) the user added while the upstream worked (DESIGN §10). */
export const ACR_BACKUP = 'urn:understudy:acr:backup'

/**
 * How a session may serve a login now, for a client's freshness policy:
 * `fresh` within maxStaleness (SSO, no upstream hop); `outage-only` beyond it
 * but within outageMaxStaleness (usable only while the upstream is
 * unavailable); `expired` beyond both.
 */
export type Standing = 'fresh' | 'outage-only' | 'expired'

/** Seconds since the upstream last vouched for the user. */
export function staleness (session: Pick<Session, 'vouchedAt'>, now: number): number {
  return Math.max(0, now - session.vouchedAt)
}

/** The session's standing under `policy` at `now`. */
export function standing (session: Pick<Session, 'vouchedAt'>, policy: Pick<Freshness, 'maxStaleness' | 'outageMaxStaleness'>, now: number): Standing {
  const age = staleness(session, now)
  if (age <= policy.maxStaleness) return 'fresh'
  if (age <= policy.outageMaxStaleness) return 'outage-only'
  return 'expired'
}
