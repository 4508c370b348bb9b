import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { ADMIN, admin } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { authorizeUrl, browserLogin, CLIENTS, freePort, redirectParams, startStack, startStackUpstream, type Stack } from '../helpers/stack.js'

// At /callback the browser picks the code. An upstream that answers a garbage code with a 500 must not let
// an attacker open the breakers (and move every user to cached logins), nor earn the attacker a cached login:
// the gateway counts such an answer only when its own probe of the region fails too (SECURITY.md, degraded path).

const HOUR = 3600
const CONFIG = { sessions: { maxStaleness: '1h', outageMaxStaleness: '1d' }, admin: ADMIN }
// Traffic alone decides: the health check probes once at start, then not again during a test. Building an
// authorization URL goes through the breaker as a success too, so a low threshold lets a few failures open it.
const BREAKER = { timeout: '2s', errorThresholdPercentage: 10, volumeThreshold: 3, resetTimeout: '60s', rollingCountTimeout: '60s' }
const PROVIDER = { breaker: BREAKER, healthCheck: { interval: '10m' } }
const N = BREAKER.volumeThreshold * 3

/**
 * An upstream region's front that passes every request on, except: in mode
 * `chokes`, token requests whose code starts with `garbage` get a 500 (as some
 * providers answer malformed input); in mode `down`, every request gets a 500,
 * the probe's discovery request included (a real outage).
 */
interface Front { url: string, port: number, mode: 'chokes' | 'down', garbageAnswered: number, tokenRequests: number, downPaths: string[] }

async function startFront (t: Test, target: string): Promise<Front> {
  const to = new URL(target)
  const front: Front = { url: '', port: 0, mode: 'chokes', garbageAnswered: 0, tokenRequests: 0, downPaths: [] as string[] }
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req)
      if (front.mode === 'down') {
        front.downPaths.push(new URL(req.url ?? '/', 'http://x').pathname)
        res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>Internal Server Error</body></html>')
        return
      }
      if (req.method === 'POST' && req.url?.startsWith('/token')) {
        front.tokenRequests++
        if (new URLSearchParams(body).get('code')?.startsWith('garbage')) {
          front.garbageAnswered++
          res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>Internal Server Error</body></html>')
          return
        }
      }
      const forwarded = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers)
        upstream.pipe(res)
      })
      forwarded.on('error', () => res.destroy())
      forwarded.end(body)
    })().catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    await closed
  })
  front.port = (server.address() as AddressInfo).port
  front.url = `http://127.0.0.1:${front.port}`
  return front
}

async function read (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return body
}

/** A gateway on `clock` whose upstream regions are behind fronts, and a browser with a session the upstream vouched for two hours ago. */
async function rig (t: Test): Promise<{ s: Stack, fronts: Front[], browser: Browser }> {
  // Two hours behind, then caught up: what is done before is that old after.
  const clock = testClock(-2 * HOUR)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const upstream = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const fronts = await Promise.all(upstream.regions.map(async (r) => startFront(t, r.url)))
  const s = await startStack({
    issuer,
    upstream,
    now: clock.now,
    config: { ...CONFIG, listen: { host: '127.0.0.1', port } },
    provider: { ...PROVIDER, regions: upstream.regions.map((r, i) => ({ name: r.name, url: fronts[i]!.url })) },
  })
  t.teardown(() => s.close())
  const browser = new Browser()
  t.ok(redirectParams(await browserLogin(browser, authorizeUrl(s.issuer, 'shop'), 'mallory')).get('code'), 'the attacker logged in through the upstream once')
  clock.advance(2 * HOUR)
  return { s, fronts, browser }
}

/** The attacker's own login transaction: /authorize sends the stale session to the upstream; its state. */
async function transaction (s: Stack, browser: Browser, fronts: Front[]): Promise<{ state: string, region: number }> {
  const sent = await browser.fetch(authorizeUrl(s.issuer, 'shop'))
  const to = new URL(sent.location!)
  const region = fronts.findIndex((f) => String(f.port) === to.port)
  if (region < 0) throw new Error(`not sent to the upstream: ${sent.status} ${sent.location}`)
  return { state: to.searchParams.get('state')!, region }
}

/** The callback the attacker forges for that transaction, with `code` (and the upstream's `iss`, RFC 9207). */
async function forgedCallback (s: Stack, browser: Browser, state: string, code: string) {
  return browser.fetch(`${s.issuer}/callback/idp?${new URLSearchParams({ state, code, iss: s.upstream.issuer })}`)
}

async function metrics (s: Stack): Promise<string> {
  return (await fetch(`${s.adminUrl}/metrics`)).text()
}

async function loginCount (s: Stack, outcome: string): Promise<number> {
  const line = (await metrics(s)).split('\n').find((l) => l.startsWith(`understudy_logins_total{client="shop",provider="idp",outcome="${outcome}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

async function acrOf (s: Stack, code: string): Promise<unknown> {
  const c = CLIENTS.shop
  const response = await fetch(`${s.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: c.redirectUris[0]!, client_id: c.clientId, client_secret: c.clientSecret }),
  })
  const body = await response.json() as { id_token: string }
  return decodeJwt(body.id_token).acr
}

