import t, { type Test } from 'tap'
import { assertHtmlHeaders } from '../helpers/assertions.js'
import { testClock } from '../helpers/clock.js'
import { basic, login, request, type Reply } from '../helpers/oidc.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'

// Small limits, so each is reached in a few requests; long windows, except admin's, whose reset is tested
// by moving the gateway's clock past it.
const LIMIT = 5
const ADMIN_TOKEN = 'rate-limit-test-admin-token-0123456789'
const clock = testClock()
let stack: Stack
t.before(async () => {
  stack = await startStack({
    now: clock.now,
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

// Each back-channel test comes from its own local address: failed client authentications spend one budget per address.
t.test('/token: over an address\'s budget of failed client authentications, even the right secret gets 429 with Retry-After and an RFC 6749 error body', async (t) => {
  const from = '127.0.0.2'
  const wrong = { authorization: basic('shop', 'wrong-secret') }
  const failed = await statuses(LIMIT, () => request(stack, '/token', { form: garbageRefresh, headers: wrong, from }))
  t.same(failed, Array(LIMIT).fill(401), 'within the budget a wrong secret is invalid_client')
  const last = await request(stack, '/token', { form: garbageRefresh, headers: { authorization: basic('shop', 'shop-secret') }, from })
  tooMany(t, last, 60, 'the right secret, once the address is over its budget: a right guess is refused like the wrong ones')
  const over = await request(stack, '/token', { form: garbageRefresh, headers: wrong, from })
  tooMany(t, over, 60, 'the next wrong secret')
  t.match(over.headers.get('content-type'), /^application\/json/)
  t.same(Object.keys(over.json).sort(), ['error', 'error_description'])
  t.equal(over.json.error, 'invalid_request', 'a registered token-endpoint error code (RFC 6749 §5.2); the status and Retry-After say "later"')
  t.equal(over.headers.get('cache-control'), 'no-store')
  t.equal(over.headers.get('x-ratelimit-limit'), String(LIMIT))
})

t.test('successful client authentications are not counted: a client is never throttled by its own traffic', async (t) => {
  const auth = { authorization: basic('shop', 'shop-secret') }
  const judged = await statuses(LIMIT * 4, () => request(stack, '/token', { form: garbageRefresh, headers: auth, from: '127.0.0.3' }))
  t.same(judged, Array(LIMIT * 4).fill(400), 'every request is judged on its grant')
  const reply = await request(stack, '/token', { form: garbageRefresh, headers: auth, from: '127.0.0.3' })
  t.equal(reply.headers.get('x-ratelimit-limit'), null, 'no X-RateLimit-* headers within the limit: only a 429 carries them')
})

t.test('guessing a client\'s secret spends the guesser\'s address budget, shared by the back-channel routes, never the client\'s own', async (t) => {
  const from = '127.0.0.4'
  const guess = (i: number, path = '/introspect') => request(stack, path, { form: { token: 'x', client_id: 'news', client_secret: `guess-${i}` }, from })
  const guesses: number[] = []
  for (let i = 0; i < LIMIT; i++) guesses.push((await guess(i)).status)
  t.same(guesses, Array(LIMIT).fill(401), 'wrong secrets are invalid_client')
  tooMany(t, await guess(LIMIT), 60, 'the next guess')
  tooMany(t, await guess(LIMIT + 1, '/revoke'), 60, 'a guess at another back-channel route')
  const genuine = await request(stack, '/introspect', { form: { token: 'x' }, headers: { authorization: basic('news', 'news-secret') }, from: '127.0.0.5' })
  t.equal(genuine.status, 200, 'news itself still introspects from its own address')
  t.same(genuine.json, { active: false })
})

t.test('a public client, which has no secret to guess, is not limited per address', async (t) => {
  const revoke = () => request(stack, '/revoke', { form: { token: 'x', client_id: 'spa' }, from: '127.0.0.6' })
  t.same(await statuses(LIMIT * 4, revoke), Array(LIMIT * 4).fill(200))
})

t.test('/authorize answers a 429 HTML page with Retry-After once an address is over its budget of new upstream transactions, whatever X-Forwarded-For says', async (t) => {
  const url = authorizeUrl(stack.issuer, 'shop')
  const from = '127.0.0.7'
  const started = await statuses(LIMIT, async () => request(stack, url, { from }))
  t.same(started, Array(LIMIT).fill(302), 'within the limit the browser is sent on to the upstream')
  for (const forwarded of ['203.0.113.7', '198.51.100.1, 127.0.0.1']) {
    const over = await request(stack, url, { headers: { 'x-forwarded-for': forwarded }, from })
    tooMany(t, over, 60, `with X-Forwarded-For ${forwarded} (trustProxy is off)`)
    t.notOk(over.location, 'no redirect')
    t.notOk(over.headers.getSetCookie().length, 'no transaction cookie')
    assertHtmlHeaders(t, { ...over }, 'the 429 page')
    t.match(over.text, /Too many requests/)
    t.match(over.text, /try again in about \d+ seconds/)
  }
})

t.test('SSO logins are never counted, not even from an address over its budget of new upstream transactions', async (t) => {
  const { browser } = await login(stack, 'shop')
  const url = authorizeUrl(stack.issuer, 'shop')
  const sso = async () => {
    const answer = await browser.fetch(url)
    return answer.location !== undefined && new URL(answer.location).searchParams.has('code') ? 'code' : String(answer.status)
  }
  const first: string[] = []
  for (let i = 0; i < LIMIT * 4; i++) first.push(await sso())
  t.same(first, Array(LIMIT * 4).fill('code'), 'every SSO login is answered with a code')
  const fresh = await statuses(LIMIT, async () => request(stack, url))
  t.equal(fresh.at(-1), 429, `new upstream transactions from this address are limited (${fresh.join(' ')})`)
  t.equal(await sso(), 'code', 'while SSO from the same address still answers with a code')
})

t.test('/callback/:provider has its own per-address limit with the same page; /logout has none', async (t) => {
  const path = '/callback/idp?state=x'
  const from = '127.0.0.8'
  const within = await statuses(LIMIT, async () => request(stack, path, { from }))
  t.ok(within.every((s) => s !== 429), `${path}: not limited within the limit (${within.join(' ')})`)
  const over = await request(stack, path, { from })
  tooMany(t, over, 60, path)
  assertHtmlHeaders(t, { ...over }, `${path} 429 page`)
  const logouts = await statuses(LIMIT * 4, async () => request(stack, '/logout', { from }))
  t.notOk(logouts.includes(429), '/logout ends only the caller\'s own session: it costs the upstream nothing and guesses nothing')
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
  clock.advance(2)
  t.equal((await admin('/admin/breakers')).status, 200, 'the right token works again after the window')
})

t.test('refused requests are counted in understudy_rate_limited_total', async (t) => {
  const text = await (await fetch(`${stack.adminUrl}/metrics`)).text()
  t.match(text, /understudy_rate_limited_total\{limit="token",route="\/token"\} 2\b/)
  t.match(text, /understudy_rate_limited_total\{limit="token",route="\/introspect"\} 1\b/)
  t.match(text, /understudy_rate_limited_total\{limit="authorize",route="\/authorize"\} 3\b/)
  t.match(text, /understudy_rate_limited_total\{limit="authorize",route="\/callback\/:provider"\} 1\b/)
  t.match(text, /understudy_rate_limited_total\{limit="admin",route="\/admin\/breakers"\} 1\b/)
})
