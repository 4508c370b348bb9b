import t from 'tap'
import { basic, login, request, type Reply } from '../helpers/oidc.js'
import { authorizeUrl, CLIENTS, startStack, type Stack } from '../helpers/stack.js'

// The default limits, as a deployment gets them: a carrier NAT puts thousands of phones behind one
// address, and the hour after an outage is when they all come back. Each flood comes from its own
// local address. The gateway's clock stands still, so every flood falls in one window of each limit
// however long a loaded machine takes to send it.
const clock = Math.floor(Date.now() / 1000)
let stack: Stack
t.before(async () => { stack = await startStack({ config: { rateLimits: {} }, now: () => clock }) })
t.teardown(async () => stack.close())

/** Runs `count` calls, `width` at a time; their results in order. */
async function flood<T> (count: number, width: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  for (let i = 0; i < count; i += width) results.push(...await Promise.all(Array.from({ length: Math.min(width, count - i) }, async (_, j) => call(i + j))))
  return results
}

function tally (statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

t.test('400 SSO logins from one address, code and token each, all succeed with the default limits', async (t) => {
  const { browser } = await login(stack, 'shop')
  const url = authorizeUrl(stack.issuer, 'shop')
  const codes = await flood(400, 25, async () => {
    const answer = await browser.fetch(url)
    if (answer.status === 429) return '429'
    return new URL(answer.location!).searchParams.get('code') ?? `no code: ${answer.location}`
  })
  t.same(tally(codes.map((c) => (c.length > 40 ? 200 : 429))), { 200: 400 }, 'every authorization is answered with a code, none with 429')
  const auth = { authorization: basic('shop', 'shop-secret') }
  const redeemed = await flood(400, 25, async (i) => (await request(stack, '/token', { form: { grant_type: 'authorization_code', code: codes[i]!, redirect_uri: CLIENTS.shop.redirectUris[0]! }, headers: auth })).status)
  t.same(tally(redeemed), { 200: 400 }, 'and every code is redeemed')
})

t.test('a flood of new upstream transactions from one address still gets 429 with the default limits', async (t) => {
  const url = authorizeUrl(stack.issuer, 'shop')
  const statuses = await flood(340, 20, async () => (await request(stack, url, { from: '127.0.0.9' })).status)
  const counts = tally(statuses)
  t.same(counts, { 302: 300, 429: 40 }, '300 browsers are sent upstream in the window, the rest get 429')
})

t.test('a flood of failed client authentications from one address still gets 429 with the default limits, and then so does the right secret', async (t) => {
  const from = '127.0.0.10'
  const guess = async (i: number): Promise<Reply> => request(stack, '/introspect', { form: { token: 'x', client_id: 'shop', client_secret: `guess-${i}` }, from })
  const statuses = (await flood(1040, 40, guess)).map((r) => r.status)
  const counts = tally(statuses)
  t.same(counts, { 401: 1000, 429: 40 }, '1000 wrong secrets are tried in the window, the rest get 429')
  const right = await request(stack, '/introspect', { form: { token: 'x' }, headers: { authorization: basic('shop', 'shop-secret') }, from })
  t.equal(right.status, 429, 'the right secret from that address is refused too')
  const elsewhere = await request(stack, '/introspect', { form: { token: 'x' }, headers: { authorization: basic('shop', 'shop-secret') } })
  t.equal(elsewhere.status, 200, 'while the client itself, from its own address, is not')
})
