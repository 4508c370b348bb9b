import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import type { ProviderConfig } from '../../src/config/resolve.js'
import { loadedConfig } from '../helpers/config.js'
import type { UpstreamRegion } from '../../src/upstream/connector.js'
import { readPath } from '../../src/upstream/connectors/oauth2/claim-mapping.js'
import { createConnector } from '../../src/upstream/registry.js'
import { Browser } from '../../harness/browser.js'
import { startFakeOAuth2 } from '../helpers/fake-oauth2.js'

const CALLBACK = 'http://127.0.0.1:9/callback/naver'
const CLIENT = { clientId: 'naver-client', clientSecret: 'naver secret&=' }

const naver = await startFakeOAuth2(CLIENT)
t.teardown(() => naver.close())

function region (overrides: Partial<ProviderConfig> = {}): UpstreamRegion {
  const config: ProviderConfig = {
    id: 'naver',
    kind: 'oauth2',
    ...CLIENT,
    scopes: [],
    pkce: true,
    reauthenticate: {},
    regions: [{ name: 'primary', authorizationEndpoint: naver.authorizationEndpoint, tokenEndpoint: naver.tokenEndpoint, userinfoEndpoint: naver.userinfoEndpoint }],
    claims: { sub: 'response.id', email: 'response.email', name: 'response.nickname' },
    breaker: loadedConfig().providers[0]!.breaker,
    healthCheck: { interval: 5 },
    ...overrides,
  }
  return createConnector(config, { timeoutMs: 2000 }).regions[0] as UpstreamRegion
}

/** Sends a browser to the upstream and returns the callback's code with the login's verifier. */
async function authorize (upstream: UpstreamRegion, verifier = randomBytes(32).toString('base64url')): Promise<{ code: string, verifier: string, url: URL }> {
  const state = randomBytes(8).toString('hex')
  const codeChallenge = createHash('sha256').update(verifier).digest('base64url')
  const url = new URL(await upstream.authorizationUrl({ redirectUri: CALLBACK, state, nonce: 'unused', codeChallenge }))
  const landed = await new Browser().follow(url.href, { stopAt: (next) => next.href.startsWith(CALLBACK) })
  const callback = new URL(landed.location ?? 'http://invalid/')
  if (callback.searchParams.get('state') !== state) throw new Error('the upstream did not return our state')
  return { code: callback.searchParams.get('code') ?? '', verifier, url }
}

