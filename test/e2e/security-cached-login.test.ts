import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { admin, ADMIN } from '../helpers/admin.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { claimsOf, login, refresh, sessionCookie } from '../helpers/oidc.js'
import { authorizationRequest, discoverClient } from '../helpers/relying-party.js'
import { authorizeUrl, browserLogin, freePort, redirectParams, startStack, startStackUpstream, type Stack } from '../helpers/stack.js'

// The attacker holds a session cookie older than maxStaleness (stolen, or of a user the upstream has since banned):
// only the gateway's own evidence of an outage may turn it into a login.
const HOUR = 3600
const CONFIG = { sessions: { maxStaleness: '1h', outageMaxStaleness: '1d' }, admin: ADMIN }

/** A stack whose gateway runs on `clock`, and a browser holding a session the upstream vouched for two hours ago. */
async function staleSession (t: Test, options: { proxied?: boolean } = {}): Promise<{ s: Stack, browser: Browser }> {
  // Two hours behind, then caught up: what is done before is that old after.
  const clock = testClock(-2 * HOUR)
  const s = await startStack({ config: CONFIG, now: clock.now, ...options })
  t.teardown(() => s.close())
  const browser = new Browser()
  t.ok(redirectParams(await browserLogin(browser, authorizeUrl(s.issuer, 'shop'), 'stale-user')).get('code'), 'the user logged in through the upstream')
  clock.advance(2 * HOUR)
  return { s, browser }
}

/** openid-client as the relying party `news`: its authorization URL and what it checks the answer against. */
async function relyingParty (s: Stack) {
  const config = await discoverClient(s.issuer, 'news')
  return { config, ...await authorizationRequest(config, 'news') }
}

const atCallback = (u: URL) => u.pathname.startsWith('/callback/')

