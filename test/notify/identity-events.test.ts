import t, { type Test } from 'tap'
import type { IdentityEvent } from '../../src/backup/identity-events.js'
import type { Config } from '../../src/config/resolve.js'
import { silentLogger } from '../../src/log.js'
import { Webhooks } from '../../src/notify/webhooks.js'
import { Metrics } from '../../src/observability/metrics.js'
import { waitFor } from '../helpers/admin.js'
import { signedWith, webhookReceiver } from '../helpers/webhook-receiver.js'

const SECRET = 'an-identity-webhook-secret'
const OTHER_SECRET = 'an-outage-only-webhook-secret'
const SUB = 'q1Xv0m3bQk9kFQ2cY7sV8a1bC2dE3fG4hI5jK6lM7nO'
const AT = Date.parse('2026-12-03T10:00:00.000Z')

/** Webhooks as one pod holds them, on a clock that stands still; closed with the test. */
function pod (t: Test, hooks: Config['webhooks']): { webhooks: Webhooks, metrics: Metrics } {
  const metrics = new Metrics({ defaults: false })
  const webhooks = new Webhooks(hooks, { metrics, log: silentLogger }, { retryDelaysMs: [], now: () => AT })
  t.teardown(() => webhooks.close())
  return { webhooks, metrics }
}

const CHANGES: IdentityEvent[] = [
  { type: 'identity.passkey.added', sub: SUB, passkey: 'cred-1', actor: 'user' },
  { type: 'identity.linked', sub: SUB, provider: 'naver', actor: 'user' },
  { type: 'identity.passkey.removed', sub: SUB, passkey: 'cred-1', actor: 'admin' },
  { type: 'identity.unlinked', sub: SUB, provider: 'naver', actor: 'admin' },
]

t.test('each identity event reaches the receivers subscribed to it, signed like the outage events, and no other', async (t) => {
  const identity = await webhookReceiver(t)
  const linksOnly = await webhookReceiver(t)
  const outages = await webhookReceiver(t)
  const { webhooks, metrics } = pod(t, [
    { url: identity.url, allowHttp: true, events: ['identity.passkey.added', 'identity.passkey.removed', 'identity.linked', 'identity.unlinked'], secret: SECRET },
    { url: linksOnly.url, allowHttp: true, events: ['identity.linked', 'region.open'], secret: OTHER_SECRET },
    { url: outages.url, allowHttp: true, events: ['provider.degraded', 'provider.recovered', 'region.open', 'region.closed'], secret: OTHER_SECRET },
  ])
  // Delivered one at a time, so that the order received is the order emitted.
  for (const [i, change] of CHANGES.entries()) {
    webhooks.emitIdentity(change, 'kr-central')
    await waitFor(() => identity.received.length === i + 1, change.type)
  }
  await waitFor(() => linksOnly.received.length === 1, 'identity.linked to the receiver subscribed to it')
  webhooks.emit({ id: 'outage-id-0000000000000', type: 'region.open', instance: 'kr-central', provider: 'kakao', region: 'primary', regions: { primary: 'open' }, message: 'kakao/primary is open' })
  await waitFor(() => outages.received.length === 1, 'the outage event, through the same queue')

  const bodies = identity.received.map((r) => { const { id, ...rest } = r.event; return rest })
  t.same(bodies, [
    { type: 'identity.passkey.added', at: '2026-12-03T10:00:00.000Z', instance: 'kr-central', sub: SUB, passkey: 'cred-1', actor: 'user', message: 'a passkey was added by the user' },
    { type: 'identity.linked', at: '2026-12-03T10:00:00.000Z', instance: 'kr-central', sub: SUB, provider: 'naver', actor: 'user', message: 'a naver identity was linked by the user' },
    { type: 'identity.passkey.removed', at: '2026-12-03T10:00:00.000Z', instance: 'kr-central', sub: SUB, passkey: 'cred-1', actor: 'admin', message: 'a passkey was removed by an administrator (admin API)' },
    { type: 'identity.unlinked', at: '2026-12-03T10:00:00.000Z', instance: 'kr-central', sub: SUB, provider: 'naver', actor: 'admin', message: 'the naver identity was unlinked by an administrator (admin API)' },
  ])
  t.same(Object.keys(identity.received[1]!.event), ['id', 'type', 'at', 'instance', 'sub', 'provider', 'actor', 'message'], 'the documented fields, in order')
  for (const delivery of identity.received) {
    t.ok(signedWith(delivery, SECRET), `${delivery.event.type} is signed with the receiver's secret`)
    t.notOk(signedWith(delivery, OTHER_SECRET), 'and not with another receiver\'s')
    t.equal(delivery.headers['content-type'], 'application/json')
  }
  const ids = identity.received.map((r) => r.event.id as string)
  for (const id of ids) t.match(id, /^[A-Za-z0-9_-]{22}$/)
  t.equal(new Set(ids).size, 4, 'each change has its own id, even the same passkey within the same second')

  await waitFor(() => linksOnly.received.length === 2, 'region.open to the receiver subscribed to it too')
  t.same(linksOnly.received.map((r) => r.event.type), ['identity.linked', 'region.open'], 'a receiver gets only the identity events it subscribed to, and outage events beside them')
  t.equal(linksOnly.received[0]!.event.id, ids[1], 'the same change has the same id at every receiver')
  t.ok(signedWith(linksOnly.received[0]!, OTHER_SECRET))
  t.same(outages.received.map((r) => r.event.type), ['region.open'], 'a receiver of outage events gets no identity event')
  const text = await metrics.text()
  t.match(text, /understudy_webhook_deliveries_total\{event="identity.passkey.added",outcome="delivered"\} 1/)
  t.match(text, /understudy_webhook_deliveries_total\{event="identity.linked",outcome="delivered"\} 2/)
})

