import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { login } from '../helpers/oidc.js'
import { startStack, type Stack } from '../helpers/stack.js'

/**
 * The secrets that live in the config (admin token, webhook secrets and URL
 * credentials, the upstream client secret, client secrets) and the ones an
 * attacker guesses (near misses of the admin token) never reach the logs,
 * whatever the admin API and the webhooks are asked to do.
 */

const ADMIN_TOKEN = 'adm1n-T0ken-that-must-never-be-logged-7f3a'
const NEAR_MISS = `${ADMIN_TOKEN.slice(0, -1)}b`
const WEBHOOK_SECRET = 'webhook-secret-that-must-never-be-logged'
const URL_PASSWORD = 'url-password-never-logged'
const URL_TOKEN = 'url-query-token-never-logged'

let stack: Stack
let deliveries = 0
t.before(async () => {
  const receiver = createServer((req, res) => { deliveries++; req.resume(); res.writeHead(204).end() })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { receiver.closeAllConnections(); receiver.close(() => resolve()) }))
  const port = (receiver.address() as AddressInfo).port
  stack = await startStack({
    provider: { healthCheck: { interval: 3600 } },
    config: {
      admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
      chaos: { enabled: true },
      webhooks: [
        { url: `http://hook:${URL_PASSWORD}@127.0.0.1:${port}/hook?token=${URL_TOKEN}`, allowHttp: true, events: ['region.open', 'region.closed'], secret: WEBHOOK_SECRET },
        // Nobody listens on port 1: deliveries fail and are retried, so the failure path logs too.
        { url: `http://hook:${URL_PASSWORD}@127.0.0.1:1/hook?token=${URL_TOKEN}`, allowHttp: true, events: ['region.open'], secret: WEBHOOK_SECRET },
      ],
    },
  })
})
t.teardown(async () => stack.close())

async function admin (method: string, path: string, options: { token?: string, body?: unknown, raw?: string } = {}): Promise<number> {
  const headers: Record<string, string> = {}
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${stack.adminUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  await response.arrayBuffer()
  return response.status
}

t.test('admin calls, webhooks and a login leave no token, secret or URL credential in the logs', async (t) => {
  t.equal(await admin('GET', '/admin/breakers', { token: NEAR_MISS }), 401, 'a near miss of the admin token is refused')
  t.equal(await admin('GET', '/admin/breakers'), 401)
  t.equal(await admin('GET', '/admin/breakers', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('PATCH', '/admin/breakers/idp/primary', { token: ADMIN_TOKEN, body: { timeout: '3s' } }), 200)
  t.equal(await admin('PATCH', '/admin/breakers/idp/primary', { token: ADMIN_TOKEN, raw: `{"timeout": "${ADMIN_TOKEN}"` }), 400, 'broken JSON quoting the token')
  t.equal(await admin('PATCH', '/admin/breakers/idp/primary', { token: ADMIN_TOKEN, body: { timeout: WEBHOOK_SECRET } }), 400, 'a policy quoting a secret')
  t.equal(await admin('DELETE', '/admin/breakers/idp/primary/policy', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('POST', '/admin/breakers/idp/primary/open', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('POST', '/admin/breakers/idp/primary/close', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('POST', '/admin/faults', { token: ADMIN_TOKEN, body: { target: { provider: 'idp', region: 'secondary' }, kind: 'latency', latency: '10ms', duration: '1s' } }), 201)
  t.equal(await admin('POST', '/admin/faults', { token: ADMIN_TOKEN, body: { target: { provider: ADMIN_TOKEN }, kind: 'error', duration: 1 } }), 400)
  t.equal(await admin('DELETE', '/admin/faults', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('GET', '/admin/incidents', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('POST', '/admin/drain', { token: ADMIN_TOKEN }), 200)
  t.equal(await admin('POST', '/admin/undrain', { token: ADMIN_TOKEN }), 200)
  const deadline = Date.now() + 5_000
  while (deliveries < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
  t.equal(deliveries, 2, 'region.open and region.closed reached the receiver')
  const { tokens } = await login(stack, 'shop')
  t.ok(tokens.access_token, 'a login went through as well')

  const secrets: Record<string, string> = {
    'admin token': ADMIN_TOKEN,
    'near miss of the admin token': NEAR_MISS,
    'webhook secret': WEBHOOK_SECRET,
    'webhook URL password': URL_PASSWORD,
    'webhook URL token': URL_TOKEN,
    'upstream client secret': 'upstream-secret',
    'client secret': 'shop-secret',
  }
  t.ok(stack.logs.some((line) => line.includes('"audit":"breaker.policy.changed"')), 'admin actions are audited in the log, so their lines are what is tested')
  for (const [name, value] of Object.entries(secrets)) t.same(stack.logs.filter((line) => line.includes(value)), [], `the ${name} is not logged`)
})
