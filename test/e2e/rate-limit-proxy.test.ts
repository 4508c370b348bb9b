import t from 'tap'
import { request } from '../helpers/oidc.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'

// The gateway behind an ingress on 127.0.0.1: only that address may say who the client is.
const LIMIT = 3
let stack: Stack
t.before(async () => {
  stack = await startStack({ config: { trustProxy: ['127.0.0.1'], rateLimits: { authorize: { max: LIMIT, window: '60s' } } } })
})
t.teardown(async () => stack.close())

const url = () => authorizeUrl(stack.issuer, 'shop')
const from = (client: string) => ({ headers: { 'x-forwarded-for': client } })

t.test('behind a trusted proxy each client address has its own /authorize budget', async (t) => {
  for (let i = 0; i < LIMIT; i++) t.equal((await request(stack, url(), from('203.0.113.1'))).status, 302)
  t.equal((await request(stack, url(), from('203.0.113.1'))).status, 429, 'the first client is over its limit')
  t.equal((await request(stack, url(), from('203.0.113.2'))).status, 302, 'a second client behind the same proxy is not')
})

t.test('the client address is the one the trusted proxy appended, not what the client wrote', async (t) => {
  // A client that forges X-Forwarded-For gets its forgery and its real address appended by the proxy; the gateway reads the last untrusted hop.
  for (let i = 0; i < LIMIT; i++) t.equal((await request(stack, url(), from(`10.9.9.${i}, 198.51.100.9`))).status, 302)
  t.equal((await request(stack, url(), from('10.9.9.200, 198.51.100.9'))).status, 429, 'a new forged hop does not buy a new budget')
})

t.test('IPv6 clients are keyed per /64: every address of one subscriber\'s prefix shares a budget, the next prefix has its own', async (t) => {
  const prefix = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff']
  for (const address of prefix) t.equal((await request(stack, url(), from(address))).status, 302, address)
  t.equal((await request(stack, url(), from('2001:db8:1:2:abcd::77'))).status, 429, 'another address of the same /64 is over the limit')
  t.equal((await request(stack, url(), from('2001:db8:1:3::1'))).status, 302, 'the neighbouring /64 is not')
})

t.test('the client address reaches the request log', async (t) => {
  await request(stack, url(), from('192.0.2.44'))
  t.ok(stack.logs.some((line) => line.includes('"remoteAddress":"192.0.2.44"')), 'logged as the remote address')
})

t.test('a second gateway with rateLimits.enabled false warns at start and never answers 429', async (t) => {
  const open = await startStack({ issuer: stack.issuer, upstream: stack.upstream, config: { rateLimits: { enabled: false } } })
  t.teardown(() => open.close())
  t.ok(open.logs.some((line) => line.includes('"level":40') && line.includes('rate limits are disabled')), 'a warning at start')
  const answers = await Promise.all(Array.from({ length: 40 }, async () => (await fetch(`${open.gateway.url}/authorize?${new URL(url()).searchParams}`, { redirect: 'manual' })).status))
  t.notOk(answers.includes(429))
})
