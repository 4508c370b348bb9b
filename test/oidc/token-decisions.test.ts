import { hash } from 'node:crypto'
import { decodeJwt } from 'jose'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import type { AuthorizationRequest } from '../../src/oidc/authorization-request.js'
import { issueCode } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { token, type TokenResponse } from '../../src/oidc/token.js'
import { userinfo } from '../../src/oidc/userinfo.js'
import { ACR_BACKUP, ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import type { Session } from '../../src/sessions/session.js'
import { MAX_STALENESS, OUTAGE_MAX_STALENESS, SHOP, SPA, fatal, transient, unit, type Unit } from '../helpers/oidc-unit.js'

const H = MAX_STALENESS
const D = OUTAGE_MAX_STALENESS
const VERIFIER = 'v'.repeat(43)

/** The shop's authorization request, as authorize validated it. */
function request (extra: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return { clientId: SHOP.clientId, redirectUri: SHOP.redirectUri, scope: 'openid email', prompt: [], provider: 'idp', nonce: 'rp-nonce', ...extra }
}

/** A token request by `client` (the shop unless named). */
async function grant (u: Unit, params: Record<string, string>, client = SHOP.clientId): Promise<TokenResponse> {
  return token(u.deps, params, u.deps.clients.get(client)!, silentLogger)
}

/** The tokens of an authorization_code grant for `session`. */
async function tokensFor (u: Unit, session: Session, acr = ACR_UPSTREAM): Promise<TokenResponse> {
  return grant(u, { grant_type: 'authorization_code', code: issueCode(u.deps, request(), session, acr), redirect_uri: SHOP.redirectUri })
}

/** A token response in words (its ID token's acr, the access token's lifetime), or the error. */
async function described (outcome: Promise<TokenResponse>): Promise<string> {
  try {
    const response = await outcome
    const idToken = decodeJwt(response.id_token)
    return `acr=${idToken.acr === ACR_UPSTREAM ? 'upstream' : idToken.acr === ACR_CACHED ? 'cached' : String(idToken.acr)} expires_in=${response.expires_in}`
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.error
  }
}

t.test('the authorization_code grant checks the code\'s client, redirect URI, PKCE and lifetime', async (t) => {
  const challenge = hash('sha256', VERIFIER, 'base64url')
  const cases: Array<[string, { challenge?: string, params?: Record<string, string | undefined>, client?: string, later?: number }, string]> = [
    ['the code as issued', {}, 'acr=upstream expires_in=600'],
    ['a code of another client', { client: SPA.clientId }, 'invalid_grant'],
    ['no redirect_uri', { params: { redirect_uri: undefined } }, 'invalid_grant'],
    ['another redirect_uri', { params: { redirect_uri: 'https://shop.test/other' } }, 'invalid_grant'],
    ['a code that does not open', { params: { code: 'not-a-code' } }, 'invalid_grant'],
    ['the code a second past its lifetime', { later: 61 }, 'invalid_grant'],
    ['the code within its lifetime', { later: 59 }, 'acr=upstream expires_in=600'],
    ['a challenge and its verifier', { challenge, params: { code_verifier: VERIFIER } }, 'acr=upstream expires_in=600'],
    ['a challenge and no verifier', { challenge }, 'invalid_grant'],
    ['a challenge and another verifier', { challenge, params: { code_verifier: 'w'.repeat(43) } }, 'invalid_grant'],
    ['a challenge and a malformed verifier', { challenge, params: { code_verifier: 'short' } }, 'invalid_grant'],
    ['no challenge and a verifier (a downgrade)', { params: { code_verifier: VERIFIER } }, 'invalid_grant'],
  ]
  for (const [name, c, expected] of cases) {
    const u = await unit()
    const code = issueCode(u.deps, request(c.challenge === undefined ? {} : { codeChallenge: c.challenge }), u.session(), ACR_UPSTREAM)
    u.clock.advance(c.later ?? 0)
    const params = Object.fromEntries(Object.entries({ grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri, ...c.params }).filter((e): e is [string, string] => e[1] !== undefined))
    t.equal(await described(grant(u, params, c.client)), expected, name)
  }
})

t.test('a cached login\'s access and ID tokens live at most tokens.degraded', async (t) => {
  const u = await unit()
  for (const [acr, expected] of [[ACR_UPSTREAM, { access: 600, id: 3600 }], [ACR_CACHED, { access: 300, id: 300 }]] as const) {
    const response = await tokensFor(u, u.session(), acr)
    const idToken = decodeJwt(response.id_token)
    t.same({ access: response.expires_in, id: idToken.exp! - idToken.iat! }, expected, acr)
    t.equal(idToken.nonce, 'rp-nonce', `${acr}: the ID token answers the request's nonce`)
  }
})

t.test('a reused code is refused and revokes what its first redemption issued', async (t) => {
  const u = await unit()
  const code = issueCode(u.deps, request(), u.session(), ACR_UPSTREAM)
  const params = { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri }
  const first = await grant(u, params)
  t.equal(await described(grant(u, params)), 'invalid_grant', 'the second redemption')
  t.equal(await described(grant(u, { grant_type: 'refresh_token', refresh_token: first.refresh_token })), 'invalid_grant', 'the first redemption\'s refresh token')
  const revoked = await userinfo(u.deps, `Bearer ${first.access_token}`, undefined).catch((e: unknown) => e)
  t.ok(revoked instanceof OAuthError && revoked.error === 'invalid_token', 'the first redemption\'s access token')
})

t.test('a code whose session was logged out gives no tokens', async (t) => {
  const u = await unit()
  const session = u.session()
  const code = issueCode(u.deps, request(), session, ACR_UPSTREAM)
  await u.store.revoke(session.sid, u.deps.sessionLifetime)
  t.equal(await described(grant(u, { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri })), 'invalid_grant')
})

t.test('a refresh is served fresh, revalidated, cached or refused as the grant\'s age and the upstream decide', async (t) => {
  interface Case { age: number, upstream: 'vouches' | 'breakers open' | 'times out' | 'refuses', noUpstreamToken?: true, expected: string, asked: number }
  const cases: Array<[string, Case]> = [
    ['within maxStaleness: the upstream is not asked', { age: 600, upstream: 'vouches', expected: 'acr=upstream expires_in=600', asked: 0 }],
    ['exactly maxStaleness: the upstream is not asked', { age: H, upstream: 'vouches', expected: 'acr=upstream expires_in=600', asked: 0 }],
    ['past maxStaleness, the upstream vouches: revalidated', { age: 2 * H, upstream: 'vouches', expected: 'acr=upstream expires_in=600', asked: 1 }],
    ['past maxStaleness, every breaker open: a cached login, short-lived', { age: 2 * H, upstream: 'breakers open', expected: 'acr=cached expires_in=300', asked: 0 }],
    ['past maxStaleness, the upstream times out: a cached login', { age: 2 * H, upstream: 'times out', expected: 'acr=cached expires_in=300', asked: 1 }],
    ['past maxStaleness, the upstream refuses: the grant ends', { age: 2 * H, upstream: 'refuses', expected: 'invalid_grant', asked: 1 }],
    ['past maxStaleness, no upstream refresh token to ask with: the grant ends', { age: 2 * H, upstream: 'vouches', noUpstreamToken: true, expected: 'invalid_grant', asked: 0 }],
    ['exactly outageMaxStaleness, every breaker open: a cached login', { age: D, upstream: 'breakers open', expected: 'acr=cached expires_in=300', asked: 0 }],
    ['past outageMaxStaleness: the grant ends, the upstream not asked', { age: D + 1, upstream: 'vouches', expected: 'invalid_grant', asked: 0 }],
    ['past outageMaxStaleness, every breaker open: the grant ends', { age: D + 1, upstream: 'breakers open', expected: 'invalid_grant', asked: 0 }],
  ]
  for (const [name, c] of cases) {
    const u = await unit()
    const issued = await tokensFor(u, u.session(c.noUpstreamToken ? {} : { upstreamRefreshToken: 'upstream-rt-1' }))
    u.clock.advance(c.age)
    if (c.upstream === 'breakers open') u.router.up = false
    if (c.upstream === 'times out') u.router.onRefresh = async () => { throw transient() }
    if (c.upstream === 'refuses') u.router.onRefresh = async () => { throw fatal() }
    t.equal(await described(grant(u, { grant_type: 'refresh_token', refresh_token: issued.refresh_token })), c.expected, name)
    t.equal(u.router.calls.refresh.length, c.asked, `${name}: the upstream asked ${c.asked} times`)
  }
})

t.test('a revalidated grant is fresh again and keeps its auth_time; a cached one is asked again at the next refresh', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, u.session({ authAgo: 600, upstreamRefreshToken: 'upstream-rt-1' }))
  const authTime = decodeJwt(issued.id_token).auth_time
  u.clock.advance(2 * H)
  u.router.up = false
  const cached = await grant(u, { grant_type: 'refresh_token', refresh_token: issued.refresh_token })
  t.equal(decodeJwt(cached.id_token).acr, ACR_CACHED)
  u.router.up = true
  const revalidated = await grant(u, { grant_type: 'refresh_token', refresh_token: cached.refresh_token })
  t.equal(decodeJwt(revalidated.id_token).acr, ACR_UPSTREAM, 'the cached grant is revalidated once the upstream is back')
  u.clock.advance(600)
  const again = await grant(u, { grant_type: 'refresh_token', refresh_token: revalidated.refresh_token })
  t.equal(u.router.calls.refresh.length, 1, 'the revalidated grant is fresh: nobody asked')
  t.equal(decodeJwt(again.id_token).auth_time, authTime, 'auth_time stays the upstream login\'s')
})

