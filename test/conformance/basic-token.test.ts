import t, { type Test } from 'tap'
import { validIdToken, validTokenResponse } from '../helpers/conformance.js'
import { Browser } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { authorizeCode, backChannel, introspectionOf, login, pkcePair, refresh, userinfo, type ClientName, type Reply } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/** OIDF basic OP plan, the token endpoint's modules: code reuse, refresh, PKCE (each test is named after its module). */

const clock = testClock()
let stack: Stack
let browser: Browser
t.before(async () => {
  stack = await startStack({ now: clock.now })
  browser = (await login(stack, 'shop')).browser
})
t.teardown(async () => stack.close())

async function code (client: ClientName = 'shop', params: Record<string, string> = {}, using = browser): Promise<string> {
  return (await authorizeCode(stack, client, params, { browser: using })).code
}

async function redeem (client: ClientName, form: Record<string, string>): Promise<Reply> {
  return backChannel(stack, '/token', client, { grant_type: 'authorization_code', redirect_uri: CLIENTS[client].redirectUris[0]!, ...form })
}

function invalidGrant (t: Test, reply: Reply, message: string): void {
  t.equal(reply.status, 400, `${message}: 400`)
  t.equal(reply.json?.error, 'invalid_grant', `${message}: invalid_grant`)
  t.equal(reply.headers.get('cache-control'), 'no-store', `${message}: not cached`)
}

/** Redeems a code, lets `seconds` pass on the gateway's clock, redeems it again: refused, and what the first redemption issued is revoked. */
async function codeReuse (t: Test, seconds: number): Promise<void> {
  const reused = await code()
  const first = await redeem('shop', { code: reused })
  validTokenResponse(t, first, 'the first redemption')
  clock.advance(seconds)
  // Back afterwards: the other modules check the ID token's iat against the real time.
  t.teardown(() => clock.advance(-seconds))
  invalidGrant(t, await redeem('shop', { code: reused }), 'the second redemption')
  t.equal((await userinfo(stack, first.json.access_token)).status, 401, 'the first access token no longer works at userinfo')
  t.same(await introspectionOf(stack, 'shop', first.json.access_token), { active: false }, 'introspection: inactive')
  invalidGrant(t, await refresh(stack, 'shop', first.json.refresh_token), 'the first refresh token')
}

t.test('oidcc-codereuse: a code redeemed twice at once is refused the second time and revokes the first tokens', async (t) => {
  await codeReuse(t, 0)
})

// The module waits 30 s to catch single-use guards that forget too soon; here the gateway's clock moves
// 30 s on instead (the code lives tokens.code, 60 s by default).
t.test('oidcc-codereuse-30seconds: a code redeemed again 30 s later is refused and revokes the first tokens', async (t) => {
  await codeReuse(t, 30)
})

t.test('oidcc-refresh-token: a refresh keeps iss, sub, aud and auth_time, drops the nonce, and is refused to another client', async (t) => {
  const { tokens } = await login(stack, 'shop', { nonce: 'n-refresh' }, { browser })
  const before = await validIdToken(t, stack, tokens.id_token, { client: 'shop', nonce: 'n-refresh', accessToken: tokens.access_token })
  invalidGrant(t, await refresh(stack, 'news', tokens.refresh_token), 'the refresh token presented by another client')
  const reply = await refresh(stack, 'shop', tokens.refresh_token)
  validTokenResponse(t, reply, 'the refresh response')
  t.type(reply.json.refresh_token, 'string', 'a new refresh token')
  const after = await validIdToken(t, stack, reply.json.id_token, { client: 'shop', accessToken: reply.json.access_token })
  for (const claim of ['iss', 'sub', 'aud', 'auth_time', 'acr']) t.same(after[claim], before[claim], `${claim} is kept`)
  t.equal((await userinfo(stack, reply.json.access_token)).json.sub, before.sub, 'the new access token works')
  invalidGrant(t, await refresh(stack, 'shop', tokens.refresh_token), 'the rotated-out refresh token')
})

t.test('oidcc-ensure-request-with-valid-pkce-succeeds: an S256 challenge and its verifier redeem the code', async (t) => {
  const { verifier, challenge } = pkcePair()
  const reply = await redeem('shop', { code: await code('shop', { code_challenge: challenge, code_challenge_method: 'S256' }), code_verifier: verifier })
  validTokenResponse(t, reply)
})

t.test('PKCE is required where it matters (oidcc-ensure-pkce-* style): the public client, plain, a missing or wrong verifier', async (t) => {
  const spaCb = CLIENTS.spa.redirectUris[0]!
  const spa = await new Browser().fetch(`${stack.issuer}/authorize?${new URLSearchParams({ client_id: 'spa', redirect_uri: spaCb, response_type: 'code', scope: 'openid', state: 'pkce' })}`)
  const refused = new URL(spa.location!).searchParams
  t.equal(refused.get('error'), 'invalid_request', 'a public client without a challenge is refused at the authorization endpoint')
  t.equal(refused.get('state'), 'pkce')
  const plain = await new Browser().fetch(`${stack.issuer}/authorize?${new URLSearchParams({ client_id: 'shop', redirect_uri: CLIENTS.shop.redirectUris[0]!, response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' })}`)
  t.equal(new URL(plain.location!).searchParams.get('error'), 'invalid_request', 'plain is refused: S256 only')
  const { verifier, challenge } = pkcePair()
  const withChallenge = await code('shop', { code_challenge: challenge, code_challenge_method: 'S256' })
  invalidGrant(t, await redeem('shop', { code: withChallenge }), 'no verifier')
  invalidGrant(t, await redeem('shop', { code: withChallenge, code_verifier: pkcePair().verifier }), 'another verifier')
  validTokenResponse(t, await redeem('shop', { code: withChallenge, code_verifier: verifier }), 'the right verifier (the code was not spent by the failures)')
})

t.test('a code is redeemed only with the redirect_uri it was issued for', async (t) => {
  const issued = await code()
  invalidGrant(t, await redeem('shop', { code: issued, redirect_uri: `${CLIENTS.shop.redirectUris[0]}?x=1` }), 'an added query')
  invalidGrant(t, await redeem('news', { code: issued, redirect_uri: CLIENTS.shop.redirectUris[0]! }), 'another client')
  validTokenResponse(t, await redeem('shop', { code: issued }))
})