t.test('the authorization URL has the code flow parameters and PKCE, and no nonce', async (t) => {
  const url = new URL(await region({ scopes: ['profile'] }).authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', codeChallenge: 'c' }))
  t.equal(`${url.origin}${url.pathname}`, naver.authorizationEndpoint)
  t.same(Object.fromEntries(url.searchParams), {
    response_type: 'code', client_id: CLIENT.clientId, redirect_uri: CALLBACK, scope: 'profile', state: 's', code_challenge: 'c', code_challenge_method: 'S256',
  })
})

t.test('a demand for fresh authentication adds the provider\'s reauthenticate parameters, and only then', async (t) => {
  const naverStyle = region({ reauthenticate: { auth_type: 'reauthenticate' } })
  const fresh = new URL(await naverStyle.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', reauthenticate: true }))
  t.equal(fresh.searchParams.get('auth_type'), 'reauthenticate')
  t.equal(fresh.searchParams.has('prompt'), false, 'no OIDC prompt for a plain OAuth 2.0 provider')
  const plain = new URL(await naverStyle.authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n' }))
  t.equal(plain.searchParams.has('auth_type'), false)
  const none = new URL(await region().authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', reauthenticate: true }))
  t.same([...none.searchParams.keys()].sort(), ['client_id', 'redirect_uri', 'response_type', 'state'], 'a provider without reauthenticate gets nothing added')
})

t.test('PKCE is left out when the provider has pkce: false', async (t) => {
  const url = new URL(await region({ pkce: false }).authorizationUrl({ redirectUri: CALLBACK, state: 's', nonce: 'n', codeChallenge: 'c' }))
  t.equal(url.searchParams.has('code_challenge'), false)
  t.equal(url.searchParams.has('code_challenge_method'), false)
})

t.test('a full exchange maps userinfo through the dotted claim paths', async (t) => {
  naver.profile = { id: 'naver-1', email: 'alice@example.com', nickname: 'Alice', age: '20-29' }
  const upstream = region()
  const { code, verifier } = await authorize(upstream)
  const identity = await upstream.exchangeCode({ code, codeVerifier: verifier, nonce: 'unused', redirectUri: CALLBACK })
  t.equal(identity.sub, 'naver-1')
  t.same(identity.claims, { email: 'alice@example.com', name: 'Alice' }, 'only mapped claims')
  t.type(identity.accessToken, 'string')
  t.type(identity.refreshToken, 'string')
})

t.test('the token request uses client_secret_post by default', async (t) => {
  const upstream = region()
  const { code, verifier } = await authorize(upstream)
  const before = naver.tokenRequests.length
  await upstream.exchangeCode({ code, codeVerifier: verifier, nonce: 'unused', redirectUri: CALLBACK })
  const request = naver.tokenRequests[before]
  t.equal(request?.headers.authorization, undefined, 'no Basic header')
  t.same(request?.form, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier, client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret })
})

t.test('client_secret_basic is used when configured', async (t) => {
  const upstream = region({ tokenEndpointAuthMethod: 'client_secret_basic' })
  const { code, verifier } = await authorize(upstream)
  const before = naver.tokenRequests.length
  t.equal((await upstream.exchangeCode({ code, codeVerifier: verifier, nonce: 'unused', redirectUri: CALLBACK })).sub, 'naver-1')
  const request = naver.tokenRequests[before]
  t.match(request?.headers.authorization, /^Basic /)
  t.equal(request?.form.client_secret, undefined)
})

t.test('a numeric user id becomes a string sub', async (t) => {
  naver.profile = { id: 4_200_000_123, nickname: 'Kim' }
  t.teardown(() => { naver.profile = { id: 'naver-1', email: 'alice@example.com', nickname: 'Alice' } })
  const upstream = region()
  const { code, verifier } = await authorize(upstream)
  const identity = await upstream.exchangeCode({ code, codeVerifier: verifier, nonce: 'unused', redirectUri: CALLBACK })
  t.equal(identity.sub, '4200000123')
  t.same(identity.claims, { name: 'Kim' })
})

t.test('a userinfo response without the sub path is rejected', async (t) => {
  naver.profile = { email: 'nobody@example.com' }
  t.teardown(() => { naver.profile = { id: 'naver-1', email: 'alice@example.com', nickname: 'Alice' } })
  const upstream = region()
  const { code, verifier } = await authorize(upstream)
  await t.rejects(upstream.exchangeCode({ code, codeVerifier: verifier, nonce: 'unused', redirectUri: CALLBACK }), { code: 'US_ERR_UPSTREAM_INVALID' })
})

t.test('a wrong code verifier is an OAuth error', async (t) => {
  const upstream = region()
  const { code } = await authorize(upstream)
  await t.rejects(upstream.exchangeCode({ code, codeVerifier: randomBytes(32).toString('base64url'), nonce: 'unused', redirectUri: CALLBACK }), { code: 'US_ERR_UPSTREAM_OAUTH', details: { error: 'invalid_grant', status: 400 } })
})

t.test('a callback iss is checked only when the provider has an issuer configured', async (t) => {
  const plain = region()
  const first = await authorize(plain)
  t.equal((await plain.exchangeCode({ code: first.code, codeVerifier: first.verifier, iss: 'https://anything.example', nonce: 'unused', redirectUri: CALLBACK })).sub, 'naver-1')

  const pinned = region({ issuer: 'https://nid.naver.com' })
  const second = await authorize(pinned)
  await t.rejects(pinned.exchangeCode({ code: second.code, codeVerifier: second.verifier, iss: 'https://attacker.example', nonce: 'unused', redirectUri: CALLBACK }), { code: 'US_ERR_UPSTREAM_INVALID', details: { reason: 'iss_mismatch' } })
  t.equal((await pinned.exchangeCode({ code: second.code, codeVerifier: second.verifier, nonce: 'unused', redirectUri: CALLBACK })).sub, 'naver-1', 'an absent iss is accepted')
})

t.test('a probe reaches the authorization endpoint, or healthCheck.url when set', async (t) => {
  await region().probe()
  await region({ healthCheck: { interval: 5, url: `${naver.url}/anything` } }).probe()
  await t.rejects(region({ healthCheck: { interval: 5, url: 'http://127.0.0.1:9/' } }).probe(), { code: 'US_ERR_UPSTREAM_NETWORK' })
})

t.test('a dotted path reads own properties only', async (t) => {
  t.equal(readPath({ response: { id: 0 } }, 'response.id'), 0)
  t.equal(readPath({ response: {} }, 'response.constructor'), undefined)
  t.equal(readPath({ response: 'text' }, 'response.length'), undefined)
})
