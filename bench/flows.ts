import { randomBytes } from 'node:crypto'
import { pkcePair, type Pkce } from '../harness/pkce.js'
import { CookieJar, expectStatus, location, type Http, type Reply } from './lib/http.js'

/** The relying parties' redirect URIs; nothing listens there: flows stop at the redirect. */
export const RP = 'http://127.0.0.1:1/rp'

/** A confidential client registered at both the gateway and the peer. */
export interface BenchClient { clientId: string, clientSecret: string, redirectUri: string }

export const SHOP: BenchClient = { clientId: 'shop', clientSecret: 'shop-secret', redirectUri: `${RP}/shop/cb` }
/** The same relying party with an opaque access token (`accessTokenFormat: opaque`; at the peer, its opaque format): the like-for-like pair. */
export const SHOP_OPAQUE: BenchClient = { clientId: 'shop-opaque', clientSecret: 'shop-opaque-secret', redirectUri: `${RP}/shop-opaque/cb` }
/** maxStaleness 1 s: its logins are `outage-only` a second after the upstream vouched for the user. */
export const CACHED: BenchClient = { clientId: 'outage', clientSecret: 'outage-secret', redirectUri: `${RP}/outage/cb` }

const SCOPE = 'openid profile email'

// One virtual user keeps a fixed PKCE pair (codes are single-use anyway; a fixed pair keeps the driver light).
export { pkcePair, type Pkce }

/** `/authorize` (understudy) or `/auth` (oidc-provider) for `client` with PKCE S256, a fresh state and nonce. */
export function authorizationUrl (endpoint: string, client: BenchClient, pkce: Pkce): string {
  return `${endpoint}?${new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope: SCOPE,
    state: randomBytes(12).toString('base64url'),
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  }).toString()}`
}

/** A returning user's SSO request, built once per user: state and nonce are echoed, not checked, so reusing them costs the server nothing it would not pay anyway. */
export interface SsoUser { url: string, cookie: Record<string, string>, pkce: Pkce }

/** A returning user of the gateway: the same session serves the `shop` and `shop-opaque` clients (SSO) and the `outage` client (cached logins). */
export interface BenchUser { shop: SsoUser, shopOpaque: SsoUser, outage: SsoUser, refreshToken: string, loggedInAt: number }

export function ssoUser (op: { authorize: string }, client: BenchClient, pkce: Pkce, cookie: Record<string, string>): SsoUser {
  return { url: authorizationUrl(op.authorize, client, pkce), cookie, pkce }
}

function basic (client: BenchClient): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}` }
}

/** The code in a redirect to the relying party; throws on an error redirect. */
export function codeFrom (reply: Reply, from: string, client: BenchClient): string {
  const to = location(reply, from)
  if (!to.startsWith(client.redirectUri)) throw new Error(`expected a redirect to the relying party, got ${to.slice(0, 200)}`)
  // The code is base64url (or, at the peer, URL-safe): cut it out rather than parse the query.
  const at = to.indexOf('code=')
  if (at < 0) {
    const params = new URLSearchParams(to.slice(to.indexOf('?') + 1))
    throw new Error(`no code: ${params.get('error') ?? ''} ${params.get('error_description') ?? ''}`)
  }
  const end = to.indexOf('&', at)
  return decodeURIComponent(to.slice(at + 5, end < 0 ? undefined : end))
}

export interface Tokens { id_token: string, access_token: string, refresh_token: string }

/** POST /token with client_secret_basic; answers the token response's body (JSON, parsed by who needs it). */
export async function tokenRequest (http: Http, endpoint: string, client: BenchClient, form: Record<string, string>): Promise<string> {
  const reply = await http.send(endpoint, { form, headers: basic(client) })
  expectStatus(reply, 200, `token (${form.grant_type})`)
  return reply.body
}

export function parseTokens (body: string): Tokens {
  return JSON.parse(body) as Tokens
}

/** What an access token is: a JWS (three segments) or anything else (the gateway's sealed JWE has five, the peer's reference token one). */
export function accessTokenFormat (token: string): 'jwt' | 'opaque' {
  return token.split('.').length === 3 ? 'jwt' : 'opaque'
}

/** The claims of a JWT, unverified (checks of what a flow produced). */
export function claimsOf (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
}

/** A returning user's whole SSO flow: authorize with the session cookie → code → tokens (the JSON body). Two requests. */
export async function ssoFlow (http: Http, op: { token: string }, client: BenchClient, user: SsoUser): Promise<string> {
  const reply = await http.send(user.url, { headers: user.cookie })
  expectStatus(reply, [302, 303], 'authorize')
  const code = codeFrom(reply, user.url, client)
  return tokenRequest(http, op.token, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: user.pkce.verifier })
}

/**
 * A new user's whole federated login through understudy: authorize → the
 * upstream's login form → its callback → code → tokens. Seven requests; the
 * jar ends holding the gateway's session cookie.
 */
export async function understudyFullFlow (http: Http, gateway: string, client: BenchClient, pkce: Pkce, jar: CookieJar, login: string): Promise<Tokens> {
  let url = authorizationUrl(`${gateway}/authorize`, client, pkce)
  let reply = await jar.send(http, url)
  expectStatus(reply, 302, 'authorize')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 303, 'upstream auth')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 200, 'upstream login form')
  url = `${url}/login`
  reply = await jar.send(http, url, { form: { login } })
  expectStatus(reply, 303, 'upstream login')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 303, 'upstream resume')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 302, 'gateway callback')
  const code = codeFrom(reply, url, client)
  return parseTokens(await tokenRequest(http, `${gateway}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: pkce.verifier }))
}

/** A new user's whole code flow at the peer: auth → auto-completing interaction → resume → code → tokens. Four requests. */
export async function peerFullFlow (http: Http, issuer: string, client: BenchClient, pkce: Pkce, jar: CookieJar): Promise<Tokens> {
  let url = authorizationUrl(`${issuer}/auth`, client, pkce)
  let reply = await jar.send(http, url)
  expectStatus(reply, 303, 'peer auth')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 303, 'peer interaction')
  url = location(reply, url)
  reply = await jar.send(http, url)
  expectStatus(reply, 303, 'peer resume')
  const code = codeFrom(reply, url, client)
  return parseTokens(await tokenRequest(http, `${issuer}/token`, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: pkce.verifier }))
}

/** One rotation of a refresh-token chain; answers the next refresh token. One request. */
export async function refreshOnce (http: Http, tokenEndpoint: string, client: BenchClient, refreshToken: string): Promise<string> {
  return parseTokens(await tokenRequest(http, tokenEndpoint, client, { grant_type: 'refresh_token', refresh_token: refreshToken })).refresh_token
}
