import * as oidc from 'openid-client'
import { CLIENTS } from './stack.js'

type ClientName = keyof typeof CLIENTS

/** openid-client configured by discovery as one of the test clients (a public client authenticates with none). */
export async function discoverClient (issuer: string, client: ClientName): Promise<oidc.Configuration> {
  const secret = 'clientSecret' in CLIENTS[client] ? (CLIENTS[client] as { clientSecret: string }).clientSecret : undefined
  return oidc.discovery(new URL(issuer), client, secret, secret === undefined ? oidc.None() : undefined, { execute: [oidc.allowInsecureRequests] })
}

/** What openid-client checks an authorization response against. */
export interface AuthorizationChecks { pkceCodeVerifier: string, expectedState: string, expectedNonce: string }

/** An authorization URL that openid-client builds (code + PKCE, state, nonce, `extra` parameters) and the checks for its answer. */
export async function authorizationRequest (config: oidc.Configuration, client: ClientName, extra: Record<string, string> = {}): Promise<{ url: string, checks: AuthorizationChecks }> {
  const verifier = oidc.randomPKCECodeVerifier()
  const checks = { pkceCodeVerifier: verifier, expectedState: oidc.randomState(), expectedNonce: oidc.randomNonce() }
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CLIENTS[client].redirectUris[0]!,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    ...extra,
  })
  return { url: url.href, checks }
}
