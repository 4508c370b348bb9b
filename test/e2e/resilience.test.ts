import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { testClock, type TestClock } from '../helpers/clock.js'
import { authorizeUrl, browserLogin, CLIENTS, redirectParams, startStack, type Stack } from '../helpers/stack.js'

// Fast detection for tests: probes every 200 ms, a 1 s breaker timeout, trials after 1 s.
const PROVIDER = {
  breaker: { timeout: '1s', errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeout: '1s', rollingCountTimeout: '5s' },
  healthCheck: { interval: 0.2 },
}
const HOUR = 3600
const CONFIG = { sessions: { maxStaleness: '1h', outageMaxStaleness: '1d' }, tokens: { degraded: 30 }, admin: ADMIN }

/** A proxied stack on `clock` (the test moves it to make a login stale), its breakers closed. */
async function stack (t: Test, clock: TestClock = testClock()): Promise<Stack> {
  const s = await startStack({ proxied: true, provider: PROVIDER, config: CONFIG, now: clock.now })
  t.teardown(() => s.close())
  await waitFor(() => states(s).every((state) => state === 'closed'), 'breakers closed at start')
  return s
}

function states (s: Stack): string[] {
  return s.gateway.gateway.breakers.all().map((b) => b.state)
}

async function redeem (s: Stack, client: 'shop' | 'news', code: string) {
  const c = CLIENTS[client]
  const response = await fetch(`${s.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: c.redirectUris[0]!, client_id: c.clientId, client_secret: c.clientSecret }),
  })
  return { status: response.status, body: await response.json() as Record<string, string> }
}

async function refresh (s: Stack, client: 'shop' | 'news', refreshToken: string) {
  const c = CLIENTS[client]
  const response = await fetch(`${s.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: c.clientId, client_secret: c.clientSecret }),
  })
  return { status: response.status, body: await response.json() as Record<string, string> }
}

t.test('when region 1 refuses, new logins go to region 2 once it is detected, and never to region 1 after', async (t) => {
  const s = await stack(t)
  await s.proxies[0]!.setFault({ kind: 'refuse' })
  await waitFor(() => s.gateway.gateway.breakers.get('idp', 'primary')!.state === 'open', 'primary breaker opens')
  for (let i = 0; i < 3; i++) {
    const first = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
    t.equal(new URL(first.location!).port, String(s.proxies[1]!.port), 'the browser is sent to region 2')
  }
  const browser = new Browser()
  const landed = await browserLogin(browser, authorizeUrl(s.issuer, 'shop'), 'failover-user')
  const tokens = await redeem(s, 'shop', redirectParams(landed).get('code')!)
  t.equal(decodeJwt(tokens.body.id_token!).acr, 'urn:understudy:acr:upstream', 'a full upstream login through region 2')
  const health = await (await fetch(`${s.issuer}/healthz`)).json() as { status: string, providers: Record<string, { regions: Record<string, { state: string }> }> }
  t.equal(health.status, 'degraded')
  t.equal(health.providers.idp!.regions.primary!.state, 'open')
  t.equal((await fetch(`${s.issuer}/readyz`)).status, 200, 'still ready')
})

t.test('a blackholed region never makes a gateway response wait longer than the breaker timeout', async (t) => {
  const s = await stack(t)
  const browser = new Browser()
  const atCallback = (u: URL) => u.pathname.startsWith('/callback/')
  const form = await browser.follow(authorizeUrl(s.issuer, 'shop'), { stopAt: atCallback })
  const callback = await browser.submitForm(form.text, form.url, { login: 'blackholed' }, { stopAt: atCallback })
  await s.proxies[0]!.setFault({ kind: 'blackhole' })
  const started = Date.now()
  const answer = await browser.fetch(callback.location!)
  const elapsed = Date.now() - started
  t.ok(elapsed < 1000 + 1500, `answered in ${elapsed} ms, bounded by the 1 s breaker timeout`)
  t.equal(answer.status, 302)
  const params = redirectParams(answer)
  t.equal(params.get('error'), 'temporarily_unavailable')
  t.equal(params.get('state'), 'st-shop')
  t.equal(params.get('iss'), s.issuer)
})