async function loginCount (s: Stack, client: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`understudy_logins_total{client="${client}",provider="idp",outcome="${outcome}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

t.test('with the upstream healthy, error=temporarily_unavailable forged at the callback is passed on to the relying party and never becomes a cached login', async (t) => {
  const { s, browser } = await staleSession(t)
  const rp = await relyingParty(s)
  const sent = await browser.fetch(rp.url)
  t.equal(new URL(sent.location!).origin, new URL(s.upstream.regions[0]!.url).origin, 'the stale session is sent to the upstream, which is up')
  const upstreamState = new URL(sent.location!).searchParams.get('state')!
  const before = sessionCookie(s, browser)

  const forged = await browser.fetch(`${s.issuer}/callback/idp?${new URLSearchParams({ state: upstreamState, error: 'temporarily_unavailable' })}`)
  t.equal(forged.status, 302)
  const params = redirectParams(forged)
  t.equal(params.get('error'), 'temporarily_unavailable', 'the error is passed on as it is')
  t.equal(params.get('code'), null, 'no code')
  t.equal(params.get('iss'), s.issuer)
  const seen = await oidc.authorizationCodeGrant(rp.config, new URL(forged.location!), rp.checks).then(() => undefined, (err: { error?: string }) => err.error)
  t.equal(seen, 'temporarily_unavailable', 'the relying party sees the error, not a login')
  t.equal(sessionCookie(s, browser), before, 'the session is neither renewed nor replaced')
  t.equal(await loginCount(s, 'news', 'error'), 1, 'counted as an error')
  t.equal(await loginCount(s, 'news', 'cached'), 0, 'never as a cached login')
  t.equal(await loginCount(s, 'news', 'unavailable'), 0, 'nor as the upstream being unavailable')
})

t.test('a real outage at the code exchange (every region refusing connections) still serves the returning user a cached login', async (t) => {
  const { s, browser } = await staleSession(t, { proxied: true })
  const rp = await relyingParty(s)
  const first = await browser.follow(rp.url, { stopAt: atCallback })
  const callback: BrowserResponse = first.location !== undefined && atCallback(new URL(first.location))
    ? first
    : await browser.submitForm(first.text, first.url, { login: 'stale-user' }, { stopAt: atCallback })
  t.ok(callback.location !== undefined && atCallback(new URL(callback.location)), 'the upstream sends the browser back with a code')

  await Promise.all(s.proxies.map((p) => p.setFault({ kind: 'refuse' })))
  const answer = await browser.fetch(callback.location!)
  t.ok(redirectParams(answer).get('code'), 'the gateway\'s own code exchange failed: a cached login')
  const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(answer.location!), rp.checks)
  t.equal(tokens.claims()!.acr, 'urn:understudy:acr:cached', 'openid-client reads acr cached')
  t.equal(await loginCount(s, 'news', 'cached'), 1)
})

t.test('an outage the operator forces (every breaker open through the admin API) still serves the returning user a cached login', async (t) => {
  const { s, browser } = await staleSession(t)
  for (const region of ['primary', 'secondary']) t.equal((await admin(s, 'POST', `/admin/breakers/idp/${region}/open`)).status, 200)
  const rp = await relyingParty(s)
  const answer = await browser.fetch(rp.url)
  const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(answer.location!), rp.checks)
  t.equal(tokens.claims()!.acr, 'urn:understudy:acr:cached')
})

/**
 * A web application firewall in front of an upstream region: it passes every
 * request on, except that while `answer` is set, token requests get that
 * status with an HTML page, as a WAF or a CDN error page would.
 */
async function startWaf (t: Test, target: string): Promise<{ url: string, answer: number | undefined }> {
  const waf = { url: '', answer: undefined as number | undefined }
  const to = new URL(target)
  const server: Server = createServer((req, res) => {
    if (waf.answer !== undefined && req.method === 'POST' && req.url?.startsWith('/token')) {
      res.writeHead(waf.answer, { 'content-type': 'text/html' }).end('<html><body><h1>Request blocked</h1><p>Incident ID 4711</p></body></html>')
      return
    }
    const forwarded = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upstream) => {
      res.writeHead(upstream.statusCode ?? 502, upstream.headers)
      upstream.pipe(res)
    })
    forwarded.on('error', () => res.destroy())
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    await closed
  })
  waf.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return waf
}

t.test('a WAF\'s 403 HTML page at refresh revalidation ends the grant (invalid_grant), while its 503 page is an outage', async (t) => {
  // Two hours behind, then caught up: what is done before is that old after.
  const clock = testClock(-2 * HOUR)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const upstream = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const wafs = await Promise.all(upstream.regions.map(async (r) => startWaf(t, r.url)))
  const s = await startStack({
    issuer,
    upstream,
    now: clock.now,
    config: { ...CONFIG, listen: { host: '127.0.0.1', port } },
    provider: { regions: upstream.regions.map((r, i) => ({ name: r.name, url: wafs[i]!.url })) },
  })
  t.teardown(() => s.close())
  const { tokens } = await login(s, 'shop', {}, { user: 'waf-user' })
  clock.advance(2 * HOUR)

  for (const waf of wafs) waf.answer = 503
  const outage = await refresh(s, 'shop', tokens.refresh_token)
  t.equal(outage.status, 200, 'a 503 page is the upstream being unavailable')
  t.equal(claimsOf(outage.json.id_token).acr, 'urn:understudy:acr:cached')

  for (const waf of wafs) waf.answer = 403
  const refused = await refresh(s, 'shop', outage.json.refresh_token)
  t.equal(refused.status, 400, 'a 403 page is a refusal, not an outage')
  t.equal(refused.json.error, 'invalid_grant')
  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_revalidations_total\{provider="idp",result="refused"\} 1/)
})

/** The same fleet (keys, issuer, upstream) after the provider `idp` was taken out of the config: another gateway of it. */
async function withoutProvider (t: Test, before: Stack): Promise<Stack> {
  const after = await startStack({ issuer: before.issuer, upstream: before.upstream, config: CONFIG, provider: { id: 'renamed' }, clientOverrides: { providers: ['renamed'] } })
  t.teardown(() => after.close())
  return after
}

t.test('a stale refresh for a provider no longer in the config gets invalid_grant, not a cached grant', async (t) => {
  // Two hours behind, then caught up: what is done before is that old after.
  const clock = testClock(-2 * HOUR)
  const before = await startStack({ config: CONFIG, now: clock.now })
  t.teardown(() => before.close())
  const { tokens } = await login(before, 'shop', {}, { user: 'orphan' })
  const after = await withoutProvider(t, before)
  const answer = await refresh({ ...after, issuer: after.gateway.url }, 'shop', tokens.refresh_token)
  t.equal(answer.status, 400)
  t.equal(answer.json.error, 'invalid_grant')
})

t.test('a fresh refresh for a provider no longer in the config gets invalid_grant too', async (t) => {
  const before = await startStack({ config: CONFIG })
  t.teardown(() => before.close())
  const { tokens } = await login(before, 'shop', {}, { user: 'orphan-fresh' })
  const after = await withoutProvider(t, before)
  const answer = await refresh({ ...after, issuer: after.gateway.url }, 'shop', tokens.refresh_token)
  t.equal(answer.status, 400)
  t.equal(answer.json.error, 'invalid_grant')
})

t.test('a login started before its provider was taken out of the config ends with invalid_request to the relying party, not a 5xx', async (t) => {
  const before = await startStack({ config: CONFIG })
  t.teardown(() => before.close())
  const after = await withoutProvider(t, before)
  const browser = new Browser()
  const atCallback = (u: URL) => u.pathname.startsWith('/callback/')
  const first = await browser.follow(authorizeUrl(before.issuer, 'shop'), { stopAt: atCallback })
  const back = first.location && atCallback(new URL(first.location)) ? first : await browser.submitForm(first.text, first.url, { login: 'orphan-tx' }, { stopAt: atCallback })
  t.ok(back.location, 'the upstream sends the browser back to the gateway')
  const callback = new URL(back.location!)
  // The other gateway of the same fleet (same issuer, its own port): the browser's cookies go with the request.
  const answer = await browser.fetch(`${after.gateway.url}${callback.pathname}${callback.search}`, { headers: { cookie: browser.cookieHeader(callback) ?? '' } })
  // The relying party's redirect_uri was checked when the login started: the error goes back to it.
  t.equal(answer.status, 302, 'an answer to the relying party, not a 5xx')
  const back2 = redirectParams(answer)
  t.equal(back2.get('error'), 'invalid_request')
  t.match(back2.get('error_description'), /no longer configured/)
  t.equal(back2.get('state'), 'st-shop')
})
