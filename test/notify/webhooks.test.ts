import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { Browser } from '../helpers/browser.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'

interface Received { headers: IncomingMessage['headers'], body: string, event: Record<string, any> }

/** A real local receiver; `answer` decides each response (default 204). */
async function receiver (t: Test, answer: (n: number, res: ServerResponse) => void = (_n, res) => { res.writeHead(204).end() }) {
  const received: Received[] = []
  let attempts = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => {
      attempts++
      received.push({ headers: req.headers, body, event: JSON.parse(body) })
      answer(attempts, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, attempts: () => attempts }
}

/** Forces a breaker state through the admin API. */
async function post (s: Stack, path: string): Promise<void> {
  const { status } = await admin(s, 'POST', path)
  if (status !== 200) throw new Error(`${path}: ${status}`)
}

const SECRET = 'a-webhook-secret-of-some-length'
const QUIET = { healthCheck: { interval: 3600 } }

t.test('outage events reach subscribed receivers, signed with HMAC-SHA256', async (t) => {
  const all = await receiver(t)
  const providerOnly = await receiver(t)
  const s = await startStack({
    provider: QUIET,
    config: {
      admin: ADMIN,
      webhooks: [
        { url: all.url, events: ['region.open', 'region.closed', 'provider.degraded', 'provider.recovered'], secret: SECRET },
        { url: providerOnly.url, events: ['provider.degraded', 'provider.recovered'], secret: 'another-secret-0123456789' },
      ],
    },
  })
  t.teardown(() => s.close())
  await post(s, '/admin/breakers/idp/primary/open')
  await waitFor(() => all.received.length === 1, 'region.open')
  await post(s, '/admin/breakers/idp/secondary/open')
  await waitFor(() => all.received.length === 3, 'region.open and provider.degraded')
  await post(s, '/admin/breakers/idp/secondary/close')
  await waitFor(() => all.received.length === 5, 'region.closed and provider.recovered')
  t.same(all.received.map((r) => r.event.type), ['region.open', 'region.open', 'provider.degraded', 'region.closed', 'provider.recovered'])
  t.same(providerOnly.received.map((r) => r.event.type), ['provider.degraded', 'provider.recovered'], 'only subscribed events are sent')

  const first = all.received[0]!
  t.equal(first.event.provider, 'idp')
  t.equal(first.event.region, 'primary')
  t.equal(first.event.instance, 'test')
  t.same(first.event.regions, { primary: 'open', secondary: 'closed' })
  const [, at, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(first.headers['understudy-signature']))!
  t.equal(mac, createHmac('sha256', SECRET).update(`${at}.${first.body}`).digest('hex'), 'the signature covers the timestamp and the body')
  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_webhook_deliveries_total\{event="provider.degraded",outcome="delivered"\} 2/)
})

t.test('a failing receiver gets retries with backoff until it answers', async (t) => {
  const flaky = await receiver(t, (n, res) => { res.writeHead(n < 3 ? 503 : 200).end() })
  const s = await startStack({ provider: QUIET, config: { admin: ADMIN, webhooks: [{ url: flaky.url, events: ['region.open'], secret: SECRET }] } })
  t.teardown(() => s.close())
  await post(s, '/admin/breakers/idp/primary/open')
  await waitFor(() => flaky.attempts() === 3, 'the third attempt')
  t.equal(new Set(flaky.received.map((r) => r.event.id)).size, 1, 'the same event each time')
  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_webhook_deliveries_total\{event="region.open",outcome="retry"\} 2/)
  t.match(metrics, /understudy_webhook_deliveries_total\{event="region.open",outcome="delivered"\} 1/)
})

t.test('a receiver that never answers is never in the way of a login', async (t) => {
  const hung = await receiver(t, () => {})
  const s = await startStack({ provider: QUIET, config: { admin: ADMIN, webhooks: [{ url: hung.url, events: ['region.open', 'provider.degraded'], secret: SECRET }] } })
  t.teardown(() => s.close())
  await post(s, '/admin/breakers/idp/primary/open')
  await post(s, '/admin/breakers/idp/secondary/open')
  await waitFor(() => hung.attempts() >= 2, 'deliveries in flight')
  const started = Date.now()
  const answer = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
  t.equal(new URL(answer.location!).searchParams.get('error'), 'temporarily_unavailable')
  t.ok(Date.now() - started < 5_000, 'answered well inside the webhook timeout')
})