t.test('a refresh token is rotated: presenting an old one again revokes its family', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, u.session())
  const next = await grant(u, { grant_type: 'refresh_token', refresh_token: issued.refresh_token })
  t.equal(await described(grant(u, { grant_type: 'refresh_token', refresh_token: issued.refresh_token })), 'invalid_grant', 'the old token again')
  t.equal(await described(grant(u, { grant_type: 'refresh_token', refresh_token: next.refresh_token })), 'invalid_grant', 'the rotated token, after the reuse')
})

t.test('a refresh token is bound to its client, its scope and its provider', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, u.session())
  const refresh = (extra: Record<string, string> = {}, client?: string) => grant(u, { grant_type: 'refresh_token', refresh_token: issued.refresh_token, ...extra }, client)
  t.equal(await described(refresh({}, SPA.clientId)), 'invalid_grant', 'presented by another client')
  t.equal(await described(refresh({ scope: 'openid profile' })), 'invalid_scope', 'a wider scope')
  t.equal(await described(refresh({ scope: 'email' })), 'invalid_scope', 'a scope without openid')
  const narrowed = await refresh({ scope: 'openid' })
  t.equal(narrowed.scope, 'openid', 'a narrower scope narrows this response')
  const next = await grant(u, { grant_type: 'refresh_token', refresh_token: narrowed.refresh_token })
  t.equal(next.scope, 'openid email', 'the next refresh has the scope originally granted')
  const gone = await token({ ...u.deps, upstreams: new Map() }, { grant_type: 'refresh_token', refresh_token: next.refresh_token }, u.deps.clients.get(SHOP.clientId)!, silentLogger).catch((e: unknown) => e)
  t.match(gone, { error: 'invalid_grant' }, 'its provider taken out of the config')
})

