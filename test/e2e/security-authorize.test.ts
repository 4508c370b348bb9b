import t, { type Test } from 'tap'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { assertErrorPage } from '../helpers/assertions.js'
import { authorizeCode, claimsOf, login, pkcePair, sessionCookie } from '../helpers/oidc.js'
import { CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
t.before(async () => { stack = await startStack() })
t.teardown(async () => stack.close())

const SHOP_CB = CLIENTS.shop.redirectUris[0]!

/** One /authorize request from `browser`: GET with a query, or POST with a form body. */
async function authorize (params: Record<string, string>, options: { browser?: Browser, method?: 'GET' | 'POST' } = {}): Promise<BrowserResponse> {
  const browser = options.browser ?? new Browser()
  if (options.method === 'POST') return browser.fetch(`${stack.issuer}/authorize`, { method: 'POST', body: new URLSearchParams(params) })
  return browser.fetch(`${stack.issuer}/authorize?${new URLSearchParams(params)}`)
}

/** The parameters of a valid authorization request of `shop`. */
function shopParams (extra: Record<string, string> = {}): Record<string, string> {
  return { client_id: 'shop', redirect_uri: SHOP_CB, response_type: 'code', scope: 'openid', state: 'st', ...extra }
}

function atUpstream (location: string | undefined): boolean {
  return location !== undefined && stack.upstream.regions.some((r) => location.startsWith(`${r.url}/`))
}

/** The query of a redirect to shop's registered redirect URI; fails the test when it goes elsewhere. */
function atShop (t: Test, answer: BrowserResponse): URLSearchParams {
  t.ok(answer.location?.startsWith(`${SHOP_CB}?`), `redirected to the registered redirect_uri (${answer.location})`)
  return new URL(answer.location ?? SHOP_CB).searchParams
}

t.test('only the exact registered redirect_uri is accepted', async (t) => {
  const lookalikes = {
    prefix: `${RP}/shop`,
    'longer path': `${SHOP_CB}/more`,
    'different port': SHOP_CB.replace(':1/', ':2/'),
    'trailing slash': `${SHOP_CB}/`,
    'added query': `${SHOP_CB}?next=1`,
    'added fragment': `${SHOP_CB}#x`,
    'case change in the path': SHOP_CB.replace('/shop/', '/Shop/'),
    'case change in the scheme': SHOP_CB.replace('http:', 'HTTP:'),
    'userinfo added': SHOP_CB.replace('http://', 'http://evil@'),
    'another client\'s redirect_uri': CLIENTS.news.redirectUris[0]!,
    'javascript: URI': 'javascript:alert(1)',
    'percent-encoded path': SHOP_CB.replace('/cb', '/%63b'),
  }
  for (const [name, redirectUri] of Object.entries(lookalikes)) {
    assertErrorPage(t, await authorize(shopParams({ redirect_uri: redirectUri })), name)
  }
  t.ok(atUpstream((await authorize(shopParams())).location), 'the registered redirect_uri itself is accepted')
})

t.test('an unknown client, or a missing client_id or redirect_uri, gets an HTML error page and never a redirect', async (t) => {
  assertErrorPage(t, await authorize(shopParams({ client_id: 'nobody' })), 'unknown client')
  assertErrorPage(t, await authorize(shopParams({ client_id: 'nobody', prompt: 'none' })), 'unknown client with prompt=none')
  const { client_id: _c, ...noClient } = shopParams()
  assertErrorPage(t, await authorize(noClient), 'missing client_id')
  const { redirect_uri: _r, ...noRedirect } = shopParams()
  assertErrorPage(t, await authorize(noRedirect), 'missing redirect_uri')
  assertErrorPage(t, await authorize(shopParams({ client_id: 'nobody' }), { method: 'POST' }), 'unknown client by POST')
  const page = await authorize(shopParams({ redirect_uri: 'https://evil.example/cb' }))
  assertErrorPage(t, page, 'unregistered redirect_uri')
  t.notMatch(page.text, 'evil.example', 'the page does not link to the unregistered URI')
})

t.test('PKCE accepts only S256, and a public client must use it', async (t) => {
  const { challenge } = pkcePair()
  const plain = atShop(t, await authorize(shopParams({ code_challenge: challenge, code_challenge_method: 'plain' })))
  t.equal(plain.get('error'), 'invalid_request', 'code_challenge_method=plain is refused')
  const noMethod = atShop(t, await authorize(shopParams({ code_challenge: challenge })))
  t.equal(noMethod.get('error'), 'invalid_request', 'a challenge without a method is refused (the default would be plain)')
  const spaCb = CLIENTS.spa.redirectUris[0]!
  const spa = await authorize({ client_id: 'spa', redirect_uri: spaCb, response_type: 'code', scope: 'openid', state: 's' })
  t.ok(spa.location?.startsWith(`${spaCb}?`))
  t.equal(new URL(spa.location!).searchParams.get('error'), 'invalid_request', 'the public client without PKCE is refused')
  const spaS256 = await authorize({ client_id: 'spa', redirect_uri: spaCb, response_type: 'code', scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256' })
  t.ok(atUpstream(spaS256.location), 'the public client with S256 goes on to the upstream')
})

t.test('every authorization response carries iss and the exact state, errors included', async (t) => {
  const { params } = await authorizeCode(stack, 'shop', { state: 'success-state' })
  t.equal(params.get('state'), 'success-state')
  t.equal(params.get('iss'), stack.issuer, 'iss on a code response (RFC 9207)')
  const errors = {
    'prompt=none without a session': shopParams({ prompt: 'none', state: 'e1' }),
    'unsupported response_type': shopParams({ response_type: 'token', state: 'e2' }),
    'no openid scope': shopParams({ scope: 'profile', state: 'e3' }),
    'a negative max_age': shopParams({ max_age: '-1', state: 'e4' }),
  }
  for (const [name, request] of Object.entries(errors)) {
    const query = atShop(t, await authorize(request))
    t.ok(query.get('error'), `${name}: an error`)
    t.equal(query.get('state'), request.state, `${name}: the exact state`)
    t.equal(query.get('iss'), stack.issuer, `${name}: iss`)
    t.notOk(query.get('code'), `${name}: no code`)
  }
})

t.test('prompt=none without a session answers login_required with state and iss', async (t) => {
  const answer = await authorize(shopParams({ prompt: 'none', state: 'quiet' }))
  t.equal(answer.status, 302)
  const query = atShop(t, answer)
  t.equal(query.get('error'), 'login_required')
  t.equal(query.get('state'), 'quiet')
  t.equal(query.get('iss'), stack.issuer)
})

t.test('an access token is no id_token_hint: only an ID token issued to a client names a user', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  const asHint = atShop(t, await authorize(shopParams({ prompt: 'none', id_token_hint: tokens.access_token }), { browser }))
  t.equal(asHint.get('error'), 'invalid_request', 'the access token is refused as a hint')
  const idHint = atShop(t, await authorize(shopParams({ prompt: 'none', id_token_hint: tokens.id_token }), { browser }))
  t.ok(idHint.get('code'), 'the ID token of the same login is accepted')
})

t.test('a state with odd characters is echoed exactly, on success and on error', async (t) => {
  const odd = 'a b+c/d?e=f&g=h#i%20j;k,l ü€😀 "<x>\' \t\r\nend~!*()'
  const error = atShop(t, await authorize(shopParams({ prompt: 'none', state: odd })))
  t.equal(error.get('state'), odd, 'on an error')
  const { params } = await authorizeCode(stack, 'shop', { state: odd })
  t.equal(params.get('state'), odd, 'on a code response')
})

t.test('unknown parameters are ignored', async (t) => {
  const { params, code } = await authorizeCode(stack, 'shop', { frobnicate: 'yes', ui_locales: 'xx', claims_locales: 'yy', acr_values: 'whatever', x_custom: '<script>' })
  t.ok(code, 'the login completes with a code')
  t.notOk(params.get('error'))
})

t.test('prompt=none with a session answers with a code and no upstream visit', async (t) => {
  const { browser } = await login(stack, 'shop')
  const answer = await authorize(shopParams({ prompt: 'none', state: 'sso' }), { browser })
  t.equal(answer.status, 302)
  const query = atShop(t, answer)
  t.ok(query.get('code'), 'a code straight away')
  t.equal(query.get('state'), 'sso')
  t.equal(query.get('iss'), stack.issuer)
})

t.test('prompt=login sends a logged-in user to the upstream with prompt=login', async (t) => {
  const { browser } = await login(stack, 'shop')
  t.ok(atShop(t, await authorize(shopParams(), { browser })).get('code'), 'the session serves a plain request (SSO)')
  const answer = await authorize(shopParams({ prompt: 'login' }), { browser })
  t.ok(atUpstream(answer.location), `sent to an upstream region (${answer.location})`)
  t.equal(new URL(answer.location!).searchParams.get('prompt'), 'login', 'the upstream is asked for a fresh login')
})

t.test('max_age=0 sends a logged-in user to the upstream with max_age passed on', async (t) => {
  const { browser } = await login(stack, 'shop')
  const answer = await authorize(shopParams({ max_age: '0' }), { browser })
  t.ok(atUpstream(answer.location), `sent to an upstream region (${answer.location})`)
  const upstream = new URL(answer.location!).searchParams
  t.equal(upstream.get('max_age'), '0', 'max_age is passed on')
  t.equal(upstream.get('prompt'), 'login')
  t.ok(atShop(t, await authorize(shopParams({ max_age: '3600' }), { browser })).get('code'), 'a max_age the session satisfies is answered by SSO')
})

t.test('a form POST to /authorize is answered with 303, for redirects to the upstream, to the client, and for errors', async (t) => {
  const toUpstream = await authorize(shopParams(), { method: 'POST' })
  t.equal(toUpstream.status, 303)
  t.ok(atUpstream(toUpstream.location))
  const { browser } = await login(stack, 'shop')
  const sso = await authorize(shopParams({ state: 'post-sso' }), { method: 'POST', browser })
  t.equal(sso.status, 303)
  t.ok(atShop(t, sso).get('code'), 'SSO code')
  const error = await authorize(shopParams({ response_type: 'token', state: 'post-error' }), { method: 'POST' })
  t.equal(error.status, 303)
  const query = atShop(t, error)
  t.equal(query.get('error'), 'unsupported_response_type')
  t.equal(query.get('state'), 'post-error')
  t.equal(query.get('iss'), stack.issuer)
  t.equal((await authorize(shopParams())).status, 302, 'a GET is answered with 302')
})

t.test('request objects are refused with request_not_supported and request_uri_not_supported', async (t) => {
  const byValue = atShop(t, await authorize(shopParams({ request: 'eyJhbGciOiJub25lIn0.eyJ9.', state: 'ro' })))
  t.equal(byValue.get('error'), 'request_not_supported')
  t.equal(byValue.get('state'), 'ro')
  t.equal(byValue.get('iss'), stack.issuer)
  const byReference = atShop(t, await authorize(shopParams({ request_uri: 'https://evil.example/request.jwt', state: 'ru' })))
  t.equal(byReference.get('error'), 'request_uri_not_supported')
  t.equal(byReference.get('state'), 'ru')
  t.equal(byReference.get('iss'), stack.issuer)
})

t.test('every login starts a new session: the cookie and the ID token sid change', async (t) => {
  const first = await login(stack, 'shop')
  const firstCookie = sessionCookie(stack, first.browser)
  t.ok(firstCookie, 'a session cookie after the first login')
  const second = await login(stack, 'shop', { prompt: 'login' }, { browser: first.browser })
  const secondCookie = sessionCookie(stack, second.browser)
  t.ok(secondCookie)
  t.not(secondCookie, firstCookie, 'the session cookie is replaced')
  t.not(claimsOf(second.tokens.id_token).sid, claimsOf(first.tokens.id_token).sid, 'the sid changes')
  t.equal(claimsOf(second.tokens.id_token).sub, claimsOf(first.tokens.id_token).sub, 'same user')
})