t.test('with every region down, a returning user keeps logging in with acr cached and short-lived tokens, and refresh works', async (t) => {
  const clock = testClock()
  const s = await stack(t, clock)
  const browser = new Browser()
  const landed = await browserLogin(browser, authorizeUrl(s.issuer, 'shop'), 'returning')
  const first = await redeem(s, 'shop', redirectParams(landed).get('code')!)
  const firstClaims = decodeJwt(first.body.id_token!)
  clock.advance(2 * HOUR)

  await Promise.all(s.proxies.map((p) => p.setFault({ kind: 'refuse' })))
  await waitFor(() => states(s).every((state) => state === 'open'), 'every breaker opens')

  const second = await browser.fetch(authorizeUrl(s.issuer, 'news'))
  const code = redirectParams(second).get('code')
  t.ok(code, 'the second site gets a code without the upstream')
  const tokens = await redeem(s, 'news', code!)
  const claims = decodeJwt(tokens.body.id_token!)
  t.equal(claims.acr, 'urn:understudy:acr:cached', 'the ID token says the login is cached')
  t.equal(claims.auth_time, firstClaims.auth_time, 'auth_time is the last real upstream login')
  t.equal(claims.sub, firstClaims.sub)
  t.ok(claims.exp! - claims.iat! <= 30, 'the ID token lives at most tokens.degraded')
  t.ok(Number(tokens.body.expires_in) <= 30, 'the access token lives at most tokens.degraded')

  const refreshed = await refresh(s, 'shop', first.body.refresh_token!)
  t.equal(refreshed.status, 200, 'refresh never fails because the upstream is down')
  t.equal(decodeJwt(refreshed.body.id_token!).acr, 'urn:understudy:acr:cached')

  const none = await browser.fetch(authorizeUrl(s.issuer, 'news', { prompt: 'none' }))
  t.ok(redirectParams(none).get('code'), 'prompt=none is answered from the cached login')
  const maxAge = await browser.fetch(authorizeUrl(s.issuer, 'news', { max_age: String(HOUR) }))
  t.equal(redirectParams(maxAge).get('error'), 'temporarily_unavailable', 'a cached login never satisfies max_age')

  const stranger = await new Browser().fetch(authorizeUrl(s.issuer, 'shop', { state: 'who?' }))
  t.equal(stranger.status, 302)
  const params = redirectParams(stranger)
  t.equal(params.get('error'), 'temporarily_unavailable', 'an unknown user is told to come back later')
  t.equal(params.get('state'), 'who?')
  t.equal(params.get('iss'), s.issuer)
  t.equal(stranger.headers.get('retry-after'), '1')

  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_logins_total\{client="news",provider="idp",outcome="cached"\} [1-9]/)
  t.match(metrics, /understudy_logins_total\{client="shop",provider="idp",outcome="unavailable"\} [1-9]/)
  t.match(metrics, /understudy_breaker_state\{provider="idp",region="primary"\} 2/)
  t.equal((await fetch(`${s.issuer}/readyz`)).status, 200, 'ready while the upstream is down')

  await Promise.all(s.proxies.map((p) => p.clearFault()))
  await waitFor(() => states(s).every((state) => state === 'closed'), 'breakers close through half-open')
  const back = await browserLogin(browser, authorizeUrl(s.issuer, 'news'), 'returning')
  const fresh = await redeem(s, 'news', redirectParams(back).get('code')!)
  t.equal(decodeJwt(fresh.body.id_token!).acr, 'urn:understudy:acr:upstream', 'the next login is an upstream login again')
  t.ok(decodeJwt(fresh.body.id_token!).auth_time! >= firstClaims.auth_time!, 'auth_time moves on only with a real upstream login')
})

t.test('a stale refresh is revalidated with the upstream when it is up', async (t) => {
  const clock = testClock()
  const s = await stack(t, clock)
  const landed = await browserLogin(new Browser(), authorizeUrl(s.issuer, 'shop'), 'revalidated')
  const first = await redeem(s, 'shop', redirectParams(landed).get('code')!)
  clock.advance(2 * HOUR)
  const refreshed = await refresh(s, 'shop', first.body.refresh_token!)
  t.equal(refreshed.status, 200)
  const claims = decodeJwt(refreshed.body.id_token!)
  t.equal(claims.acr, 'urn:understudy:acr:upstream', 'the upstream vouched again')
  t.equal(claims.auth_time, decodeJwt(first.body.id_token!).auth_time, 'revalidation keeps auth_time')
  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_revalidations_total\{provider="idp",result="vouched"\} 1/, 'the upstream refresh token was used')
})

