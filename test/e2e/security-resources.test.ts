import t, { type Test } from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { Browser } from '../../harness/browser.js'
import { backChannel, claimsOf, headerOf, introspectionOf, login, refresh, request, userinfo, type ClientName, type Reply, type TokenSet } from '../helpers/oidc.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let browser: Browser
t.before(async () => {
  stack = await startStack()
  browser = (await login(stack, 'shop')).browser
})
t.teardown(async () => stack.close())

/** Fresh tokens for `client` (by SSO after the first login). */
async function tokensFor (client: ClientName = 'shop', params: Record<string, string> = {}): Promise<TokenSet> {
  return (await login(stack, client, params, { browser })).tokens
}

function unauthorized (t: Test, reply: Reply, message: string): void {
  t.equal(reply.status, 401, `${message}: 401`)
  t.match(reply.headers.get('www-authenticate'), /^Bearer\b/, `${message}: WWW-Authenticate: Bearer`)
  t.equal(reply.json?.error, 'invalid_token', `${message}: invalid_token`)
}

t.test('userinfo takes the token as a bearer header on GET and POST, or as access_token in a form body', async (t) => {
  const tokens = await tokensFor()
  const sub = claimsOf(tokens.id_token).sub
  const byGet = await userinfo(stack, tokens.access_token)
  t.equal(byGet.status, 200)
  t.equal(byGet.json.sub, sub)
  t.equal(byGet.headers.get('cache-control'), 'no-store')
  const byPost = await request(stack, '/userinfo', { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(byPost.status, 200)
  t.equal(byPost.json.sub, sub)
  const byForm = await request(stack, '/userinfo', { form: { access_token: tokens.access_token } })
  t.equal(byForm.status, 200)
  t.equal(byForm.json.sub, sub)
})

t.test('userinfo rejects a missing or bad token with 401 and WWW-Authenticate: Bearer', async (t) => {
  const tokens = await tokensFor()
  unauthorized(t, await request(stack, '/userinfo'), 'no token')
  unauthorized(t, await request(stack, '/userinfo', { method: 'POST' }), 'no token by POST')
  unauthorized(t, await userinfo(stack, 'garbage'), 'not a JWT')
  unauthorized(t, await userinfo(stack, `${tokens.access_token.slice(0, -2)}AA`), 'a bad signature')
  unauthorized(t, await userinfo(stack, tokens.id_token), 'an ID token')
  unauthorized(t, await userinfo(stack, tokens.refresh_token), 'a refresh token')
  unauthorized(t, await request(stack, '/userinfo', { headers: { authorization: `Basic ${tokens.access_token}` } }), 'another scheme')
})

t.test('userinfo refuses a token sent both in the header and in the body', async (t) => {
  const tokens = await tokensFor()
  const reply = await request(stack, '/userinfo', { form: { access_token: tokens.access_token }, headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(reply.status, 400)
  t.equal(reply.json.error, 'invalid_request')
})

t.test('introspection needs client authentication', async (t) => {
  const tokens = await tokensFor()
  const reply = await request(stack, '/introspect', { form: { token: tokens.access_token } })
  t.equal(reply.status, 401)
  t.equal(reply.json.error, 'invalid_client')
  t.notOk('active' in (reply.json ?? {}), 'nothing about the token is told')
  const wrong = await request(stack, '/introspect', { form: { token: tokens.access_token, client_id: 'shop', client_secret: 'wrong' } })
  t.equal(wrong.status, 401)
  t.equal(wrong.json.error, 'invalid_client')
})

t.test('a client may introspect only its own tokens', async (t) => {
  const tokens = await tokensFor()
  const own = await introspectionOf(stack, 'shop', tokens.access_token)
  t.equal(own.active, true)
  t.equal(own.client_id, 'shop')
  t.equal(own.sub, claimsOf(tokens.id_token).sub)
  t.equal((await introspectionOf(stack, 'shop', tokens.refresh_token)).active, true, 'its refresh token too')
  t.same(await introspectionOf(stack, 'news', tokens.access_token), { active: false }, 'another client\'s access token is inactive')
  t.same(await introspectionOf(stack, 'news', tokens.refresh_token), { active: false }, 'another client\'s refresh token is inactive')
  t.same(await introspectionOf(stack, 'shop', 'garbage'), { active: false }, 'garbage is inactive')
})

t.test('a revoked access token is rejected at userinfo and inactive at introspection', async (t) => {
  const tokens = await tokensFor()
  const revoked = await backChannel(stack, '/revoke', 'shop', { token: tokens.access_token })
  t.equal(revoked.status, 200)
  unauthorized(t, await userinfo(stack, tokens.access_token), 'after revocation')
  t.same(await introspectionOf(stack, 'shop', tokens.access_token), { active: false })
})

t.test('another client cannot revoke a token', async (t) => {
  const tokens = await tokensFor()
  t.equal((await backChannel(stack, '/revoke', 'news', { token: tokens.access_token })).status, 200, 'RFC 7009: no error is told')
  t.equal((await userinfo(stack, tokens.access_token)).status, 200, 'the token still works')
  t.equal((await backChannel(stack, '/revoke', 'news', { token: tokens.refresh_token })).status, 200)
  t.equal((await refresh(stack, 'shop', tokens.refresh_token)).status, 200, 'the refresh token still works')
})

t.test('revocation needs client authentication', async (t) => {
  const tokens = await tokensFor()
  const reply = await request(stack, '/revoke', { form: { token: tokens.access_token } })
  t.equal(reply.status, 401)
  t.equal(reply.json.error, 'invalid_client')
  t.equal((await userinfo(stack, tokens.access_token)).status, 200)
})

t.test('a refresh token that was exchanged is inactive at introspection; its successor is active', async (t) => {
  const tokens = await tokensFor()
  t.equal((await introspectionOf(stack, 'shop', tokens.refresh_token)).active, true, 'before the refresh')
  const rotated = (await refresh(stack, 'shop', tokens.refresh_token)).json as TokenSet
  t.same(await introspectionOf(stack, 'shop', tokens.refresh_token), { active: false }, 'the rotated-away token')
  t.match(await introspectionOf(stack, 'shop', rotated.refresh_token), { active: true, token_type: 'refresh_token', client_id: 'shop' }, 'its successor')
  t.equal((await introspectionOf(stack, 'shop', rotated.access_token)).active, true, 'the new access token')
})

t.test('revoking a refresh token revokes its family', async (t) => {
  const tokens = await tokensFor()
  const rotated = (await refresh(stack, 'shop', tokens.refresh_token)).json as TokenSet
  t.equal((await backChannel(stack, '/revoke', 'shop', { token: rotated.refresh_token, token_type_hint: 'refresh_token' })).status, 200)
  t.equal((await refresh(stack, 'shop', rotated.refresh_token)).json.error, 'invalid_grant', 'the revoked refresh token')
  t.same(await introspectionOf(stack, 'shop', rotated.refresh_token), { active: false })
  unauthorized(t, await userinfo(stack, rotated.access_token), 'the family\'s access token')
  unauthorized(t, await userinfo(stack, tokens.access_token), 'the family\'s first access token')
})

t.test('ID tokens carry iss, sub, aud, azp, exp, iat, auth_time, acr, nonce and a kid, and verify with /jwks', async (t) => {
  const jwks = createRemoteJWKSet(new URL(`${stack.issuer}/jwks`))
  for (const [client, alg] of [['shop', 'ES256'], ['news', 'RS256']] as const) {
    const tokens = await tokensFor(client, { nonce: `n-${client}` })
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, { issuer: stack.issuer, audience: client, algorithms: [alg] })
    t.equal(protectedHeader.alg, alg, `${client}: signed with ${alg}`)
    t.type(protectedHeader.kid, 'string', `${client}: kid header`)
    t.equal(payload.azp, client)
    t.type(payload.sub, 'string')
    t.ok(payload.sub!.length > 0)
    t.type(payload.exp, 'number')
    t.type(payload.iat, 'number')
    t.ok(payload.exp! > payload.iat!, 'exp after iat')
    t.type(payload.auth_time, 'number')
    t.ok((payload.auth_time as number) <= payload.iat!, 'auth_time not in the future')
    t.equal(payload.acr, 'urn:understudy:acr:upstream')
    t.equal(payload.nonce, `n-${client}`, `${client}: the nonce is echoed`)
  }
  const withoutNonce = await tokensFor('shop')
  t.notOk('nonce' in claimsOf(withoutNonce.id_token), 'no nonce when none was sent')
  const refreshed = (await refresh(stack, 'shop', withoutNonce.refresh_token)).json as TokenSet
  t.notOk('nonce' in claimsOf(refreshed.id_token), 'no nonce after a refresh')
})

t.test('the access token is an RFC 9068 JWT (typ at+jwt) with iss, sub, aud, exp, iat, jti, client_id and scope', async (t) => {
  const tokens = await tokensFor('news')
  t.equal(headerOf(tokens.access_token).typ, 'at+jwt')
  const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${stack.issuer}/jwks`)), { issuer: stack.issuer, typ: 'at+jwt' })
  for (const claim of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope']) t.ok(payload[claim] !== undefined, `claim ${claim}`)
  t.equal(payload.client_id, 'news')
  t.equal(payload.sub, claimsOf(tokens.id_token).sub)
  t.match(payload.scope, /\bopenid\b/)
  t.not(payload.aud, 'news', 'the access token is not an ID token for the client')
})
