import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import type { ProviderConfig } from '../../src/config/resolve.js'
import { loadedConfig } from '../helpers/config.js'
import { startUpstreamIdp } from '../../harness/demo/upstream-idp.js'
import { isUnderstudyError, type UnderstudyError } from '../../src/errors.js'
import type { UpstreamRegion } from '../../src/upstream/connector.js'
import { upstreamJson } from '../../src/upstream/http.js'
import { createConnector } from '../../src/upstream/registry.js'
import { Browser } from '../../harness/browser.js'

const CALLBACK = 'http://127.0.0.1:9/callback/demo'
// Characters that RFC 6749 §2.3.1 makes us form-encode before Basic auth.
const SECRET = 'gateway secret:+/%'

const idp = await startUpstreamIdp({
  clients: [
    { client_id: 'gateway', client_secret: SECRET, redirect_uris: [CALLBACK] },
    { client_id: 'gateway-post', client_secret: 'post-secret', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_post' },
  ],
})
t.teardown(() => idp.close())

function providerConfig (overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    id: 'demo',
    kind: 'oidc',
    issuer: idp.issuer,
    clientId: 'gateway',
    clientSecret: SECRET,
    scopes: ['openid', 'email', 'profile'],
    pkce: true,
    reauthenticate: { prompt: 'login' },
    regions: idp.regions.map(({ name, url }) => ({ name, url })),
    breaker: loadedConfig().providers[0]!.breaker,
    healthCheck: { interval: 5 },
    ...overrides,
  }
}

function regions (overrides: Partial<ProviderConfig> = {}): readonly UpstreamRegion[] {
  return createConnector(providerConfig(overrides), { timeoutMs: 2000 }).regions
}

const [primary, secondary] = regions() as [UpstreamRegion, UpstreamRegion]

interface LoginOptions { login?: string, browser?: Browser, reauthenticate?: boolean, maxAge?: number }

/** Drives a browser through the upstream login; returns the callback parameters, the login's secrets and whether the form was shown. */
async function login (region: UpstreamRegion, options: LoginOptions = {}): Promise<{ code: string, iss: string | undefined, nonce: string, verifier: string, sawForm: boolean }> {
  const state = randomBytes(8).toString('hex')
  const nonce = randomBytes(8).toString('hex')
  const verifier = randomBytes(32).toString('base64url')
  const codeChallenge = createHash('sha256').update(verifier).digest('base64url')
  const browser = options.browser ?? new Browser()
  const stopAt = (url: URL): boolean => url.href.startsWith(CALLBACK)
  let landed = await browser.follow(await region.authorizationUrl({ redirectUri: CALLBACK, state, nonce, codeChallenge, reauthenticate: options.reauthenticate, maxAge: options.maxAge }), { stopAt })
  const sawForm = landed.status === 200
  if (sawForm) landed = await browser.submitForm(landed.text, landed.url, { login: options.login ?? 'alice' }, { stopAt })
  if (landed.location === undefined) throw new Error(`expected a redirect to the callback, got ${landed.status} at ${landed.url}`)
  const callback = new URL(landed.location)
  if (callback.searchParams.get('state') !== state) throw new Error(`the upstream did not return our state: ${callback.search}`)
  return { code: callback.searchParams.get('code') ?? '', iss: callback.searchParams.get('iss') ?? undefined, nonce, verifier, sawForm }
}

async function failure (promise: Promise<unknown>): Promise<UnderstudyError> {
  try {
    await promise
  } catch (err) {
    if (isUnderstudyError(err)) return err
    throw err
  }
  throw new Error('expected the call to fail')
}

t.test('each region serves the same issuer with its own endpoints in discovery', async (t) => {
  for (const region of idp.regions) {
    const doc = await upstreamJson(`${region.url}/.well-known/openid-configuration`, { timeoutMs: 2000, operation: 'discovery' })
    t.equal(doc.issuer, idp.issuer)
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
      t.ok(String(doc[key]).startsWith(`${region.url}/`), `${region.name} ${key} is on ${region.url}`)
    }
    t.equal(doc.authorization_response_iss_parameter_supported, true)
  }
})

t.test('the authorization URL carries every parameter, on the region\'s own endpoint', async (t) => {
  const href = await secondary.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', codeChallenge: 'c', reauthenticate: true, maxAge: 0, loginHint: 'alice' })
  const url = new URL(href)
  t.equal(url.origin, idp.regions[1]?.url)
  t.same(Object.fromEntries(url.searchParams), {
    response_type: 'code',
    client_id: 'gateway',
    redirect_uri: CALLBACK,
    scope: 'openid email profile',
    state: 's',
    nonce: 'n',
    code_challenge: 'c',
    code_challenge_method: 'S256',
    claims: JSON.stringify({ id_token: { auth_time: { essential: true }, amr: null } }),
    prompt: 'login',
    max_age: '0',
    login_hint: 'alice',
  })
})

t.test('a full login exchanges the code for alice\'s identity', async (t) => {
  const { code, iss, nonce, verifier } = await login(primary)
  t.equal(iss, idp.issuer, 'the upstream sends iss (RFC 9207)')
  const identity = await primary.exchangeCode({ code, iss, nonce, codeVerifier: verifier, redirectUri: CALLBACK })
  t.equal(identity.sub, 'alice')
  t.same(identity.claims, { email: 'alice@example.com', email_verified: true, name: 'Alice' })
  t.type(identity.authTime, 'number', 'the upstream\'s auth_time, asked for with the claims parameter')
  t.same(identity.amr, ['pwd'])
  t.type(identity.accessToken, 'string')
  t.type(identity.refreshToken, 'string', 'a refresh token comes back without offline_access')
})

