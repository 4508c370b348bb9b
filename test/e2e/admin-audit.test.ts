import t, { type Test } from 'tap'
import { ADMIN, ADMIN_TOKEN } from '../helpers/admin.js'
import { request, type Reply } from '../helpers/oidc.js'
import { startStack, type Stack } from '../helpers/stack.js'

/**
 * The admin port's rate limit and audit trail cannot be sidestepped: the
 * client address is the socket's, whatever X-Forwarded-For says, one budget
 * covers every admin route, and every change leaves a warn line and an
 * incident event naming that address.
 */

const LIMIT = 4

/** A gateway behind a trusted ingress (trustProxy: true), with chaos, the admin limit at LIMIT and a clock the test moves. */
async function auditStack (t: Test): Promise<{ s: Stack, later (seconds: number): void }> {
  let offset = 0
  const s = await startStack({
    provider: { healthCheck: { interval: 3600 } },
    now: () => Math.floor(Date.now() / 1000) + offset,
    config: { admin: ADMIN, chaos: { enabled: true }, trustProxy: true, rateLimits: { enabled: true, admin: { max: LIMIT, window: '1m' } } },
  })
  t.teardown(() => s.close())
  return { s, later: (seconds) => { offset += seconds } }
}

/** One admin call from local address `from`, claiming to forward for `forwardedFor`. */
async function adminFrom (s: Stack, from: string, method: string, path: string, options: { token?: string, body?: unknown, forwardedFor?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? ADMIN_TOKEN}` }
  if (options.forwardedFor) headers['x-forwarded-for'] = options.forwardedFor
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  return request({ ...s, issuer: s.adminUrl }, path, { method, headers, from, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) })
}

const lines = (s: Stack, match: (entry: Record<string, any>) => boolean) => s.logs.map((line) => JSON.parse(line) as Record<string, any>).filter(match)

t.test('the admin port counts every admin route of one address in one budget, and X-Forwarded-For buys no other', async (t) => {
  const { s } = await auditStack(t)
  const from = '127.0.0.21'
  const paths = ['/admin/breakers', '/admin/incidents', '/admin/faults', '/admin/breakers']
  for (const [i, path] of paths.entries()) {
    const reply = await adminFrom(s, from, 'GET', path, { forwardedFor: `198.51.100.${i}` })
    t.equal(reply.status, 200, `${path}, claiming to forward for 198.51.100.${i}`)
  }
  const over = await adminFrom(s, from, 'GET', '/admin/faults', { forwardedFor: '198.51.100.99' })
  t.equal(over.status, 429, 'the next admin request of that address is over the limit, whatever route and X-Forwarded-For')
  t.ok(Number(over.headers.get('retry-after')) >= 1)
  t.equal((await adminFrom(s, '127.0.0.22', 'GET', '/admin/breakers')).status, 200, 'another address has its own budget')
  t.equal((await request(s, '/livez', { from, headers: { 'x-forwarded-for': '198.51.100.7' } })).status, 200, 'the public port still trusts its ingress')
})

t.test('every admin change is a warn line and an incident event naming the client address, never the forwarded one', async (t) => {
  const { s } = await auditStack(t)
  const changes: Array<[string, string, string, unknown?]> = [
    ['breaker.policy.changed', 'PATCH', '/admin/breakers/idp/primary', { timeout: '3s' }],
    ['breaker.policy.reset', 'DELETE', '/admin/breakers/idp/primary/policy'],
    ['breaker.forced.open', 'POST', '/admin/breakers/idp/secondary/open'],
    ['breaker.forced.close', 'POST', '/admin/breakers/idp/secondary/close'],
    ['drain', 'POST', '/admin/drain'],
    ['undrain', 'POST', '/admin/undrain'],
    ['fault.injected', 'POST', '/admin/faults', { target: { provider: 'idp', region: 'secondary' }, kind: 'latency', latency: '1ms', duration: '1m' }],
  ]
  // Each change from its own address, so that the limit of LIMIT per address never gets in the way.
  let host = 30
  const addressOf = new Map<string, string>()
  const send = async (action: string, method: string, path: string, body?: unknown) => {
    const from = `127.0.0.${host++}`
    addressOf.set(action, from)
    const reply = await adminFrom(s, from, method, path, { body, forwardedFor: '203.0.113.66' })
    t.ok(reply.status === 200 || reply.status === 201, `${method} ${path}: ${reply.status}`)
    return reply
  }
  for (const [action, method, path, body] of changes) await send(action, method, path, body)
  const { id } = (await adminFrom(s, `127.0.0.${host++}`, 'GET', '/admin/faults')).json.faults[0]
  await send('fault.removed', 'DELETE', `/admin/faults/${id}`)
  await send('fault.cleared', 'DELETE', '/admin/faults')

  const events = (await s.gateway.gateway.store.shared.tail('incident-events', 100)).map((line) => JSON.parse(line) as { kind: string, data?: { action?: string, from?: string } })
  for (const [action, from] of addressOf) {
    const logged = lines(s, (e) => e.audit === action)
    t.equal(logged.length, 1, `${action}: one audit line`)
    t.equal(logged[0]?.level, 40, `${action}: at warn`)
    t.equal(logged[0]?.from, from, `${action}: naming the client address`)
    const recorded = events.filter((e) => e.data?.action === action)
    t.equal(recorded.length, 1, `${action}: one incident event`)
    t.equal(recorded[0]?.data?.from, from, `${action}: naming the client address`)
  }
  t.notOk(s.logs.some((line) => line.includes('203.0.113.66')), 'the forwarded address appears nowhere')
})

t.test('failed admin authentication is logged at warn, once a minute per address', async (t) => {
  const { s, later } = await auditStack(t)
  const failures = () => lines(s, (e) => e.audit === 'admin.auth.failed')
  const wrong = 'wrong-token-that-must-not-be-logged'
  for (let i = 0; i < 3; i++) t.equal((await adminFrom(s, '127.0.0.41', 'GET', '/admin/breakers', { token: wrong })).status, 401)
  t.equal((await adminFrom(s, '127.0.0.42', 'POST', '/admin/drain', { token: wrong })).status, 401)
  t.match(failures(), [{ level: 40, from: '127.0.0.41', route: '/admin/breakers' }, { level: 40, from: '127.0.0.42', route: '/admin/drain' }], 'the first failure of each address, and only that')
  later(61)
  t.equal((await adminFrom(s, '127.0.0.41', 'GET', '/admin/incidents', { token: wrong })).status, 401)
  t.equal(failures().length, 3, 'a minute later the address is logged again')
  t.match(failures()[2], { from: '127.0.0.41', unloggedFailures: 2 }, 'with the count of the failures that were not')
  t.notOk(s.logs.some((line) => line.includes(wrong)), 'the presented token is never logged')
  const refused = await adminFrom(s, '127.0.0.43', 'GET', '/admin/breakers', { token: wrong })
  t.same(refused.json, { error: 'unauthorized', error_description: 'a valid admin bearer token is required' })
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="understudy-admin"')
  t.equal(refused.headers.get('cache-control'), 'no-store')
})
