import { hash } from 'node:crypto'
import { decodeProtectedHeader } from 'jose'
import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { Browser } from '../../harness/browser.js'
import { admin, ADMIN } from '../helpers/admin.js'
import { testClock } from '../helpers/clock.js'
import { introspectionOf, login, userinfo, type Reply } from '../helpers/oidc.js'
import { authorizationRequest, discoverClient } from '../helpers/relying-party.js'
import { browserLogin, CLIENTS, startStack, type Stack } from '../helpers/stack.js'

// Every test client is registered with accessTokenFormat: opaque; openid-client
// is the relying party. The gateway runs on a clock the test moves, so tokens
// expire and logins grow stale without waiting.
const HOUR = 3600
const clock = testClock()
let stack: Stack
t.before(async () => {
  stack = await startStack({
    now: clock.now,
    clientOverrides: { accessTokenFormat: 'opaque' },
    config: { admin: ADMIN, sessions: { maxStaleness: '1h', outageMaxStaleness: '1d' } },
  })
})
t.teardown(async () => stack.close())

/** Code + PKCE with openid-client as `client`, in `browser`. */
async function rpLogin (browser: Browser, client: 'shop' | 'news', user: string) {
  const config = await discoverClient(stack.issuer, client)
  const { url, checks } = await authorizationRequest(config, client)
  const landed = await browserLogin(browser, url, user)
  const tokens = await oidc.authorizationCodeGrant(config, new URL(landed.location!), checks)
  return { config, tokens, claims: tokens.claims()! }
}

/** The access token as usable, in words: what userinfo answers and whether introspection calls it active. */
async function usable (accessToken: string, client: 'shop' | 'news' = 'shop'): Promise<string> {
  const info = await userinfo(stack, accessToken)
  return `userinfo ${info.status}${info.status === 200 ? '' : ` ${refusal(info)}`}, active ${String((await introspectionOf(stack, client, accessToken)).active)}`
}

/** A 401's error and whether it challenges Bearer, as `invalid_token Bearer`. */
function refusal (reply: Reply): string {
  return `${String(reply.json?.error)} ${reply.headers.get('www-authenticate')?.split(' ')[0] ?? 'no-challenge'}`
}

const ACTIVE = 'userinfo 200, active true'
const REFUSED = 'userinfo 401 invalid_token Bearer, active false'

function isOpaque (t: Test, accessToken: string): void {
  t.equal(accessToken.split('.').length, 5, 'a compact JWE (five segments), not a JWS')
  t.match(decodeProtectedHeader(accessToken), { alg: 'dir', enc: 'A256GCM' }, 'sealed, not signed')
  t.notOk('typ' in decodeProtectedHeader(accessToken), 'no at+jwt type')
}

t.test('openid-client gets an opaque access token that works at userinfo, introspection and revocation, and is refused once revoked', async (t) => {
  const { config, tokens, claims } = await rpLogin(new Browser(), 'shop', 'opal')
  isOpaque(t, tokens.access_token)
  t.equal(tokens.expires_in, 600)
  t.equal(claims.at_hash, hash('sha256', tokens.access_token, 'buffer').subarray(0, 16).toString('base64url'), 'the ID token\'s at_hash is over the opaque string')

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
  t.same({ sub: info.sub, email: info.email }, { sub: claims.sub, email: 'opal@example.com' }, 'userinfo')
  const seen = await oidc.tokenIntrospection(config, tokens.access_token)
  t.match(seen, { active: true, token_type: 'Bearer', sub: claims.sub, client_id: 'shop', scope: 'openid profile email', iss: stack.issuer, aud: stack.issuer, acr: 'urn:understudy:acr:upstream', auth_time: claims.auth_time }, 'introspection')
  t.equal(seen.exp! - seen.iat!, 600, 'introspection: it lives tokens.accessToken')
  t.equal(await usable(tokens.access_token, 'news'), 'userinfo 200, active false', 'another client introspecting it is told nothing')

  await oidc.tokenRevocation(config, tokens.access_token)
  t.equal(await usable(tokens.access_token), REFUSED, 'revoked')
  const refused = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).then(() => 'accepted', (err: unknown) => err instanceof oidc.WWWAuthenticateChallengeError ? `${err.status} ${err.cause[0]?.scheme} ${err.cause[0]?.parameters.error}` : String(err))
  t.equal(refused, '401 bearer invalid_token', 'openid-client reads the challenge')
})

