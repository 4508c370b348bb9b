import type { Client, ClientRegistry } from './clients.js'
import { normalizeScope } from './claims.js'
import type { Upstreams } from './deps.js'
import { OAuthError, type RedirectTarget } from './errors.js'
import type { Params } from './params.js'

/** A validated authorization request from a relying party. */
export interface AuthorizationRequest {
  clientId: string
  redirectUri: string
  state?: string
  nonce?: string
  scope: string
  codeChallenge?: string
  prompt: string[]
  maxAge?: number
  provider: string
  loginHint?: string
  /** The `sub` of a verified id_token_hint: no other user's session may answer this request. */
  hintSub?: string
}

/** What validating an authorization request reads: the registered clients and the configured providers. */
export interface AuthorizationRequestDeps {
  clients: Pick<ClientRegistry, 'get'>
  upstreams: Pick<Upstreams, 'has'>
}

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account'])
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/

/** Where errors about a validated request go: back to the relying party, with its state. */
export function redirectTarget (request: Pick<AuthorizationRequest, 'redirectUri' | 'state'>): RedirectTarget {
  return { redirectUri: request.redirectUri, ...(request.state === undefined ? {} : { state: request.state }) }
}

/**
 * Checks client and redirect_uri first: until both are known good, errors are
 * shown to the user, never redirected (RFC 6749 §4.1.2.1). After that, errors
 * go back to the relying party with state and iss.
 */
export function validateAuthorizationRequest (deps: AuthorizationRequestDeps, params: Params): AuthorizationRequest {
  const clientId = params.get('client_id')
  const client = deps.clients.get(clientId)
  if (clientId === undefined) throw new OAuthError('invalid_request', 'missing client_id')
  if (!client) throw new OAuthError('invalid_request', 'unknown client_id')
  const redirectUri = params.get('redirect_uri')
  if (redirectUri === undefined) throw new OAuthError('invalid_request', 'missing redirect_uri')
  if (!client.redirectUris.includes(redirectUri)) throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client')

  let state: string | undefined
  try {
    state = params.get('state')
  } catch (err) {
    throw (err as OAuthError).redirectTo({ redirectUri })
  }
  try {
    return validateRest(deps, params, client, redirectUri, state)
  } catch (err) {
    throw err instanceof OAuthError ? err.redirectTo(redirectTarget({ redirectUri, state })) : err
  }
}

function validateRest (deps: AuthorizationRequestDeps, params: Params, client: Client, redirectUri: string, state: string | undefined): AuthorizationRequest {
  if (params.has('request')) throw new OAuthError('request_not_supported', 'request objects are not supported')
  if (params.has('request_uri')) throw new OAuthError('request_uri_not_supported', 'request_uri is not supported')
  const responseType = params.require('response_type')
  if (responseType !== 'code') throw new OAuthError('unsupported_response_type', 'only response_type=code is supported')
  const responseMode = params.get('response_mode')
  if (responseMode !== undefined && responseMode !== 'query') throw new OAuthError('invalid_request', 'only response_mode=query is supported')
  const scope = normalizeScope(params.require('scope'))
  if (!scope.split(' ').includes('openid')) throw new OAuthError('invalid_scope', 'the openid scope is required')

  const codeChallenge = params.get('code_challenge')
  const method = params.get('code_challenge_method')
  if (codeChallenge !== undefined) {
    if (method !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256')
    if (!CHALLENGE.test(codeChallenge)) throw new OAuthError('invalid_request', 'code_challenge must be a base64url SHA-256 digest')
  } else {
    if (method !== undefined) throw new OAuthError('invalid_request', 'code_challenge_method without code_challenge')
    if (client.public) throw new OAuthError('invalid_request', 'PKCE (code_challenge with S256) is required for public clients')
  }

  const prompt = (params.get('prompt') ?? '').split(' ').filter((p) => PROMPTS.has(p))
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt=none cannot be combined with other values')
  const maxAgeText = params.get('max_age')
  if (maxAgeText !== undefined && !/^\d{1,10}$/.test(maxAgeText)) throw new OAuthError('invalid_request', 'max_age must be a non-negative integer')

  const provider = params.get('provider') ?? client.providers[0]!
  if (!client.providers.includes(provider)) throw new OAuthError('invalid_request', 'provider is not enabled for this client')
  if (!deps.upstreams.has(provider)) throw new OAuthError('invalid_request', 'unknown provider')

  const nonce = params.get('nonce')
  const loginHint = params.get('login_hint')
  return {
    clientId: client.clientId,
    redirectUri,
    scope,
    prompt,
    provider,
    ...(state === undefined ? {} : { state }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(codeChallenge === undefined ? {} : { codeChallenge }),
    ...(maxAgeText === undefined ? {} : { maxAge: Number(maxAgeText) }),
    ...(loginHint === undefined ? {} : { loginHint }),
  }
}