t.test('an unknown grant type is unsupported_grant_type', async (t) => {
  const u = await unit()
  t.equal(await described(grant(u, { grant_type: 'password' })), 'unsupported_grant_type')
})

t.test('a backup login\'s refresh tokens stay a backup login while fresh, and end at maxStaleness whether the upstream is up or down: nothing upstream can vouch for them', async (t) => {
  const u = await unit()
  const session: Session = { ...u.session(), claims: {}, amr: ['hwk', 'user'], backup: { method: 'passkey', id: 'alice-passkey' } }
  const first = await tokensFor(u, session, ACR_BACKUP)
  t.equal(decodeJwt(first.id_token).acr, ACR_BACKUP, 'the code\'s acr')
  u.clock.advance(H - 10)
  const fresh = await grant(u, { grant_type: 'refresh_token', refresh_token: first.refresh_token })
  t.equal(decodeJwt(fresh.id_token).acr, ACR_BACKUP, 'a refresh within maxStaleness keeps acr backup (never upstream)')
  u.clock.advance(20)
  t.equal(await described(grant(u, { grant_type: 'refresh_token', refresh_token: fresh.refresh_token })), 'invalid_grant', 'past maxStaleness with the upstream up: log in again')
  t.same(u.router.calls.refresh, [], 'the upstream is never asked about a backup login')
  const down = await unit()
  const second = await tokensFor(down, { ...down.session(), backup: { method: 'passkey', id: 'alice-passkey' } }, ACR_BACKUP)
  down.router.up = false
  down.clock.advance(H + 10)
  t.equal(await described(grant(down, { grant_type: 'refresh_token', refresh_token: second.refresh_token })), 'invalid_grant', 'past maxStaleness with the upstream down: not a cached login either')
})
