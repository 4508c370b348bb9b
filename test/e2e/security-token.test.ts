import t, { type Test } from 'tap'
import { Browser } from '../../harness/browser.js'
import { authorizeCode, backChannel, basic, introspectionOf, login, pkcePair, redeemCode, refresh, request, userinfo, type ClientName, type Reply } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let browser: Browser
t.before(async () => {
  stack = await startStack()
  // One logged-in browser: every further code comes by SSO, without an upstream round trip.
  browser = (await login(stack, 'shop')).browser
})
t.teardown(async () => stack.close())

/** A fresh code of `client` by SSO; `params` are added to the authorization request. */
async function code (client: ClientName = 'shop', params: Record<string, string> = {}): Promise<string> {
  return (await authorizeCode(stack, client, params, { browser })).code
}

/** A code issued with an S256 challenge, and its verifier. */
async function pkceCode (client: ClientName = 'shop'): Promise<{ code: string, verifier: string }> {
  const { verifier, challenge } = pkcePair()
  return { code: await code(client, { code_challenge: challenge, code_challenge_method: 'S256' }), verifier }
}

async function redeem (client: ClientName, form: Record<string, string>): Promise<Reply> {
  return backChannel(stack, '/token', client, { grant_type: 'authorization_code', redirect_uri: CLIENTS[client].redirectUris[0]!, ...form })
}

function oauthError (t: Test, reply: Reply, status: number, error: string, message?: string): void {
  t.equal(reply.status, status, `${message ?? error}: status ${status}`)
  t.equal(reply.json?.error, error, message ?? error)
}

t.test('PKCE downgrades are refused: a verifier without a challenge, a challenge without a verifier, a wrong verifier', async (t) => {
  oauthError(t, await redeem('shop', { code: await code(), code_verifier: pkcePair().verifier }), 400, 'invalid_grant', 'verifier for a code issued without a challenge')
  const withChallenge = await pkceCode()
  oauthError(t, await redeem('shop', { code: withChallenge.code }), 400, 'invalid_grant', 'challenge without a verifier')
  oauthError(t, await redeem('shop', { code: withChallenge.code, code_verifier: pkcePair().verifier }), 400, 'invalid_grant', 'wrong verifier')
  oauthError(t, await redeem('shop', { code: withChallenge.code, code_verifier: withChallenge.verifier.slice(0, 42) }), 400, 'invalid_grant', 'truncated verifier')
  t.equal((await redeem('shop', { code: withChallenge.code, code_verifier: withChallenge.verifier })).status, 200, 'the right verifier redeems the code')
})

t.test('a public client redeems its code with PKCE and client_id only', async (t) => {
  const spaBrowser = (await login(stack, 'spa')).browser
  const { verifier, challenge } = pkcePair()
  const { code: spaCode } = await authorizeCode(stack, 'spa', { code_challenge: challenge, code_challenge_method: 'S256' }, { browser: spaBrowser })
  oauthError(t, await redeem('spa', { code: spaCode }), 400, 'invalid_grant', 'no verifier')
  t.equal((await redeem('spa', { code: spaCode, code_verifier: verifier })).status, 200)
})

t.test('two concurrent redemptions of one code: exactly one succeeds', async (t) => {
  const shared = await code()
  const replies = await Promise.all(Array.from({ length: 5 }, async () => redeem('shop', { code: shared })))
  t.equal(replies.filter((r) => r.status === 200).length, 1, 'exactly one redemption succeeds')
  for (const reply of replies.filter((r) => r.status !== 200)) oauthError(t, reply, 400, 'invalid_grant')
})

t.test('a code is bound to its client', async (t) => {
  const shopCode = await code()
  oauthError(t, await redeem('news', { code: shopCode, redirect_uri: CLIENTS.shop.redirectUris[0]! }), 400, 'invalid_grant', 'another client\'s credentials')
  t.equal((await redeem('shop', { code: shopCode })).status, 200, 'the code still works for its own client')
})

t.test('a code is bound to its redirect_uri', async (t) => {
  const shopCode = await code()
  oauthError(t, await redeem('shop', { code: shopCode, redirect_uri: `${CLIENTS.shop.redirectUris[0]}/` }), 400, 'invalid_grant', 'a different redirect_uri')
  oauthError(t, await redeem('shop', { code: shopCode, redirect_uri: '' }), 400, 'invalid_grant', 'a missing redirect_uri')
  t.equal((await redeem('shop', { code: shopCode })).status, 200, 'the code still works with the right redirect_uri')
})

t.test('a reused code is refused and revokes the tokens of its first redemption', async (t) => {
  const reused = await code()
  const first = await redeemCode(stack, 'shop', reused)
  t.equal((await userinfo(stack, first.access_token)).status, 200, 'the first redemption works')
  oauthError(t, await redeem('shop', { code: reused }), 400, 'invalid_grant', 'the second redemption')
  const info = await userinfo(stack, first.access_token)
  t.equal(info.status, 401, 'the first access token is revoked')
  t.match(info.headers.get('www-authenticate'), /^Bearer /)
  oauthError(t, await refresh(stack, 'shop', first.refresh_token), 400, 'invalid_grant', 'the first refresh token is revoked')
  t.same(await introspectionOf(stack, 'shop', first.access_token), { active: false }, 'introspection: access token inactive')
  t.same(await introspectionOf(stack, 'shop', first.refresh_token), { active: false }, 'introspection: refresh token inactive')
})

