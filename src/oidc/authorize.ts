import { hash } from 'node:crypto'
import { isUnderstudyError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import type { Logger } from '../log.js'
import type { LoginOutcome } from '../observability/metrics.js'
import { ACR_CACHED, ACR_UPSTREAM, standing, type Standing } from '../sessions/freshness.js'
import { seal } from '../sessions/seal.js'
import { randomId } from '../sessions/random.js'
import type { Session } from '../sessions/session.js'
import type { Client } from './clients.js'
import { issueCode } from './code.js'
import { OAuthError } from './errors.js'
import { normalizeScope } from './claims.js'
import { Params, type RawParams } from './params.js'
import { reauthenticateUpFront } from './fresh-authentication.js'
import { authorizationResponse } from './redirect.js'
import { readSession } from './session-cookie.js'
import { verifyIdTokenHint } from './tokens.js'

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

/** A browser-facing result: where to send the browser, and cookies to set (maxAge 0 deletes). */
export interface BrowserOutcome {
  location: string
  cookies: Array<{ name: string, value: string, maxAge: number }>
  /** The browser is sent to the upstream in a new transaction: what per-address rate limits charge (an SSO or cached answer costs the upstream nothing). */
  upstream?: true
}

/** Transaction kept in a sealed, browser-bound cookie while the user is at the upstream. */
export interface Transaction {
  state: string
  nonce: string
  verifier?: string
  provider: string
  region: string
  request: AuthorizationRequest
  /** When the browser was sent to the upstream (seconds): a login there since then is as fresh as any request can ask. */
  startedAt: number
  /** The upstream was told to re-authenticate the user (the provider's `reauthenticate` parameters). */
  reauthenticated?: true
}

export const TRANSACTION_LIFETIME = 600
// Only for a provider with no breaker (gone from the config); every configured one has its own policy.
const DEFAULT_RETRY_AFTER = 30
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account'])
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/

/**
 * The authorization endpoint: validates the request, then answers from the
 * session when it may (SSO while fresh; a cached login while the upstream is
 * unavailable), or sends the browser to the upstream.
 */
export async function authorize (gw: Gateway, raw: RawParams, sessionCookie: string | undefined, log: Logger): Promise<BrowserOutcome> {
  const request = validateAuthorizationRequest(gw, new Params(raw))
  const target = { redirectUri: request.redirectUri, ...(request.state === undefined ? {} : { state: request.state }) }
  const client = gw.clients.get(request.clientId)!
  const router = gw.upstreams.get(request.provider)!
  const count = (outcome: LoginOutcome) => gw.recordLogin(client.clientId, request.provider, outcome)
  try {
    const hint = new Params(raw).get('id_token_hint')
    if (hint !== undefined) request.hintSub = (await verifyIdTokenHint(gw.keys, gw.config.issuer, hint)).sub!
    const session = await readSession(gw, sessionCookie, log)
    const standing = sessionStanding(gw, client, request, session)
    if (standing === 'fresh') {
      count('sso')
      return answerWithCode(gw, request, session!, ACR_UPSTREAM)
    }
    if (standing === 'outage-only' && !router.available()) {
      count('cached')
      return answerWithCode(gw, request, session!, ACR_CACHED)
    }
    if (request.prompt.includes('none')) throw new OAuthError('login_required', 'the user is not logged in, or the login is not fresh enough')
    try {
      return await startUpstreamLogin(gw, request, log)
    } catch (err) {
      if (!(err instanceof OAuthError) || err.error !== 'temporarily_unavailable') throw err
      if (standing === 'outage-only') {
        count('cached')
        return answerWithCode(gw, request, session!, ACR_CACHED)
      }
      count('unavailable')
      throw err
    }
  } catch (err) {
    if (err instanceof OAuthError) throw err.redirectTo(target)
    throw err
  }
}

/**
 * How the session may serve this request: `fresh` (SSO), `outage-only`
 * (a cached login if the upstream is unavailable), or `none` (it cannot: no
 * session, another provider, another user than id_token_hint names, or the
 * request demands fresh authentication).
 */
export function sessionStanding (gw: Gateway, client: Client, request: AuthorizationRequest, session: Session | undefined): Standing | 'none' {
  if (!session || session.provider !== request.provider) return 'none'
  // OIDC Core §3.1.2.1: a hint naming another user is never answered from this user's session.
  if (request.hintSub !== undefined && request.hintSub !== session.sub) return 'none'
  const now = gw.now()
  // A cached login never satisfies a demand for fresh authentication (DESIGN §9).
  if (request.prompt.includes('login')) return 'none'
  // max_age=0 demands a fresh login like prompt=login (OIDC Core §3.1.2.1), even within the login's own second.
  if (request.maxAge !== undefined && (request.maxAge === 0 || now - session.authTime > request.maxAge)) return 'none'
  const result = standing(session, client.freshness, now)
  return result === 'expired' ? 'none' : result
}

/** The redirect that answers the relying party with a code from this session. */
export function answerWithCode (gw: Gateway, request: AuthorizationRequest, session: Session, acr: string): BrowserOutcome {
  const code = issueCode(gw, request, session, acr)
  return { location: authorizationResponse(request.redirectUri, gw.config.issuer, request.state, { code }), cookies: [] }
}

/**
 * Sends the browser to the upstream in a new transaction; `reauthenticate`
 * demands fresh authentication there (default: when the request does, see
 * reauthenticateUpFront).
 */
export async function startUpstreamLogin (gw: Gateway, request: AuthorizationRequest, log: Logger, reauthenticate?: boolean): Promise<BrowserOutcome> {
  const router = gw.upstreams.get(request.provider)!
  const providerConfig = gw.config.providers.find((p) => p.id === router.id)!
  const forced = reauthenticate ?? reauthenticateUpFront(request, providerConfig.kind)
  const now = gw.now()
  const tx: Omit<Transaction, 'region'> = { state: randomId(24), nonce: randomId(24), provider: router.id, request, startedAt: now }
  if (providerConfig.pkce) tx.verifier = randomId(32)
  if (forced) tx.reauthenticated = true
  let routed: { region: string, url: string }
  try {
    routed = await router.authorizationUrl({
      redirectUri: `${gw.config.issuer}/callback/${encodeURIComponent(router.id)}`,
      state: tx.state,
      nonce: tx.nonce,
      ...(tx.verifier ? { codeChallenge: hash('sha256', tx.verifier, 'base64url') } : {}),
      ...(forced ? { reauthenticate: true } : {}),
      ...(request.maxAge !== undefined ? { maxAge: request.maxAge } : {}),
      ...(request.loginHint ? { loginHint: request.loginHint } : {}),
    })
  } catch (err) {
    if (!isUnderstudyError(err)) throw err
    log.warn({ err, provider: router.id }, 'upstream cannot start a login')
    throw new OAuthError('temporarily_unavailable', 'the login provider is unavailable; try again shortly', { cause: err, retryAfter: retryAfter(gw, router.id) })
  }
  const sealed = seal(gw.keys, 'tx', { ...tx, region: routed.region }, now + TRANSACTION_LIFETIME)
  return { location: routed.url, cookies: [{ name: gw.cookies.transaction(tx.state), value: sealed, maxAge: TRANSACTION_LIFETIME }], upstream: true }
}

/**
 * Seconds until the provider's breakers may let a trial through: the guidance
 * given with temporarily_unavailable. It reads the live policies (a PATCH
 * through the admin API changes them), and the soonest region wins.
 */
export function retryAfter (gw: Gateway, provider: string): number {
  const resetTimeouts = gw.breakers.forProvider(provider).map((breaker) => breaker.policy.resetTimeout)
  return Math.max(1, Math.ceil(resetTimeouts.length === 0 ? DEFAULT_RETRY_AFTER : Math.min(...resetTimeouts)))
}

/**
 * Checks client and redirect_uri first: until both are known good, errors are
 * shown to the user, never redirected (RFC 6749 §4.1.2.1). After that, errors
 * go back to the relying party with state and iss.
 */
export function validateAuthorizationRequest (gw: Gateway, params: Params): AuthorizationRequest {
  const clientId = params.get('client_id')
  const client = gw.clients.get(clientId)
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
  const target = { redirectUri, ...(state === undefined ? {} : { state }) }
  try {
    return validateRest(gw, params, client, redirectUri, state)
  } catch (err) {
    throw err instanceof OAuthError ? err.redirectTo(target) : err
  }
}

function validateRest (gw: Gateway, params: Params, client: Client, redirectUri: string, state: string | undefined): AuthorizationRequest {
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
  if (!gw.upstreams.has(provider)) throw new OAuthError('invalid_request', 'unknown provider')

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