t.test('an identity event carries only its documented fields: no key, secret or claim the event may hold', async (t) => {
  const hook = await webhookReceiver(t)
  const { webhooks } = pod(t, [{ url: hook.url, allowHttp: true, events: ['identity.passkey.added'], secret: SECRET }])
  const loaded = { type: 'identity.passkey.added', sub: SUB, passkey: 'cred-2', actor: 'user', publicKey: 'pQECAyYgASFYIA', claims: { email: 'alice@example.test' }, secret: 's' } as IdentityEvent
  webhooks.emitIdentity(loaded, 'eu-west')
  await waitFor(() => hook.received.length === 1, 'the delivery')
  const { event, body } = hook.received[0]!
  t.same(Object.keys(event).sort(), ['actor', 'at', 'id', 'instance', 'message', 'passkey', 'sub', 'type'])
  t.notMatch(body, /pQECAyYgASFYIA|alice@example|"secret"/)
})

t.test('a failing receiver of identity events gets the same retries as for outage events', async (t) => {
  const flaky = await webhookReceiver(t, (n, res) => { res.writeHead(n < 2 ? 503 : 204).end() })
  const metrics = new Metrics({ defaults: false })
  const webhooks = new Webhooks([{ url: flaky.url, allowHttp: true, events: ['identity.unlinked'], secret: SECRET }], { metrics, log: silentLogger }, { retryDelaysMs: [10], random: () => 0 })
  t.teardown(() => webhooks.close())
  webhooks.emitIdentity({ type: 'identity.unlinked', sub: SUB, provider: 'google', actor: 'user' }, 'test')
  await waitFor(() => flaky.attempts() === 2, 'the retry')
  t.equal(flaky.received[1]!.event.id, flaky.received[0]!.event.id, 'the retry is the same event')
  await waitFor(async () => /event="identity.unlinked",outcome="delivered"\} 1/.test(await metrics.text()), 'the delivery counted')
  t.match(await metrics.text(), /understudy_webhook_deliveries_total\{event="identity.unlinked",outcome="retry"\} 1/)
})
