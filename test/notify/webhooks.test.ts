import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import { ConfigError, validateConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/resolve.js'
import { silentLogger } from '../../src/log.js'
import { OutageEventIds } from '../../src/notify/event-id.js'
import { watchOutages } from '../../src/notify/outage-events.js'
import { jittered, Webhooks, type WebhookOptions } from '../../src/notify/webhooks.js'
import { Metrics } from '../../src/observability/metrics.js'
import { BreakerRegistry } from '../../src/resilience/registry.js'
import { MemoryStore } from '../../src/store/memory.js'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { loadedConfig } from '../helpers/config.js'
import { Browser } from '../../harness/browser.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'
import { webhookReceiver } from '../helpers/webhook-receiver.js'

/** Forces a breaker state through the admin API. */
async function post (s: Stack, path: string): Promise<void> {
  const { status } = await admin(s, 'POST', path)
  if (status !== 200) throw new Error(`${path}: ${status}`)
}

const SECRET = 'a-webhook-secret-of-some-length'
const QUIET = { healthCheck: { interval: 3600 } }

t.test('outage events reach subscribed receivers, signed with HMAC-SHA256', async (t) => {
  const all = await webhookReceiver(t)
  const providerOnly = await webhookReceiver(t)
  const s = await startStack({
    provider: QUIET,
    config: {
      admin: ADMIN,
      webhooks: [
        { url: all.url, allowHttp: true, events: ['region.open', 'region.closed', 'provider.degraded', 'provider.recovered'], secret: SECRET },
        { url: providerOnly.url, allowHttp: true, events: ['provider.degraded', 'provider.recovered'], secret: 'another-secret-0123456789' },
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
  const flaky = await webhookReceiver(t, (n, res) => { res.writeHead(n < 3 ? 503 : 200).end() })
  const s = await startStack({ provider: QUIET, config: { admin: ADMIN, webhooks: [{ url: flaky.url, allowHttp: true, events: ['region.open'], secret: SECRET }] } })
  t.teardown(() => s.close())
  await post(s, '/admin/breakers/idp/primary/open')
  await waitFor(() => flaky.attempts() === 3, 'the third attempt')
  t.equal(new Set(flaky.received.map((r) => r.event.id)).size, 1, 'the same event each time')
  const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text()
  t.match(metrics, /understudy_webhook_deliveries_total\{event="region.open",outcome="retry"\} 2/)
  t.match(metrics, /understudy_webhook_deliveries_total\{event="region.open",outcome="delivered"\} 1/)
})

t.test('a receiver that never answers is never in the way of a login', async (t) => {
  const hung = await webhookReceiver(t, () => {})
  const s = await startStack({ provider: QUIET, config: { admin: ADMIN, webhooks: [{ url: hung.url, allowHttp: true, events: ['region.open', 'provider.degraded'], secret: SECRET }] } })
  t.teardown(() => s.close())
  await post(s, '/admin/breakers/idp/primary/open')
  await post(s, '/admin/breakers/idp/secondary/open')
  await waitFor(() => hung.attempts() >= 2, 'deliveries in flight')
  const started = Date.now()
  const answer = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
  t.equal(new URL(answer.location!).searchParams.get('error'), 'temporarily_unavailable')
  t.ok(Date.now() - started < 5_000, 'answered well inside the webhook timeout')
})

/** Webhooks outside a gateway, as one pod holds them; closed with the test. */
function pod (t: Test, hooks: Config['webhooks'], options: WebhookOptions = {}): { webhooks: Webhooks, metrics: Metrics, warnings: Array<Record<string, any>> } {
  const metrics = new Metrics({ defaults: false })
  const warnings: Array<Record<string, any>> = []
  const webhooks = new Webhooks(hooks, { metrics, log: { ...silentLogger, warn: (entry) => { warnings.push(entry) } } }, { retryDelaysMs: [], ...options })
  t.teardown(() => webhooks.close())
  return { webhooks, metrics, warnings }
}

const OPEN = { id: 'an-outage-event-id-0123', type: 'region.open' as const, instance: 'kr-central', provider: 'kakao', region: 'primary', regions: { primary: 'open', secondary: 'closed' }, message: 'kakao/primary is open' }
const MINUTE = 60_000

/** One pod's outage webhooks: its own breakers (kakao, two regions) watched, with the store the pods share; closed with the test. */
function outagePod (t: Test, hooks: Config['webhooks'], store: MemoryStore, instance: string, now: () => number): BreakerRegistry {
  const regions = [{ name: 'primary', url: 'https://kauth.kakao.com' }, { name: 'secondary', url: 'https://kauth-dr.example.net' }]
  const config = loadedConfig({ providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions }] })
  const breakers = new BreakerRegistry(config.providers, { metrics: new Metrics({ defaults: false }), log: silentLogger })
  t.teardown(() => breakers.shutdown())
  const { webhooks } = pod(t, hooks, { now })
  watchOutages(breakers, instance, new OutageEventIds(store), (event) => webhooks.emit(event))
  return breakers
}

t.test('pods that see one change on either side of a minute boundary send it with one id; the next change has another', async (t) => {
  const hook = await webhookReceiver(t)
  const hooks = [{ url: hook.url, allowHttp: true, events: ['region.open' as const, 'region.closed' as const, 'provider.degraded' as const], secret: SECRET }]
  // What the pods share: their region's Redis (and, through it, the peers).
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const minute = 1_700_000_000_000 - (1_700_000_000_000 % MINUTE) + MINUTE
  let clock = minute - 500
  const [a, b] = [outagePod(t, hooks, store, 'kr-central', () => clock), outagePod(t, hooks, store, 'kr-south', () => clock)]
  const delivered = async (n: number) => {
    await waitFor(() => hook.received.length === n, `${n} deliveries`)
    return hook.received.slice(-1)[0]!.event
  }

  a.get('kakao', 'primary')!.pinOpen()
  const opened = await delivered(1)
  t.match(opened, { type: 'region.open', region: 'primary', instance: 'kr-central' })
  t.match(opened.id, /^[A-Za-z0-9_-]{22}$/)
  clock = minute + 1_500
  b.get('kakao', 'primary')!.pinOpen()
  const seenAgain = await delivered(2)
  t.match(seenAgain, { type: 'region.open', instance: 'kr-south' })
  t.equal(seenAgain.id, opened.id, 'the second pod, in the next minute by the clock, sends the change with the same id')

  a.get('kakao', 'primary')!.release()
  const closed = await delivered(3)
  b.get('kakao', 'primary')!.release()
  t.match(await delivered(4), { type: 'region.closed', instance: 'kr-south', id: closed.id }, 'the recovery seen by both pods has one id')
  t.not(closed.id, opened.id)

  a.get('kakao', 'primary')!.pinOpen()
  const reopened = await delivered(5)
  t.match(reopened, { type: 'region.open', region: 'primary' })
  t.ok(![opened.id, closed.id].includes(reopened.id), 'the next outage of the region is another event')

  a.get('kakao', 'secondary')!.pinOpen()
  await delivered(7)
  const ids = hook.received.map((r) => r.event.id as string)
  t.same(hook.received.slice(5).map((r) => r.event.type).sort(), ['provider.degraded', 'region.open'])
  t.equal(new Set(ids).size, 5, 'another region and the provider as a whole each have their own ids')
})

t.test('during a secret rotation each delivery is signed with the new secret and the previous one', async (t) => {
  const hook = await webhookReceiver(t)
  const previous = 'the-secret-being-rotated-out'
  const { webhooks } = pod(t, [{ url: hook.url, allowHttp: true, events: ['region.open'], secret: SECRET, previousSecret: previous }])
  webhooks.emit(OPEN)
  await waitFor(() => hook.received.length === 1, 'the delivery')
  const { headers, body } = hook.received[0]!
  const [, at, current, old] = /^t=(\d+),v1=([0-9a-f]{64}),v1=([0-9a-f]{64})$/.exec(String(headers['understudy-signature']))!
  t.equal(current, createHmac('sha256', SECRET).update(`${at}.${body}`).digest('hex'), 'the first v1 is the new secret\'s')
  t.equal(old, createHmac('sha256', previous).update(`${at}.${body}`).digest('hex'), 'the second v1 is the previous secret\'s')
})

t.test('retry delays have jitter: from half to all of the backoff step', async (t) => {
  const cases: Array<[number, number, number]> = [[1_000, 0, 500], [1_000, 0.5, 750], [1_000, 0.999999, 1_000], [16_000, 0.25, 10_000]]
  for (const [delay, random, expected] of cases) t.equal(jittered(delay, () => random), expected, `${delay} ms with ${random}`)
  const spread = new Set(Array.from({ length: 50 }, () => jittered(8_000)))
  t.ok(spread.size > 1, 'pods that failed together do not retry together')
  t.ok([...spread].every((d) => d >= 4_000 && d <= 8_000))
})

t.test('a receiver must be https unless allowHttp, and never a link-local or metadata address', async (t) => {
  const hook = (url: string, extra: Record<string, unknown> = {}) => ({ url, events: ['region.open'], secret: SECRET, ...extra })
  const problems = (hooks: object[]) => {
    try {
      validateConfig({
        issuer: 'https://login.example.com',
        keys: { signing: 's.json', sealing: 'k.json' },
        providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
        clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/cb'], providers: ['kakao'] }],
        webhooks: hooks,
      }, { env: {} })
      return []
    } catch (err) {
      if (err instanceof ConfigError) return err.problems
      throw err
    }
  }
  t.same(problems([hook('https://hooks.example/outage'), hook('http://127.0.0.1:8080/hook', { allowHttp: true }), hook('https://10.0.0.7/hook')]), [], 'https, a development http receiver, a private address')
  const refused = problems([
    hook('http://hooks.example/outage'),
    hook('http://169.254.169.254/latest/meta-data/', { allowHttp: true }),
    hook('https://[fd00:ec2::254]/'),
    hook('https://[fe80::1]/'),
    hook('https://metadata.google.internal/computeMetadata/v1/'),
    hook('https://2852039166/'),
    hook('https://[::ffff:169.254.169.254]/'),
    hook('http://[::1', { allowHttp: true }),
    hook('https://[64:ff9b::a9fe:a9fe]/'),
    hook('https://[::169.254.169.254]/'),
  ])
  t.same(refused.map((p) => p.path), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `/webhooks/${i}/url`), 'every bad receiver at its path')
  t.match(refused, [
    { message: /must be https; allowHttp/ },
    { message: /169\.254\.169\.254 is a link-local or cloud metadata address/ },
    { message: /fd00:ec2::254 is a link-local or cloud metadata address/ },
    { message: /link-local/ },
    { message: /metadata\.google\.internal is a cloud metadata endpoint/ },
    { message: /169\.254\.169\.254/ },
    { message: /link-local or cloud metadata/ },
    { message: /not a URL/ },
    { message: /64:ff9b::a9fe:a9fe is a link-local or cloud metadata address/ },
    { message: /is a link-local or cloud metadata address/ },
  ])
  t.notOk(refused.some((p) => p.value !== undefined), 'no receiver URL is echoed: they often carry a token')
})

t.test('a receiver name that resolves to a link-local or metadata address is refused at delivery', async (t) => {
  const hook = await webhookReceiver(t)
  const port = new URL(hook.url).port
  const answers: Record<string, string> = { 'hooks.test': '127.0.0.1', 'rebound.test': '169.254.169.254' }
  const lookup: NonNullable<WebhookOptions['lookup']> = (hostname, _options, callback) => callback(null, [{ address: answers[hostname]!, family: 4 }])
  const hooks = ['hooks.test', 'rebound.test'].map((host) => ({ url: `http://${host}:${port}/hook`, allowHttp: true, events: ['region.open' as const], secret: SECRET }))
  const { webhooks, metrics, warnings } = pod(t, hooks, { lookup })
  webhooks.emit(OPEN)
  await waitFor(() => warnings.length === 1 && hook.received.length === 1, 'one delivered, one failed')
  t.equal(hook.received[0]!.headers.host, `hooks.test:${port}`, 'the name that resolves to an allowed address is delivered to')
  t.match(warnings[0], { url: `http://rebound.test:${port}`, err: { code: 'ERR_WEBHOOK_ADDRESS_REFUSED', message: /rebound\.test resolves to a refused address: 169\.254\.169\.254/ } }, 'refused before connecting, and why')
  t.match(await metrics.text(), 'understudy_webhook_deliveries_total{event="region.open",outcome="delivered"} 1')
})
