import { parseDuration } from '../../src/config/duration.js'

/** The relying parties, load shape, breaker policies and database of a game day. */

/** The machine's PostgreSQL (trust auth, database `test`, as .ci/run starts it): each run makes a schema of its own there. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** A relying party the synthetic users log in to. */
export interface RelyingParty {
  clientId: string
  /** Absent for a public client (PKCE only). */
  clientSecret?: string
  redirectUri: string
  postLogoutRedirectUri: string
  alg?: 'ES256' | 'RS256'
  freshness?: { maxStaleness: string, outageMaxStaleness: string }
  /** Returning users log in here by SSO (their session is within maxStaleness all run long). */
  sso: boolean
}

// Nothing listens at the relying parties' address: a synthetic browser stops at the redirect, as the tests do.
const RP = 'http://127.0.0.1:1/rp'

/**
 * Three relying parties: two confidential sites (ES256 and RS256) whose
 * sessions stay fresh all run (returning users log in by SSO), and a public
 * single-page app with a 5 s maxStaleness, so every refresh of it asks the
 * upstream again — and is served from the cached login while it cannot.
 */
export const RELYING_PARTIES: RelyingParty[] = [
  { clientId: 'shop', clientSecret: 'gameday-shop-secret', redirectUri: `${RP}/shop/cb`, postLogoutRedirectUri: `${RP}/shop/bye`, sso: true },
  { clientId: 'news', clientSecret: 'gameday-news-secret', redirectUri: `${RP}/news/cb`, postLogoutRedirectUri: `${RP}/news/bye`, alg: 'RS256', sso: true },
  { clientId: 'spa', redirectUri: `${RP}/spa/cb`, postLogoutRedirectUri: `${RP}/spa/bye`, freshness: { maxStaleness: '5s', outageMaxStaleness: '1d' }, sso: false },
]

/** The relying party with this client id. */
export function relyingParty (clientId: string): RelyingParty {
  const rp = RELYING_PARTIES.find((r) => r.clientId === clientId)
  if (!rp) throw new TypeError(`no relying party ${clientId}`)
  return rp
}

/** Breaker, health-check and Redis timings for the gateways of a game day. */
export interface GamedayPolicy {
  breaker: { timeout: string, errorThresholdPercentage: number, volumeThreshold: number, resetTimeout: string, rollingCountTimeout: string }
  healthCheck: { interval: string }
  redis: { commandTimeout: string, peerTimeout: string, connectTimeout: string }
  /** The longest wait for one directory query (`directory.timeout`); its breakers open at the first failure. */
  directory: { timeout: string }
}

/** Fast detection, as a game day wants it: a 1 s breaker timeout, probes every 0.4 s, trials after 1.5 s; the directory's default 1 s. */
export const GAMEDAY_POLICY: GamedayPolicy = {
  breaker: { timeout: '1s', errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeout: '1500ms', rollingCountTimeout: '5s' },
  healthCheck: { interval: '400ms' },
  redis: { commandTimeout: '300ms', peerTimeout: '250ms', connectTimeout: '500ms' },
  directory: { timeout: '1s' },
}

/** The contract's detection bound for an upstream region (DESIGN §9): one health interval plus the breaker timeout, in ms. */
export function detectionBoundMs (policy: GamedayPolicy): number {
  return toMs(policy.healthCheck.interval) + toMs(policy.breaker.timeout)
}

/** A config duration (`1s`, `400ms`) in milliseconds. */
export function toMs (duration: string): number {
  return parseDuration(duration) * 1000
}

/** How hard the synthetic users push. */
export interface LoadShape {
  /** Operations started per second (a new login, an SSO login, a refresh). */
  rate: number
  /** Most operations in flight at once; beyond it a tick is skipped and counted. */
  concurrency: number
  /** Returning users logged in before the run starts. */
  seedUsers: number
  /** Share of operations that are new users' first logins; the rest is split between SSO and refresh. */
  newUserShare: number
  /** Users who add a passkey before the faults, and log in with it on a new device while the whole upstream is down. */
  cohort: number
}

export const DEFAULT_LOAD: LoadShape = { rate: 10, concurrency: 16, seedUsers: 24, newUserShare: 0.25, cohort: 20 }
