import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { assertHtmlHeaders } from '../helpers/assertions.js'
import { basic, request, type Reply } from '../helpers/oidc.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'

// Small limits, so each is reached in a few requests; long windows, except admin's, whose reset is tested.
const LIMIT = 5
const ADMIN_TOKEN = 'rate-limit-test-admin-token-0123456789'
let stack: Stack
t.before(async () => {
  stack = await startStack({
    config: {
      admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
      rateLimits: { token: { max: LIMIT, window: '60s' }, authorize: { max: LIMIT, window: '60s' }, admin: { max: LIMIT, window: '2s' } },
    },
  })
})
t.teardown(async () => stack.close())

const garbageRefresh = { grant_type: 'refresh_token', refresh_token: 'not-a-refresh-token' }

/** `count` requests, in order; their statuses. */
async function statuses (count: number, send: () => Promise<Reply>): Promise<number[]> {
  const seen: number[] = []
  for (let i = 0; i < count; i++) seen.push((await send()).status)
  return seen
}

/** A 429 with a whole-second Retry-After within the window. */
function tooMany (t: Test, reply: { status: number, headers: Headers }, windowSeconds: number, message: string): void {
  t.equal(reply.status, 429, `${message}: 429`)
  const retryAfter = Number(reply.headers.get('retry-after'))
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds, `${message}: Retry-After ${reply.headers.get('retry-after')} seconds`)
}

async function admin (path: string, token = ADMIN_TOKEN): Promise<Response> {
  return fetch(`${stack.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })
}

t.test('/token answers 429 with Retry-After and an RFC 6749 error body once a client is over its limit', async (t) => {
  const auth = { authorization: basic('shop', 'shop-secret') }
  t.same(await statuses(LIMIT - 1, () => request(stack, '/token', { form: garbageRefresh, headers: auth })), Array(LIMIT - 1).fill(400), 'within the limit the grant itself is judged')
  const last = await request(stack, '/token', { form: garbageRefresh, headers: auth })
  t.equal(last.status, 400, 'the last request within the limit too')
  t.equal(last.headers.get('x-ratelimit-limit'), null, 'no X-RateLimit-* headers within the limit: only a 429 carries them')
  const over = await request(stack, '/token', { form: garbageRefresh, headers: auth })
  tooMany(t, over, 60, 'the next request')
  t.match(over.headers.get('content-type'), /^application\/json/)
  t.same(Object.keys(over.json).sort(), ['error', 'error_description'])
  t.equal(over.json.error, 'invalid_request', 'a registered token-endpoint error code (RFC 6749 §5.2); the status and Retry-After say "later"')
  t.equal(over.headers.get('cache-control'), 'no-store')
  t.equal(over.headers.get('x-ratelimit-limit'), String(LIMIT))
})

t.test('another client keeps its own /token budget', async (t) => {
  const reply = await request(stack, '/token', { form: garbageRefresh, headers: { authorization: basic('news', 'news-secret') } })
  t.equal(reply.status, 400, 'news is judged on its grant, not throttled for shop\'s traffic')
})

t.test('guessing a client\'s secret is limited per IP and never spends that client\'s own budget', async (t) => {
  const guess = (i: number) => request(stack, '/introspect', { form: { token: 'x', client_id: 'news', client_secret: `guess-${i}` } })
  const guesses: number[] = []
  for (let i = 0; i < LIMIT; i++) guesses.push((await guess(i)).status)
  t.same(guesses, Array(LIMIT).fill(401), 'wrong secrets are invalid_client')
  tooMany(t, await guess(LIMIT), 60, 'the next guess')
  const genuine = await request(stack, '/introspect', { form: { token: 'x' }, headers: { authorization: basic('news', 'news-secret') } })
  t.equal(genuine.status, 200, 'news itself still introspects')
  t.same(genuine.json, { active: false })
})

t.test('a public client is limited per IP', async (t) => {
  const revoke = () => request(stack, '/revoke', { form: { token: 'x', client_id: 'spa' } })
  t.same(await statuses(LIMIT, revoke), Array(LIMIT).fill(200))
  tooMany(t, await revoke(), 60, 'the next revocation')
})

t.test('/authorize answers a 429 HTML page with Retry-After once an IP is over its limit, whatever X-Forwarded-For says', async (t) => {
  const url = authorizeUrl(stack.issuer, 'shop')
  const started = await statuses(LIMIT, async () => request(stack, url))
  t.same(started, Array(LIMIT).fill(302), 'within the limit the browser is sent on to the upstream')
  for (const forwarded of ['203.0.113.7', '198.51.100.1, 127.0.0.1']) {
    const over = await request(stack, url, { headers: { 'x-forwarded-for': forwarded } })
    tooMany(t, over, 60, `with X-Forwarded-For ${forwarded} (trustProxy is off)`)
    t.notOk(over.location, 'no redirect')
    assertHtmlHeaders(t, { ...over }, 'the 429 page')
    t.match(over.text, /Too many requests/)
    t.match(over.text, /try again in about \d+ seconds/)
  }
})

t.test('/callback/:provider and /logout have their own per-IP limits with the same page', async (t) => {
  for (const path of ['/callback/idp?state=x', '/logout']) {
    const within = await statuses(LIMIT, async () => request(stack, path))
    t.ok(within.every((s) => s !== 429), `${path}: not limited within the limit (${within.join(' ')})`)
    const over = await request(stack, path)
    tooMany(t, over, 60, path)
    assertHtmlHeaders(t, { ...over }, `${path} 429 page`)
  }
})

t.test('discovery, JWKS, userinfo and probes are not limited', async (t) => {
  for (const path of ['/.well-known/openid-configuration', '/jwks', '/livez', '/readyz', '/userinfo']) {
    const seen = await statuses(LIMIT * 3, async () => request(stack, path))
    t.notOk(seen.includes(429), `${path}: never 429`)
  }
})

t.test('admin routes are limited per IP before the token is checked, and the limit resets after its window', async (t) => {
  const wrong = await Promise.all(Array.from({ length: LIMIT }, async () => (await admin('/admin/breakers', 'wrong-token')).status))
  t.same(wrong, Array(LIMIT).fill(401), 'wrong tokens are refused')
  const over = await admin('/admin/breakers')
  tooMany(t, over, 2, 'even the right token, once over the limit')
  const body = await over.json() as Record<string, unknown>
  t.equal(body.error, 'invalid_request')
  for (const path of ['/metrics', '/livez', '/readyz', '/healthz']) {
    t.notOk((await Promise.all(Array.from({ length: LIMIT * 2 }, async () => (await fetch(`${stack.adminUrl}${path}`)).status))).includes(429), `${path} on the admin port is never limited`)
  }
  await sleep(2_100)
  t.equal((await admin('/admin/breakers')).status, 200, 'the right token works again after the window')
})

t.test('refused requests are counted in understudy_rate_limited_total', async (t) => {
  const text = await (await fetch(`${stack.adminUrl}/metrics`)).text()
  t.match(text, /understudy_rate_limited_total\{limit="token",route="\/token"\} 1\b/)
  t.match(text, /understudy_rate_limited_total\{limit="authorize",route="\/authorize"\} 2\b/)
  t.match(text, /understudy_rate_limited_total\{limit="admin",route="\/admin\/breakers"\} 1\b/)
})
