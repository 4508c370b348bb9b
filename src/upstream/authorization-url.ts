import type { UpstreamAuthorization } from './connector.js'

/** The parameters the gateway itself sets on an upstream authorization request; a provider's `reauthenticate` may not name them. */
export const PROTOCOL_PARAMETERS: readonly string[] = [
  'response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'claims', 'login_hint',
]

/** What a connector adds to the gateway's request when it builds an authorization URL. */
export interface AuthorizationUrlOptions {
  clientId: string
  scopes: readonly string[]
  /** Send the S256 challenge (the provider's `pkce` setting). */
  pkce: boolean
  /** Send the nonce (OIDC); plain OAuth 2.0 providers have no use for it. */
  nonce: boolean
  /** The provider's parameters that demand fresh authentication (its `reauthenticate` setting). */
  reauthenticate: Readonly<Record<string, string>>
  /** The OIDC `claims` request parameter, for an upstream that supports it. */
  claims?: string
}

/** The upstream authorization URL for one login: code flow, PKCE S256, and the RP's freshness demands passed on. */
export function buildAuthorizationUrl (endpoint: string, request: UpstreamAuthorization, options: AuthorizationUrlOptions): string {
  // Parameters already on the endpoint (some providers need fixed ones) are kept; ours win on a clash.
  const url = new URL(endpoint)
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: request.redirectUri,
    scope: options.scopes.length > 0 ? options.scopes.join(' ') : undefined,
    state: request.state,
    nonce: options.nonce ? request.nonce : undefined,
    code_challenge: options.pkce ? request.codeChallenge : undefined,
    code_challenge_method: options.pkce && request.codeChallenge !== undefined ? 'S256' : undefined,
    claims: options.claims,
    max_age: request.maxAge === undefined ? undefined : String(request.maxAge),
    login_hint: request.loginHint,
    // Last, so a provider that re-authenticates with `max_age=0` overrides the relying party's milder max_age.
    ...(request.reauthenticate ? options.reauthenticate : {}),
  }
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value)
  return url.href
}