t.test('a code is redeemed once: a second exchange is an OAuth error', async (t) => {
  const { code, iss, nonce, verifier } = await login(primary, { login: 'bob' })
  await primary.exchangeCode({ code, iss, nonce, codeVerifier: verifier, redirectUri: CALLBACK })
  const err = await failure(primary.exchangeCode({ code, iss, nonce, codeVerifier: verifier, redirectUri: CALLBACK }))
  t.equal(err.code, 'US_ERR_UPSTREAM_OAUTH')
  t.equal(err.details.error, 'invalid_grant')
  t.notMatch(err.message, code, 'the code stays out of the message')
})

t.test('a callback iss naming another issuer is rejected before the code is spent', async (t) => {
  const { code, nonce, verifier } = await login(primary)
  const err = await failure(primary.exchangeCode({ code, iss: 'https://attacker.example', nonce, codeVerifier: verifier, redirectUri: CALLBACK }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
  t.equal(err.details.reason, 'iss_mismatch')
  const identity = await primary.exchangeCode({ code, iss: idp.issuer, nonce, codeVerifier: verifier, redirectUri: CALLBACK })
  t.equal(identity.sub, 'alice', 'the code was not sent anywhere')
})

t.test('a callback without iss is rejected when the upstream advertises that it sends one', async (t) => {
  const { code, nonce, verifier } = await login(primary)
  const err = await failure(primary.exchangeCode({ code, nonce, codeVerifier: verifier, redirectUri: CALLBACK }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
  t.equal(err.details.reason, 'iss_missing')
})

t.test('an ID token for another login\'s nonce is rejected', async (t) => {
  const { code, iss, verifier } = await login(primary)
  const err = await failure(primary.exchangeCode({ code, iss, nonce: 'someone-elses-nonce', codeVerifier: verifier, redirectUri: CALLBACK }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
  t.match(err.message, /nonce/)
})

t.test('a wrong code verifier is an OAuth error from the upstream', async (t) => {
  const { code, iss, nonce } = await login(primary)
  const err = await failure(primary.exchangeCode({ code, iss, nonce, codeVerifier: randomBytes(32).toString('base64url'), redirectUri: CALLBACK }))
  t.equal(err.code, 'US_ERR_UPSTREAM_OAUTH')
  t.equal(err.details.error, 'invalid_grant')
})

t.test('client_secret_post is used when configured', async (t) => {
  const [region] = regions({ clientId: 'gateway-post', clientSecret: 'post-secret', tokenEndpointAuthMethod: 'client_secret_post' }) as [UpstreamRegion]
  const { code, iss, nonce, verifier } = await login(region)
  t.equal((await region.exchangeCode({ code, iss, nonce, codeVerifier: verifier, redirectUri: CALLBACK })).sub, 'alice')
})

t.test('a discovery document naming another issuer is rejected', async (t) => {
  const [region] = regions({ issuer: 'https://not-the-upstream.example' }) as [UpstreamRegion]
  const err = await failure(region.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
})

t.test('the secondary region serves logins while the primary is stopped', async (t) => {
  const [first, second] = regions() as [UpstreamRegion, UpstreamRegion]
  await idp.stopRegion('primary')
  t.teardown(() => idp.startRegion('primary'))
  const down = await failure(first.probe())
  t.equal(down.code, 'US_ERR_UPSTREAM_NETWORK')
  await failure(first.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }))
  await second.probe()
  const { code, iss, nonce, verifier } = await login(second)
  t.equal((await second.exchangeCode({ code, iss, nonce, codeVerifier: verifier, redirectUri: CALLBACK })).sub, 'alice')
})

t.test('a region whose discovery failed fetches it again on the next call', async (t) => {
  const [first] = regions() as [UpstreamRegion]
  await idp.stopRegion('primary')
  await failure(first.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }))
  await idp.startRegion('primary')
  t.ok((await first.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' })).startsWith(`${idp.regions[0]?.url}/`))
})

t.test('a caller that aborts stops waiting for discovery with a timeout', async (t) => {
  const [fresh] = regions() as [UpstreamRegion]
  const err = await failure(fresh.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }, AbortSignal.abort()))
  t.equal(err.code, 'US_ERR_UPSTREAM_TIMEOUT')
  t.ok(await fresh.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }), 'the shared fetch still completes for the next caller')
})

t.test('the upstream remembers its session, and prompt=login or max_age=0 asks for the login again', async (t) => {
  const browser = new Browser()
  t.equal((await login(primary, { browser })).sawForm, true)
  t.equal((await login(primary, { browser })).sawForm, false, 'single sign-on at the upstream')
  const fresh = await login(primary, { browser, reauthenticate: true })
  t.equal(fresh.sawForm, true, 'prompt=login')
  t.equal((await primary.exchangeCode({ ...fresh, codeVerifier: fresh.verifier, redirectUri: CALLBACK })).sub, 'alice')
  t.equal((await login(primary, { browser, maxAge: 0 })).sawForm, true, 'max_age=0')
})

t.test('the login form forbids framing', async (t) => {
  const page = await new Browser().follow(await primary.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', codeChallenge: 'c'.repeat(43) }))
  t.equal(page.status, 200)
  t.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/)
  t.match(page.text, /<input name="login"/)
})
