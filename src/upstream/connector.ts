import type { ProviderConfig } from '../config/resolve.js'
import type { MetadataBackups } from './cached.js'

/** Who the upstream says the user is, after a successful code exchange. */
export interface UpstreamIdentity {
  /** The upstream's stable subject identifier for the user. */
  sub: string
  /** Claims mapped to OIDC names (email, email_verified, name, picture, ...); never `sub`, `iss`, `aud`. */
  claims: Record<string, unknown>
  /** The upstream refresh token, when it issued one (kept sealed for background revalidation). */
  refreshToken?: string
  /** The upstream access token, when it issued one (used for userinfo revalidation). */
  accessToken?: string
  /** When the upstream says the user last authenticated (its ID token's `auth_time`, seconds, never later than now); absent when it does not say. */
  authTime?: number
  /** How the upstream authenticated the user (its ID token's `amr`, RFC 8176), when it says. */
  amr?: string[]
}

/** What the gateway asks of the upstream when it sends a browser there. */
export interface UpstreamAuthorization {
  /** Our `/callback/:provider` URL, registered at the upstream. */
  redirectUri: string
  state: string
  nonce: string
  /** S256 challenge of a verifier the gateway keeps; omitted when the provider has `pkce: false`. */
  codeChallenge?: string
  /** Demand fresh authentication: the provider's `reauthenticate` parameters are added (e.g. `prompt=login`). */
  reauthenticate?: boolean
  /** The relying party's `max_age`, passed on. */
  maxAge?: number
  loginHint?: string
}

/** The callback parameters and the secrets the gateway kept for this login. */
export interface UpstreamCodeExchange {
  code: string
  redirectUri: string
  nonce: string
  codeVerifier?: string
  /** The `iss` parameter of the callback (RFC 9207), when the upstream sent one. */
  iss?: string
  /** Aborts the exchange (a breaker timeout); every call takes one. */
  signal?: AbortSignal
}

/**
 * One region of one upstream: every operation a login needs, against this
 * region only. The router (and later the breakers) decide which region to use.
 */
export interface UpstreamRegion {
  readonly provider: string
  readonly name: string
  /** The URL to send the browser to. May read this region's discovery document first. */
  authorizationUrl (request: UpstreamAuthorization, signal?: AbortSignal): Promise<string>
  /**
   * Checks the callback's `iss` (mix-up defence), redeems the code at this
   * region's token endpoint once (never retried: codes are single-use), and
   * validates what comes back (ID token signature, pinned algorithms, issuer,
   * audience, nonce; or userinfo claim mapping for oauth2).
   */
  exchangeCode (exchange: UpstreamCodeExchange): Promise<UpstreamIdentity>
  /**
   * Revalidates a user with the upstream refresh token: the upstream still
   * vouches for `expectedSub` when this resolves. An upstream that no longer
   * does answers an OAuth error (US_ERR_UPSTREAM_OAUTH, e.g. invalid_grant).
   */
  refresh (refreshToken: string, expectedSub: string, signal?: AbortSignal): Promise<UpstreamIdentity>
  /** Fetches what later calls need (discovery, keys) in the background, without blocking start-up. */
  warm? (): void
  /** A cheap deliberate request showing whether the region answers (below 500, in time). */
  probe (signal?: AbortSignal): Promise<void>
}

/** A configured upstream provider: its regions in config order. */
export interface Connector {
  readonly id: string
  readonly kind: ProviderConfig['kind']
  readonly regions: readonly UpstreamRegion[]
  /** Stops background work (discovery/JWKS refresh timers). */
  close (): Promise<void>
}

/** How a connector kind is built from its config block. Adding a kind: one folder plus one line in `registry.ts`. */
export type ConnectorFactory = (config: ProviderConfig, options: ConnectorOptions) => Connector

export interface ConnectorOptions {
  /** Per-call timeout, in milliseconds, when the caller passes no signal. */
  timeoutMs: number
  /** Where discovery and keys are kept for the next process (the store's shared documents, under a MAC). */
  backups?: MetadataBackups
  /** Told when a metadata fetch failed and what was known before is served instead. */
  onStale?: (event: { provider: string, region: string, document: 'discovery' | 'jwks', err: unknown }) => void
}
