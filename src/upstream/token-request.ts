import { UnderstudyError } from '../errors.js'
import type { UpstreamCodeExchange } from './connector.js'
import { upstreamJson } from './http.js'

/** How the gateway authenticates to an upstream token endpoint. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post'

/** The client authentication methods the gateway speaks, in its order of preference. */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post']

/** The tokens an upstream token endpoint returned. */
export interface UpstreamTokens {
  accessToken?: string
  refreshToken?: string
  idToken?: string
}

export interface RedeemOptions {
  clientId: string
  clientSecret?: string
  authMethod: ClientAuthMethod
  /** Send the code verifier (the provider's `pkce` setting). */
  pkce: boolean
  timeoutMs: number
}

/**
 * Redeems an authorization code at `endpoint`: one POST, never retried, because
 * a code is single-use and a retry after the request left could only fail or, worse, succeed twice.
 */
export async function redeemCode (endpoint: string, exchange: UpstreamCodeExchange, options: RedeemOptions): Promise<UpstreamTokens> {
  return postToken(endpoint, {
    grant_type: 'authorization_code',
    code: exchange.code,
    redirect_uri: exchange.redirectUri,
    code_verifier: options.pkce ? exchange.codeVerifier : undefined,
  }, options, exchange.signal, 'token')
}

/** Uses an upstream refresh token (background revalidation): proof that the upstream still vouches for the user. */
export async function refreshUpstream (endpoint: string, refreshToken: string, options: RedeemOptions, signal?: AbortSignal): Promise<UpstreamTokens> {
  const tokens = await postToken(endpoint, { grant_type: 'refresh_token', refresh_token: refreshToken }, options, signal, 'refresh')
  return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken }
}

async function postToken (endpoint: string, form: Record<string, string | undefined>, options: RedeemOptions, signal: AbortSignal | undefined, operation: string): Promise<UpstreamTokens> {
  const headers: Record<string, string> = {}
  if (options.clientSecret === undefined) {
    form.client_id = options.clientId
  } else if (options.authMethod === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`
  } else {
    form.client_id = options.clientId
    form.client_secret = options.clientSecret
  }
  const body = await upstreamJson(endpoint, { method: 'POST', form, headers, signal, timeoutMs: options.timeoutMs, operation })
  const tokens: UpstreamTokens = {
    accessToken: optionalString(body, 'access_token'),
    refreshToken: optionalString(body, 'refresh_token'),
    idToken: optionalString(body, 'id_token'),
  }
  if (tokens.accessToken === undefined && tokens.idToken === undefined) throw invalid('the token response has neither access_token nor id_token')
  return tokens
}

/** Picks the auth method: the configured one, else the first the upstream advertises that we speak, else basic (RFC 8414's default). */
export function chooseAuthMethod (configured: ClientAuthMethod | undefined, advertised: readonly string[] | undefined): ClientAuthMethod {
  if (configured !== undefined) return configured
  return advertised?.find((method): method is ClientAuthMethod => (CLIENT_AUTH_METHODS as readonly string[]).includes(method)) ?? 'client_secret_basic'
}

// RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
function formEncode (value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}

function optionalString (body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length === 0) throw invalid(`the token response's ${key} is not a string`)
  return value
}

function invalid (message: string): UnderstudyError {
  return new UnderstudyError('US_ERR_UPSTREAM_INVALID', message, { details: { operation: 'token' } })
}
