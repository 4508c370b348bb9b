import t from 'tap'
import { validIdToken, validTokenResponse } from '../helpers/conformance.js'
import { Browser } from '../../harness/browser.js'
import { authorizeCode, backChannel, login, pkcePair, redeemCode, refresh, request, userinfo, type Reply } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/**
 * OIDF basic OP plan, the server's happy flows, userinfo and scopes
 * (each test is named after its module). The suite's own checks are made
 * here: discovery, the authorization response, the token response, the ID token.
 */

let stack: Stack
let browser: Browser
t.before(async () => {
  stack = await startStack()
  browser = (await login(stack, 'shop')).browser
})
t.teardown(async () => stack.close())

const SHOP_CB = CLIENTS.shop.redirectUris[0]!

/** A code for shop by SSO with `params`, and its tokens (client_secret_basic). */
async function tokensFor (params: Record<string, string> = {}): Promise<{ query: URLSearchParams, reply: Reply }> {
  const { code, params: query } = await authorizeCode(stack, 'shop', params, { browser })
  return { query, reply: await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB }) }
}

t.test('oidcc-discovery-endpoint-verification: discovery names the issuer, the code flow and keys the suite can use', async (t) => {
  const reply = await request(stack, '/.well-known/openid-configuration')
  t.equal(reply.status, 200)
  t.match(reply.headers.get('content-type'), /^application\/json/)
  const doc = reply.json
  t.equal(doc.issuer, stack.issuer, 'issuer is the URL discovery was read from, without the well-known suffix')
  for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint']) t.ok(String(doc[key]).startsWith(`${stack.issuer}/`), `${key} on the issuer`)
  t.ok(doc.response_types_supported.includes('code'))
  t.ok(doc.grant_types_supported.includes('authorization_code'))
  t.ok(doc.scopes_supported.includes('openid'))
  t.same(doc.subject_types_supported, ['public'])
  t.ok(doc.id_token_signing_alg_values_supported.includes('RS256'), 'RS256 among the ID token algorithms')
  t.notOk(doc.id_token_signing_alg_values_supported.includes('none'), 'never none')
  t.ok(doc.claims_supported.includes('sub'))
  for (const flag of ['claims_parameter_supported', 'request_parameter_supported', 'request_uri_parameter_supported']) t.equal(doc[flag], false, `${flag} is false, and says so`)
  t.equal(doc.authorization_response_iss_parameter_supported, true)
  const jwks = (await request(stack, doc.jwks_uri)).json
  t.ok(jwks.keys.length > 0)
  const kids = jwks.keys.map((k: { kid: string }) => k.kid)
  t.equal(new Set(kids).size, kids.length, 'every kid is distinct')
  for (const key of jwks.keys) {
    t.equal(key.use, 'sig', `${key.kid}: use sig`)
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(member in key, `${key.kid}: no private member ${member}`)
  }
})

t.test('oidcc-server: a code flow with state and nonce gives a valid code response, token response and ID token', async (t) => {
  const { verifier, challenge } = pkcePair()
  const { code, params } = await authorizeCode(stack, 'shop', { state: 'oidcc-server', nonce: 'n-oidcc-server', code_challenge: challenge, code_challenge_method: 'S256' }, { browser: new Browser() })
  t.equal(params.get('state'), 'oidcc-server', 'the state exactly as sent')
  t.equal(params.get('iss'), stack.issuer, 'iss, as discovery announces (RFC 9207)')
  for (const frontChannel of ['access_token', 'id_token', 'token_type']) t.notOk(params.has(frontChannel), `no ${frontChannel} in the front channel`)
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB, code_verifier: verifier })
  validTokenResponse(t, reply)
  const claims = await validIdToken(t, stack, reply.json.id_token, { client: 'shop', nonce: 'n-oidcc-server', accessToken: reply.json.access_token })
  const info = await userinfo(stack, reply.json.access_token)
  t.equal(info.json.sub, claims.sub, 'userinfo names the same subject')
})

