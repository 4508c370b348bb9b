import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { assertErrorPage } from '../helpers/assertions.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { backChannel, claimsOf, login, request, userinfo } from '../helpers/oidc.js'
import { browserLogin, CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

/**
 * OIDF basic OP plan, the authorization endpoint's modules (each test is
 * named after its module): missing and registered redirect URIs, parameters
 * that must be accepted, and request objects, which are rejected as unsupported.
 */

const TENANT_CB = `${RP}/tenant/cb?tenant=acme`
let stack: Stack
let browser: Browser
t.before(async () => {
  stack = await startStack({
    config: {
      clients: [
        ...Object.values(CLIENTS).map((c) => ({ ...c, providers: ['idp'] })),
        { clientId: 'tenant', clientSecret: 'tenant-secret', redirectUris: [TENANT_CB], providers: ['idp'] },
      ],
    },
  })
  browser = (await login(stack, 'shop')).browser
})
t.teardown(async () => stack.close())

const SHOP_CB = CLIENTS.shop.redirectUris[0]!

function shopParams (extra: Record<string, string> = {}): Record<string, string> {
  return { client_id: 'shop', redirect_uri: SHOP_CB, response_type: 'code', scope: 'openid', state: 'conformance', ...extra }
}

async function authorize (params: Record<string, string>, using = browser): Promise<BrowserResponse> {
  return using.fetch(`${stack.issuer}/authorize?${new URLSearchParams(params)}`)
}

/** An error response at the registered redirect URI: the error, the exact state, iss, and no code. */
function errorAtRp (t: Test, answer: BrowserResponse, error: string | RegExp, message: string, base = SHOP_CB): URLSearchParams {
  t.ok(answer.location?.startsWith(base.includes('?') ? `${base}&` : `${base}?`), `${message}: at the registered redirect URI (${answer.location ?? answer.status})`)
  const query = new URL(answer.location ?? base).searchParams
  t.match(query.get('error'), error, `${message}: ${String(error)}`)
  t.equal(query.get('state'), 'conformance', `${message}: the state`)
  t.equal(query.get('iss'), stack.issuer, `${message}: iss`)
  t.notOk(query.has('code'), `${message}: no code`)
  return query
}

/** A code at shop's redirect URI. */
function codeAtRp (t: Test, answer: BrowserResponse, message: string): string {
  const query = new URL(answer.location ?? SHOP_CB).searchParams
  t.ok(query.get('code'), `${message}: a code (${answer.location ?? answer.status})`)
  t.equal(query.get('state'), 'conformance', `${message}: the state`)
  return query.get('code') ?? ''
}

/** An unsigned request object (alg none) with these claims. */
function unsignedRequestObject (claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'oauth-authz-req+jwt' })}.${part({ iss: 'shop', aud: stack.issuer, ...claims })}.`
}

t.test('oidcc-response-type-missing: a request without response_type is answered with an error at the redirect URI', async (t) => {
  const { response_type: _r, ...params } = shopParams()
  errorAtRp(t, await authorize(params), /^(invalid_request|unsupported_response_type)$/, 'no response_type')
})

t.test('oidcc-ensure-redirect-uri-in-authorization-request: without redirect_uri the user gets an error page', async (t) => {
  const { redirect_uri: _r, ...params } = shopParams()
  assertErrorPage(t, await authorize(params), 'no redirect_uri')
})

t.test('oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri gets an error page that does not link to it', async (t) => {
  const page = await authorize(shopParams({ redirect_uri: 'https://attacker.example/cb' }))
  assertErrorPage(t, page, 'an unregistered redirect_uri')
  t.notMatch(page.text, 'attacker.example')
})

t.test('oidcc-redirect-uri-query-OK: a registered redirect URI with a query keeps it and gets the code added', async (t) => {
  const answer = await authorize({ client_id: 'tenant', redirect_uri: TENANT_CB, response_type: 'code', scope: 'openid', state: 'conformance' })
  const location = new URL(answer.location!)
  t.equal(`${location.origin}${location.pathname}`, `${RP}/tenant/cb`)
  t.equal(location.searchParams.get('tenant'), 'acme', 'the registered query is kept')
  t.ok(location.searchParams.get('code'), 'the code is added to it')
  t.equal(location.searchParams.get('state'), 'conformance')
  const reply = await request(stack, '/token', { form: { grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: TENANT_CB, client_id: 'tenant', client_secret: 'tenant-secret' } })
  t.equal(reply.status, 200, 'the code redeems with the registered redirect URI, query included')
})

t.test('oidcc-redirect-uri-query-mismatch and oidcc-redirect-uri-query-added: another query, or an added one, is not the registered URI', async (t) => {
  assertErrorPage(t, await authorize({ client_id: 'tenant', redirect_uri: `${RP}/tenant/cb?tenant=evil`, response_type: 'code', scope: 'openid' }), 'a changed query')
  assertErrorPage(t, await authorize({ client_id: 'tenant', redirect_uri: `${TENANT_CB}&extra=1`, response_type: 'code', scope: 'openid' }), 'a query parameter added to a registered query')
  assertErrorPage(t, await authorize(shopParams({ redirect_uri: `${SHOP_CB}?extra=1` })), 'a query added to a registered URI without one')
})

t.test('oidcc-display-page and oidcc-display-popup: display is accepted', async (t) => {
  for (const display of ['page', 'popup']) codeAtRp(t, await authorize(shopParams({ display })), `display=${display}`)
})

t.test('oidcc-ensure-request-with-unknown-parameter-succeeds: an unknown parameter is ignored', async (t) => {
  codeAtRp(t, await authorize(shopParams({ extra: 'foobar', 'x-vendor': '<b>' })), 'unknown parameters')
})

t.test('oidcc-login-hint: login_hint is accepted and passed on to the upstream', async (t) => {
  const fresh = new Browser()
  const answer = await authorize(shopParams({ login_hint: 'alice@example.com' }), fresh)
  t.equal(new URL(answer.location!).searchParams.get('login_hint'), 'alice@example.com', 'the upstream is told the hint')
  const landed = await browserLogin(fresh, `${stack.issuer}/authorize?${new URLSearchParams(shopParams({ login_hint: 'alice@example.com' }))}`)
  codeAtRp(t, landed, 'the login completes')
})

t.test('oidcc-ui-locales and oidcc-claims-locales: locale preferences are accepted', async (t) => {
  codeAtRp(t, await authorize(shopParams({ ui_locales: 'ko-KR en' })), 'ui_locales')
  codeAtRp(t, await authorize(shopParams({ claims_locales: 'ko se' })), 'claims_locales')
})

t.test('oidcc-ensure-request-with-acr-values-succeeds: acr_values is accepted and the ID token carries one of the values asked for', async (t) => {
  const supported: string[] = (await request(stack, '/.well-known/openid-configuration')).json.acr_values_supported
  const code = codeAtRp(t, await authorize(shopParams({ acr_values: supported.join(' ') })), 'acr_values')
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB })
  t.ok(supported.includes(claimsOf(reply.json.id_token).acr as string), `acr ${String(claimsOf(reply.json.id_token).acr)} is one of ${supported.join(', ')}`)
})

t.test('oidcc-claims-essential: the claims parameter is accepted and, as discovery says, claims follow the scopes only', async (t) => {
  const claims = JSON.stringify({ userinfo: { name: { essential: true } } })
  const code = codeAtRp(t, await authorize(shopParams({ claims })), 'claims with scope openid')
  const reply = await backChannel(stack, '/token', 'shop', { grant_type: 'authorization_code', code, redirect_uri: SHOP_CB })
  const info = (await userinfo(stack, reply.json.access_token)).json
  t.type(info.sub, 'string')
  t.notOk('name' in info, 'no name without the profile scope (claims_parameter_supported: false)')
  const { tokens } = await login(stack, 'shop', { claims, scope: 'openid profile' }, { browser })
  t.equal((await userinfo(stack, tokens.access_token)).json.name, 'Alice', 'the profile scope releases it')
})

t.test('oidcc-ensure-post-request-succeeds: a form POST to the authorization endpoint logs in', async (t) => {
  const sso = await browser.fetch(`${stack.issuer}/authorize`, { method: 'POST', body: new URLSearchParams(shopParams()) })
  t.equal(sso.status, 303)
  codeAtRp(t, sso, 'by SSO')
  const fresh = new Browser()
  const started = await fresh.fetch(`${stack.issuer}/authorize`, { method: 'POST', body: new URLSearchParams(shopParams()) })
  t.equal(started.status, 303, 'sent on to the upstream with 303')
  codeAtRp(t, await browserLogin(fresh, started.location!), 'through the upstream')
})

t.test('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: an unsigned request object is rejected with request_not_supported', async (t) => {
  const object = unsignedRequestObject({ ...shopParams(), nonce: 'n' })
  errorAtRp(t, await authorize(shopParams({ request: object })), 'request_not_supported', 'the request object')
})

t.test('oidcc-request-uri-unsigned: request_uri is rejected with request_uri_not_supported and never fetched', async (t) => {
  let fetched = 0
  const server = createServer((_req, res) => { fetched++; res.end(unsignedRequestObject(shopParams())) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const requestUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/request.jwt`
  errorAtRp(t, await authorize(shopParams({ request_uri: requestUri })), 'request_uri_not_supported', 'the request_uri')
  t.equal(fetched, 0, 'the request_uri was never fetched (no SSRF)')
})

t.test('oidcc-ensure-request-object-with-redirect-uri: a redirect_uri inside a request object is never used', async (t) => {
  const object = unsignedRequestObject({ ...shopParams(), redirect_uri: 'https://attacker.example/cb' })
  errorAtRp(t, await authorize(shopParams({ request: object })), 'request_not_supported', 'with the registered redirect_uri in the query')
  const { redirect_uri: _r, ...withoutRedirect } = shopParams()
  const page = await authorize({ ...withoutRedirect, request: object })
  assertErrorPage(t, page, 'with the redirect_uri only inside the request object')
  t.notMatch(page.text, 'attacker.example')
})

