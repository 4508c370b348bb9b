import { decodeJwt, decodeProtectedHeader } from 'jose'
import { Agent, fetch as fetchFrom } from 'undici'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { pkcePair } from '../../harness/pkce.js'
import { authorizeUrl, browserLogin, CLIENTS, redirectParams, type Stack } from './stack.js'

/** Helpers for protocol-level e2e tests: raw HTTP to the gateway, PKCE, logins and token requests. */

export { pkcePair }

export type ClientName = keyof typeof CLIENTS

/** An answer from the gateway, with the JSON body parsed when there is one. */
export interface Reply {
  status: number
  headers: Headers
  text: string
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: any
  location?: string
}

export interface RequestOptions {
  method?: string
  form?: Record<string, string>
  body?: string | Buffer
  headers?: Record<string, string>
  /** The local address the request leaves from (any of 127.0.0.0/8 on Linux), so that one test can be several clients. */
  from?: string
}

const agents = new Map<string, Agent>()

/** One request to the gateway over real HTTP; redirects are not followed. */
export async function request (stack: Stack, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers }
  let body: string | Buffer | undefined = options.body
  if (options.form) {
    body = new URLSearchParams(options.form).toString()
    headers['content-type'] ??= 'application/x-www-form-urlencoded'
  }
  const method = options.method ?? (body === undefined ? 'GET' : 'POST')
  const init = { method, headers, ...(body === undefined ? {} : { body }), redirect: 'manual' as const }
  let response: Response
  if (options.from === undefined) {
    response = await fetch(new URL(path, stack.issuer), init)
  } else {
    let agent = agents.get(options.from)
    if (agent === undefined) agents.set(options.from, (agent = new Agent({ localAddress: options.from })))
    response = await fetchFrom(new URL(path, stack.issuer), { ...init, dispatcher: agent }) as unknown as Response
  }
  const text = await response.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  const location = response.headers.get('location')
  return { status: response.status, headers: response.headers, text, json, ...(location ? { location } : {}) }
}

/** `Authorization: Basic` with the id and secret form-urlencoded first (RFC 6749 §2.3.1). */
export function basic (id: string, secret: string, encode: (s: string) => string = (s) => new URLSearchParams({ s }).toString().slice(2)): string {
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`
}

/** How a test client authenticates itself at the back-channel endpoints: Basic for confidential clients, client_id for public ones. */
export function clientAuth (client: ClientName): { headers: Record<string, string>, form: Record<string, string> } {
  const registered = CLIENTS[client]
  if ('clientSecret' in registered) return { headers: { authorization: basic(registered.clientId, registered.clientSecret) }, form: {} }
  return { headers: {}, form: { client_id: registered.clientId } }
}

/** A POST to a back-channel endpoint (token, revoke, introspect) authenticated as `client`. */
export async function backChannel (stack: Stack, path: string, client: ClientName, form: Record<string, string>): Promise<Reply> {
  const auth = clientAuth(client)
  return request(stack, path, { form: { ...auth.form, ...form }, headers: auth.headers })
}

export interface CodeResult {
  browser: Browser
  code: string
  /** The query of the redirect to the relying party. */
  params: URLSearchParams
  landed: BrowserResponse
}

/**
 * Logs `user` in through the upstream (or by SSO when `browser` has a session)
 * and returns the code the relying party received. `params` are added to the
 * authorization request of `client`.
 */
export async function authorizeCode (stack: Stack, client: ClientName, params: Record<string, string> = {}, options: { browser?: Browser, user?: string } = {}): Promise<CodeResult> {
  const browser = options.browser ?? new Browser()
  const landed = await browserLogin(browser, authorizeUrl(stack.issuer, client, params), options.user ?? 'alice')
  const query = redirectParams(landed)
  const code = query.get('code')
  if (!code) throw new Error(`no code in ${landed.location}`)
  return { browser, code, params: query, landed }
}

export interface TokenSet {
  access_token: string
  id_token: string
  refresh_token: string
  token_type: string
  expires_in: number
  scope: string
}

/** Redeems a code of `client` (with its registered redirect_uri) and expects tokens. */
export async function redeemCode (stack: Stack, client: ClientName, code: string, extra: Record<string, string> = {}): Promise<TokenSet> {
  const reply = await backChannel(stack, '/token', client, { grant_type: 'authorization_code', code, redirect_uri: CLIENTS[client].redirectUris[0]!, ...extra })
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`)
  return reply.json as TokenSet
}

/** A complete login of `client` with PKCE: code, then tokens. */
export async function login (stack: Stack, client: ClientName, params: Record<string, string> = {}, options: { browser?: Browser, user?: string } = {}): Promise<CodeResult & { tokens: TokenSet }> {
  const { verifier, challenge } = pkcePair()
  const result = await authorizeCode(stack, client, { code_challenge: challenge, code_challenge_method: 'S256', ...params }, options)
  const tokens = await redeemCode(stack, client, result.code, { code_verifier: verifier })
  return { ...result, tokens }
}

/** A refresh grant for `client`. */
export async function refresh (stack: Stack, client: ClientName, refreshToken: string): Promise<Reply> {
  return backChannel(stack, '/token', client, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

/** What /introspect tells `client` about `token` (the JSON body). */
export async function introspectionOf (stack: Stack, client: ClientName, token: string): Promise<Record<string, unknown>> {
  const reply = await backChannel(stack, '/introspect', client, { token })
  if (reply.status !== 200) throw new Error(`introspection failed: ${reply.status} ${reply.text}`)
  return reply.json as Record<string, unknown>
}

/** GET /userinfo with a bearer token. */
export async function userinfo (stack: Stack, accessToken: string): Promise<Reply> {
  return request(stack, '/userinfo', { headers: { authorization: `Bearer ${accessToken}` } })
}

/** The claims of a JWT, unverified (tests check the signature separately where it matters). */
export function claimsOf (jwt: string): Record<string, unknown> {
  return decodeJwt(jwt)
}

/** The protected header of a JWT. */
export function headerOf (jwt: string): Record<string, unknown> {
  return decodeProtectedHeader(jwt)
}

/** Flips one bit of the character at `index` of a compact token, keeping it in the base64url alphabet. */
export function flipChar (token: string, index: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const at = ((index % token.length) + token.length) % token.length
  const current = alphabet.indexOf(token[at]!)
  if (current < 0) return token.slice(0, at) + 'A' + token.slice(at + 1)
  return token.slice(0, at) + alphabet[current ^ 1] + token.slice(at + 1)
}

/** The session cookie the gateway set in `browser`. */
export function sessionCookie (stack: Stack, browser: Browser): string | undefined {
  return browser.cookie(stack.issuer, stack.gateway.gateway.cookies.session)
}
