import t from 'tap'
import { assertHtmlHeaders } from '../helpers/assertions.js'
import { request } from '../helpers/oidc.js'
import { startStack, type Stack } from '../helpers/stack.js'

// The default status limit (600 a minute per address), as a deployment gets it. Each flood comes from
// its own local address. The gateway's clock stands still, so every flood falls in one window however
// long a loaded machine takes to send it.
const LIMIT = 600
const WINDOW_SECONDS = 60
const clock = Math.floor(Date.now() / 1000)
let stack: Stack
t.before(async () => { stack = await startStack({ config: { rateLimits: {} }, now: () => clock }) })
t.teardown(async () => stack.close())

/** Runs `count` GETs of `path` from `from`, `width` at a time; their statuses in order. */
async function flood (count: number, path: string | ((i: number) => string), from: string, width = 25): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i += width) {
    const batch = Array.from({ length: Math.min(width, count - i) }, async (_, j) => (await request(stack, typeof path === 'string' ? path : path(i + j), { from })).status)
    statuses.push(...await Promise.all(batch))
  }
  return statuses
}

function tally (statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

t.test('a flood of /status.json from one address gets 429 with Retry-After once over the default budget; another address is unaffected', async (t) => {
  const from = '127.0.0.21'
  t.same(tally(await flood(LIMIT + 20, '/status.json', from)), { 200: LIMIT, 429: 20 }, `${LIMIT} answers in the window, the rest 429`)
  const over = await request(stack, '/status.json', { from })
  t.equal(over.status, 429)
  const retryAfter = Number(over.headers.get('retry-after'))
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW_SECONDS, `Retry-After ${over.headers.get('retry-after')} seconds, within the window`)
  t.equal(over.headers.get('x-ratelimit-limit'), String(LIMIT))
  t.match(over.headers.get('content-type'), /^application\/json/)
  t.equal(over.json.error, 'invalid_request', 'the same error body as every other 429')
  t.equal(over.headers.get('cache-control'), 'no-store')
  const elsewhere = await request(stack, '/status.json', { from: '127.0.0.22' })
  t.equal(elsewhere.status, 200, 'another address still gets the status')
  t.match(elsewhere.json, { status: 'ok', providers: Array })
})

t.test('/status, /status.json and /healthz share one budget per address, and the page\'s 429 is a page', async (t) => {
  const from = '127.0.0.23'
  const paths = ['/status', '/status.json', '/healthz']
  t.same(tally(await flood(LIMIT, (i) => paths[i % paths.length]!, from)), { 200: LIMIT }, 'the three together, within the budget')
  for (const path of paths) t.equal((await request(stack, path, { from })).status, 429, `${path} is over it`)
  const page = await request(stack, '/status', { from })
  assertHtmlHeaders(t, { ...page }, 'the 429 page')
  t.match(page.text, /Too many requests/)
  t.match(page.text, /try again in about \d+ seconds/)
  t.ok(Number(page.headers.get('retry-after')) >= 1, 'with Retry-After')
})

t.test('/livez and /readyz are never rate-limited, not even from an address over its status budget', async (t) => {
  const from = '127.0.0.24'
  await flood(LIMIT + 1, '/healthz', from)
  t.equal((await request(stack, '/status.json', { from })).status, 429, 'the address is over its status budget')
  for (const probe of ['/readyz', '/livez']) {
    t.same(tally(await flood(LIMIT * 2, probe, from)), { 200: LIMIT * 2 }, `${LIMIT * 2} ${probe} probes from that address, every one 200`)
  }
})