t.test('the token response names the opaque token Bearer, and it is refused from its exp on the gateway\'s clock', async (t) => {
  t.teardown(() => clock.advance(-600))
  const { tokens } = await login(stack, 'shop', {}, { user: 'otto' })
  t.equal(tokens.token_type, 'Bearer')
  isOpaque(t, tokens.access_token)
  clock.advance(599)
  t.equal(await usable(tokens.access_token), ACTIVE, 'a second before exp')
  clock.advance(1)
  t.equal(await usable(tokens.access_token), REFUSED, 'at exp')
})

t.test('revoking the refresh token (its family) or logging out makes the opaque access token inactive', async (t) => {
  const revokedFamily = await rpLogin(new Browser(), 'shop', 'olga')
  t.equal(await usable(revokedFamily.tokens.access_token), ACTIVE, 'before the refresh token is revoked')
  await oidc.tokenRevocation(revokedFamily.config, revokedFamily.tokens.refresh_token!)
  t.equal(await usable(revokedFamily.tokens.access_token), REFUSED, 'after the refresh token is revoked')

  const browser = new Browser()
  const loggedOut = await rpLogin(browser, 'shop', 'oscar')
  t.equal(await usable(loggedOut.tokens.access_token), ACTIVE, 'before logout')
  const bye = await browser.fetch(oidc.buildEndSessionUrl(loggedOut.config, { id_token_hint: loggedOut.tokens.id_token!, post_logout_redirect_uri: CLIENTS.shop.postLogoutRedirectUris[0]! }).href)
  t.equal(bye.status, 302, 'logged out')
  t.equal(await usable(loggedOut.tokens.access_token), REFUSED, 'after logout')
})

t.test('a cached login\'s opaque access token lives tokens.degraded and no longer', async (t) => {
  const browser = new Browser()
  await rpLogin(browser, 'shop', 'ophelia')
  clock.advance(2 * HOUR)
  let moved = 2 * HOUR
  t.teardown(async () => {
    clock.advance(-moved)
    for (const region of ['primary', 'secondary']) await admin(stack, 'POST', `/admin/breakers/idp/${region}/close`)
  })
  for (const region of ['primary', 'secondary']) t.equal((await admin(stack, 'POST', `/admin/breakers/idp/${region}/open`)).status, 200, `${region} forced open`)

  const cached = await rpLogin(browser, 'news', 'nobody-else')
  t.equal(cached.claims.acr, 'urn:understudy:acr:cached', 'served from the cached session')
  isOpaque(t, cached.tokens.access_token)
  t.equal(cached.tokens.expires_in, 300, 'expires_in is tokens.degraded')
  const seen = await oidc.tokenIntrospection(cached.config, cached.tokens.access_token)
  t.match(seen, { active: true, acr: 'urn:understudy:acr:cached', client_id: 'news' })
  t.equal(seen.exp! - seen.iat!, 300, 'introspection: it lives tokens.degraded')
  // Held at the last second before exp: a real second ending between the checks must not move it.
  t.teardown(clock.freeze())
  const toLastSecond = seen.exp! - 1 - clock.now()
  clock.advance(toLastSecond)
  moved += toLastSecond + 1
  t.equal(await usable(cached.tokens.access_token, 'news'), ACTIVE, 'a second before tokens.degraded')
  clock.advance(1)
  t.equal(await usable(cached.tokens.access_token, 'news'), REFUSED, 'at tokens.degraded')
})