t.test('the admin API shows, changes, resets and forces breakers', async (t) => {
  const s = await stack(t)
  t.equal((await admin(s, 'GET', '/admin/breakers', undefined, 'wrong')).status, 401)
  t.equal((await fetch(`${s.adminUrl}/admin/breakers`)).status, 401, 'a bearer token is required')
  const list = await admin(s, 'GET', '/admin/breakers')
  const breakers = list.body.breakers as Array<Record<string, unknown>>
  t.same(breakers.map((b) => `${b.provider}/${b.region}/${b.state}`), ['idp/primary/closed', 'idp/secondary/closed'])
  t.same((breakers[0]!.policySource as { kind: string }).kind, 'config')

  const invalid = await admin(s, 'PATCH', '/admin/breakers/idp/primary', { timeout: -1, errorThresholdPercentage: 500, bogus: 1 })
  t.equal(invalid.status, 400)
  t.ok((invalid.body.problems as unknown[]).length >= 3, 'every problem is reported')
  t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/nowhere', { timeout: 1 })).status, 404)
  t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/primary', { timeout: '30d' })).status, 400, 'a timeout past what a timer can hold is refused')
  t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/primary', { volumeThreshold: 1e300 })).status, 400, 'an absurd volume threshold is refused')

  // A login through region 1 waits at the upstream behind 600 ms of latency: fine with a 1 s timeout...
  const browser = new Browser()
  const atCallback = (u: URL) => u.pathname.startsWith('/callback/')
  const form = await browser.follow(authorizeUrl(s.issuer, 'shop'), { stopAt: atCallback })
  const callback = await browser.submitForm(form.text, form.url, { login: 'patched' }, { stopAt: atCallback })
  await s.proxies[0]!.setFault({ kind: 'latency', ms: 600, direction: 'downstream' })
  // ...but not once the timeout is patched down to 200 ms: the change takes effect on the next call.
  const patched = await admin(s, 'PATCH', '/admin/breakers/idp/primary', { timeout: '200ms' })
  t.equal(patched.status, 200)
  t.equal((patched.body.policy as { timeout: number }).timeout, 0.2)
  t.equal((patched.body.policySource as { kind: string }).kind, 'override')
  const started = Date.now()
  const answer = await browser.fetch(callback.location!)
  t.equal(redirectParams(answer).get('error'), 'temporarily_unavailable')
  t.ok(Date.now() - started < 1000, 'the exchange gave up at the patched timeout')
  await s.proxies[0]!.clearFault()

  const reset = await admin(s, 'DELETE', '/admin/breakers/idp/primary/policy')
  t.equal((reset.body.policy as { timeout: number }).timeout, 1)
  t.equal((reset.body.policySource as { kind: string }).kind, 'config')

  t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/primary', { resetTimeout: '100ms' })).status, 200, 'a reset timeout that passes at once')
  const opened = await admin(s, 'POST', '/admin/breakers/idp/primary/open')
  t.equal(opened.body.state, 'open')
  // A fixed wait, not a poll: what is checked is that nothing happens (no half-open trial) once the reset timeout has passed.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(s.gateway.gateway.breakers.get('idp', 'primary')!.state, 'open', 'a forced breaker stays open past its reset timeout')
  const sent = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
  t.equal(new URL(sent.location!).port, String(s.proxies[1]!.port), 'a drill moves new logins to region 2')
  const closed = await admin(s, 'POST', '/admin/breakers/idp/primary/close')
  t.equal(closed.body.state, 'closed')

  t.same((await admin(s, 'POST', '/admin/drain')).body, { status: 'draining' })
  t.equal((await fetch(`${s.issuer}/readyz`)).status, 503, 'a drained instance leaves the load balancer')
  await admin(s, 'POST', '/admin/undrain')
  t.equal((await fetch(`${s.issuer}/readyz`)).status, 200)
})