t.test('a garbled or foreign code is invalid_grant', async (t) => {
  const good = await code()
  oauthError(t, await redeem('shop', { code: good.slice(0, -3) }), 400, 'invalid_grant', 'truncated')
  oauthError(t, await redeem('shop', { code: 'not-a-code' }), 400, 'invalid_grant', 'not a code')
  const { tokens } = await login(stack, 'shop', {}, { browser })
  oauthError(t, await redeem('shop', { code: tokens.refresh_token }), 400, 'invalid_grant', 'a refresh token is not a code')
})

t.test('a refresh token is bound to its client', async (t) => {
  const { tokens } = await login(stack, 'shop', {}, { browser })
  oauthError(t, await refresh(stack, 'news', tokens.refresh_token), 400, 'invalid_grant', 'presented by another client')
  t.equal((await refresh(stack, 'shop', tokens.refresh_token)).status, 200, 'its own client still refreshes')
})

t.test('refresh tokens rotate and the previous one is then refused', async (t) => {
  const { tokens } = await login(stack, 'shop', {}, { browser })
  const rotated = await refresh(stack, 'shop', tokens.refresh_token)
  t.equal(rotated.status, 200)
  t.ok(rotated.json.refresh_token, 'a new refresh token')
  t.not(rotated.json.refresh_token, tokens.refresh_token, 'it differs from the old one')
  t.ok(rotated.json.id_token, 'a new ID token')
  oauthError(t, await refresh(stack, 'shop', tokens.refresh_token), 400, 'invalid_grant', 'the old refresh token')
})

t.test('a reused refresh token revokes its whole family, the newest tokens included', async (t) => {
  const { tokens } = await login(stack, 'shop', {}, { browser })
  const second = (await refresh(stack, 'shop', tokens.refresh_token)).json
  const third = (await refresh(stack, 'shop', second.refresh_token)).json
  t.ok(third.refresh_token, 'two rotations')
  t.equal((await userinfo(stack, third.access_token)).status, 200)
  oauthError(t, await refresh(stack, 'shop', tokens.refresh_token), 400, 'invalid_grant', 'the reused first token')
  oauthError(t, await refresh(stack, 'shop', third.refresh_token), 400, 'invalid_grant', 'the newest refresh token after the reuse')
  t.equal((await userinfo(stack, third.access_token)).status, 401, 'the newest access token is rejected at userinfo')
  t.equal((await userinfo(stack, second.access_token)).status, 401, 'an older access token is rejected too')
})

t.test('token responses, successful or not, are not cached', async (t) => {
  const noStore = (reply: Reply, name: string) => {
    t.equal(reply.headers.get('cache-control'), 'no-store', `${name}: Cache-Control no-store`)
    t.equal(reply.headers.get('pragma'), 'no-cache', `${name}: Pragma no-cache`)
  }
  const issued = await redeem('shop', { code: await code() })
  t.equal(issued.status, 200)
  noStore(issued, 'code grant')
  const refreshed = await refresh(stack, 'shop', issued.json.refresh_token)
  t.equal(refreshed.status, 200)
  noStore(refreshed, 'refresh grant')
  noStore(await redeem('shop', { code: 'garbage' }), 'invalid_grant')
  noStore(await request(stack, '/token', { form: { grant_type: 'authorization_code' } }), 'invalid_client')
})

t.test('client_secret_basic decodes form-urlencoded credentials (RFC 6749 §2.3.1)', async (t) => {
  const encoded = basic('shop', 'shop-secret', (s) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''))
  const reply = await request(stack, '/token', { form: { grant_type: 'authorization_code', code: await code(), redirect_uri: CLIENTS.shop.redirectUris[0]! }, headers: { authorization: encoded } })
  t.equal(reply.status, 200, 'percent-encoded id and secret are accepted')
})

t.test('client_secret_post authenticates a confidential client', async (t) => {
  const reply = await request(stack, '/token', { form: { grant_type: 'authorization_code', code: await code(), redirect_uri: CLIENTS.shop.redirectUris[0]!, client_id: 'shop', client_secret: 'shop-secret' } })
  t.equal(reply.status, 200)
})

t.test('client authentication failures are invalid_client or invalid_request', async (t) => {
  const form = { grant_type: 'authorization_code', code: 'x', redirect_uri: CLIENTS.shop.redirectUris[0]! }
  const wrongBasic = await request(stack, '/token', { form, headers: { authorization: basic('shop', 'wrong') } })
  oauthError(t, wrongBasic, 401, 'invalid_client', 'wrong secret by Basic')
  t.match(wrongBasic.headers.get('www-authenticate'), /^Basic /, 'a Basic challenge')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'shop', client_secret: 'wrong' } }), 401, 'invalid_client', 'wrong secret by post')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'shop', client_secret: 'news-secret' } }), 401, 'invalid_client', 'another client\'s secret')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'shop' } }), 401, 'invalid_client', 'a confidential client without a secret')
  oauthError(t, await request(stack, '/token', { form }), 401, 'invalid_client', 'no client at all')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'nobody', client_secret: 'x' } }), 401, 'invalid_client', 'an unknown client')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'shop', client_secret: 'shop-secret' }, headers: { authorization: basic('shop', 'shop-secret') } }), 400, 'invalid_request', 'both Basic and post')
  oauthError(t, await request(stack, '/token', { form: { ...form, client_id: 'spa', client_secret: 'anything' } }), 401, 'invalid_client', 'a public client with a secret by post')
  oauthError(t, await request(stack, '/token', { form, headers: { authorization: basic('spa', 'anything') } }), 401, 'invalid_client', 'a public client with a secret by Basic')
})
