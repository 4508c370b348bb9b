import type { LoginOutcome } from '../observability/metrics.js'
import type { BackupMethod } from '../sessions/session.js'
import type { UpstreamRouter } from '../upstream/router.js'

// The small pieces of a gateway that the endpoints' dependency types are made
// of: each endpoint names only what it uses, so a unit test builds only that.

/** The gateway's clock: whole seconds since the epoch (a test injects its own). */
export type Clock = () => number

/**
 * What the endpoints use of one provider's region router (upstream/router.ts):
 * its calls, whether any region may take one, and each region's live breaker
 * policy (changed at run time through the admin API). A unit test about a
 * decision may give a fake.
 */
export interface ProviderRouter extends Pick<UpstreamRouter, 'id' | 'available' | 'authorizationUrl' | 'exchangeCode' | 'refresh'> {
  readonly lanes: ReadonlyArray<{ readonly breaker: { readonly policy: { readonly resetTimeout: number } } }>
}

/** Each configured provider's router, by provider id. */
export type Upstreams = ReadonlyMap<string, ProviderRouter>

/** Counts a login outcome in the metrics and the incident timeline; a backup login also names its method. */
export type LoginRecorder = (client: string, provider: string, outcome: LoginOutcome, method?: BackupMethod['method']) => void