t.test('garbage codes the upstream answers with a 500 while it is healthy open no breaker and earn no cached login; a malformed code is never sent', async (t) => {
  const { s, fronts, browser } = await rig(t)
  for (let i = 0; i < N; i++) {
    const { state } = await transaction(s, browser, fronts)
    const answer = await forgedCallback(s, browser, state, `garbage-${i}`)
    t.equal(answer.status, 302, `garbage code #${i}: an answer to the relying party`)
    const params = redirectParams(answer)
    t.equal(params.get('code'), null, `garbage code #${i}: no code, cached or not`)
    t.equal(params.get('error'), 'access_denied', `garbage code #${i}: an OAuth error`)
    t.equal(params.get('state'), 'st-shop')
  }
  t.equal(fronts.reduce((sum, f) => sum + f.garbageAnswered, 0), N, `each of the ${N} garbage codes reached the upstream and was answered 500`)
  const breakers = s.gateway.gateway.breakers.all()
  t.same(breakers.map((b) => b.state), ['closed', 'closed'], `${N} garbage codes (volumeThreshold ${BREAKER.volumeThreshold}) leave every breaker closed`)
  t.same(breakers.map((b) => b.stats().failures), [0, 0], 'not one failure counted')
  t.same((await admin(s, 'GET', '/admin/breakers')).body.breakers.map((b: { state: string }) => b.state), ['closed', 'closed'], 'the admin API shows no open breaker')
  const text = await metrics(s)
  t.match(text, /understudy_breaker_state\{provider="idp",region="primary"\} 0/)
  t.match(text, /understudy_breaker_state\{provider="idp",region="secondary"\} 0/)
  t.equal(await loginCount(s, 'cached'), 0, 'never a cached login')
  t.equal(await loginCount(s, 'unavailable'), 0, 'nor the upstream unavailable')
  t.equal(await loginCount(s, 'error'), N, 'each an error')
  const warnings = s.logs.filter((l) => l.includes('the code, not the region, failed'))
  t.equal(warnings.length, N, 'each logged at warn')
  t.match(JSON.parse(warnings[0]!), { level: 40, provider: 'idp', region: 'primary', status: 500 })
  t.notOk(s.logs.some((l) => l.includes('garbage-')), 'no log line carries a code')

  const before = fronts.reduce((sum, f) => sum + f.tokenRequests, 0)
  for (const code of ['bad\ncode', 'caf\u00e9', 'x'.repeat(2049)]) {
    const { state } = await transaction(s, browser, fronts)
    const params = redirectParams(await forgedCallback(s, browser, state, code))
    t.equal(params.get('error'), 'invalid_request', `${JSON.stringify(code.slice(0, 12))}: invalid_request`)
    t.equal(params.get('code'), null)
  }
  t.equal(fronts.reduce((sum, f) => sum + f.tokenRequests, 0), before, 'no malformed code was sent to the upstream')

  const landed = redirectParams(await browserLogin(new Browser(), authorizeUrl(s.issuer, 'shop'), 'bob'))
  t.equal(await acrOf(s, landed.get('code')!), 'urn:understudy:acr:upstream', 'a normal login still goes to the upstream')
  t.equal(fronts[0]!.tokenRequests, before + 1, 'through the first region, whose breaker is closed')
})

t.test('a real outage (every request answered 500, the probe\'s too) still counts garbage and real codes alike, opens the breaker and earns the returning user cached logins', async (t) => {
  const { s, fronts, browser } = await rig(t)
  const atCallback = (u: URL) => u.pathname.startsWith('/callback/')
  const first = await browser.follow(authorizeUrl(s.issuer, 'shop'), { stopAt: atCallback })
  const callback = first.location !== undefined && atCallback(new URL(first.location))
    ? first
    : await browser.submitForm(first.text, first.url, { login: 'mallory' }, { stopAt: atCallback })
  t.ok(callback.location !== undefined && atCallback(new URL(callback.location)), 'the upstream sends the browser back with a real code')

  const garbage = await transaction(s, browser, fronts)
  t.equal(garbage.region, 0, 'the attacker\'s transaction is at the first region')

  for (const front of fronts) front.mode = 'down'
  const primary = s.gateway.gateway.breakers.get('idp', 'primary')!
  const forged = redirectParams(await forgedCallback(s, browser, garbage.state, 'garbage-in-an-outage'))
  t.equal(await acrOf(s, forged.get('code')!), 'urn:understudy:acr:cached', 'a garbage code during a real outage: the probe failed too, so the outage is the gateway\'s own evidence and the returning user gets a cached login, as before')
  t.same(fronts[0]!.downPaths, ['/token', '/token'], 'the exchange, then the gateway\'s own probe of the token endpoint (a code it made up), both answered 500')
  t.equal(primary.stats().failures, 1, 'the failed exchange counted')
  t.equal(primary.state, 'open', 'and opened the breaker')
  t.match(await metrics(s), /understudy_breaker_state\{provider="idp",region="primary"\} 2/)

  const real = redirectParams(await browser.fetch(callback.location!))
  t.equal(await acrOf(s, real.get('code')!), 'urn:understudy:acr:cached', 'a real code from before the outage: a cached login, as before')
  t.equal(await loginCount(s, 'cached'), 2)
  t.equal(s.logs.filter((l) => l.includes('the code, not the region, failed')).length, 0, 'no exchange was taken for a garbage code')
})