t.test('oidcc-alternate-happy-flow: the second client (RS256) completes the flow', async (t) => {
  const { tokens } = await login(stack, 'news', { nonce: 'n-news' })
  await validIdToken(t, stack, tokens.id_token, { client: 'news', nonce: 'n-news', accessToken: tokens.access_token })
})

t.test('oidcc-server-client-secret-post: the client authenticates with client_secret_post', async (t) => {
  const { code } = await authorizeCode(stack, 'shop', { nonce: 'n-post' }, { browser })
  const reply = await request(stack, '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB, client_id: 'shop', client_secret: 'shop-secret' } })
  validTokenResponse(t, reply)
  await validIdToken(t, stack, reply.json.id_token, { client: 'shop', nonce: 'n-post', accessToken: reply.json.access_token })
})

t.test('oidcc-ensure-request-without-nonce-succeeds-for-code-flow: no nonce is needed, and none comes back', async (t) => {
  const { reply } = await tokensFor()
  validTokenResponse(t, reply)
  await validIdToken(t, stack, reply.json.id_token, { client: 'shop' })
})

t.test('oidcc-userinfo-get: userinfo answers a bearer token in the header of a GET', async (t) => {
  const { reply } = await tokensFor()
  const info = await userinfo(stack, reply.json.access_token)
  t.equal(info.status, 200)
  t.match(info.headers.get('content-type'), /^application\/json/)
  t.type(info.json.sub, 'string')
})

t.test('oidcc-userinfo-post-header: userinfo answers a bearer token in the header of a POST', async (t) => {
  const { reply } = await tokensFor()
  const info = await request(stack, '/userinfo', { method: 'POST', headers: { authorization: `Bearer ${reply.json.access_token}` } })
  t.equal(info.status, 200)
  t.type(info.json.sub, 'string')
})

t.test('oidcc-userinfo-post-body: userinfo answers access_token in a form body', async (t) => {
  const { reply } = await tokensFor()
  const info = await request(stack, '/userinfo', { form: { access_token: reply.json.access_token } })
  t.equal(info.status, 200)
  t.type(info.json.sub, 'string')
})

t.test('oidcc-scope-profile, oidcc-scope-email, oidcc-scope-all: each scope releases its claims, and only those', async (t) => {
  const cases: Array<[string, string, Record<string, unknown>, string[]]> = [
    ['oidcc-scope-profile', 'openid profile', { name: 'Alice' }, ['email', 'email_verified']],
    ['oidcc-scope-email', 'openid email', { email: 'alice@example.com', email_verified: true }, ['name']],
    ['oidcc-scope-all', 'openid profile email address phone', { name: 'Alice', email: 'alice@example.com', email_verified: true }, []],
    ['openid alone', 'openid', {}, ['name', 'email', 'email_verified']],
  ]
  for (const [module, scope, released, withheld] of cases) {
    const { reply } = await tokensFor({ scope })
    t.equal(reply.status, 200, `${module}: tokens`)
    const info = (await userinfo(stack, reply.json.access_token)).json
    t.match(info, released, `${module}: userinfo releases ${Object.keys(released).join(', ') || 'only sub'}`)
    for (const claim of withheld) t.notOk(claim in info, `${module}: ${claim} is withheld`)
  }
})

t.test('oidcc-scope-address, oidcc-scope-phone: supported scopes the upstream has no claims for are granted, with no claims invented', async (t) => {
  for (const scope of ['openid address', 'openid phone']) {
    const { reply } = await tokensFor({ scope })
    t.equal(reply.status, 200, `${scope}: tokens`)
    t.equal(reply.json.scope, scope)
    const info = (await userinfo(stack, reply.json.access_token)).json
    t.same(Object.keys(info), ['sub'], `${scope}: only sub`)
  }
})

t.test('oidcc-ensure-other-scope-order-succeeds: scopes in another order are the same request', async (t) => {
  const { reply } = await tokensFor({ scope: 'email openid' })
  t.equal(reply.status, 200)
  t.same(reply.json.scope.split(' ').sort(), ['email', 'openid'])
})
