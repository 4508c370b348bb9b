import t, { type Test } from 'tap'
import { validateConfig } from '../src/config/load.js'
import { UnderstudyError } from '../src/errors.js'
import { createGateway, type Gateway } from '../src/gateway.js'
import { publicHealth } from '../src/health.js'
import { loadKeyring } from '../src/keys/keyring.js'
import { Lifecycle } from '../src/lifecycle.js'
import { OutageEventIds } from '../src/notify/event-id.js'
import { watchOutages } from '../src/notify/outage-events.js'
import { PublicStatus } from '../src/public-status.js'
import type { BreakerState } from '../src/resilience/breaker.js'
import type { EventLog, IncidentEvent } from '../src/resilience/incidents.js'
import { MemoryStore } from '../src/store/memory.js'
import { createConnector } from '../src/upstream/registry.js'
import { until } from '../harness/poll.js'
import { DEV_KEYS } from './helpers/stack.js'

const keys = await loadKeyring(DEV_KEYS)

/** A store whose pings are counted. */
class CountingStore extends MemoryStore {
  pings = 0
  override async ping (): Promise<void> {
    this.pings++
  }
}

/** A gateway with one provider of one region (unreachable: its breaker is driven by hand), its lifecycle ready. */
function gatewayFor (t: Test, parts: { store?: MemoryStore, events?: EventLog, breaker?: Record<string, unknown> } = {}): { gw: Gateway, lifecycle: Lifecycle } {
  const config = validateConfig({
    issuer: 'http://127.0.0.1:1',
    keys: DEV_KEYS,
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:2', clientId: 'c', clientSecret: 's', regions: [{ name: 'primary', url: 'http://127.0.0.1:2' }], ...(parts.breaker ? { breaker: parts.breaker } : {}) }],
    clients: [{ clientId: 'shop', clientSecret: 'shop-secret', redirectUris: ['http://127.0.0.1:1/cb'], providers: ['idp'] }],
  }, { env: {} })
  const gw = createGateway({ config, keys, store: parts.store ?? new MemoryStore(), connectors: [createConnector(config.providers[0]!, { timeoutMs: 500 })], healthChecks: false, ...(parts.events ? { events: parts.events } : {}) })
  t.teardown(() => gw.close())
  const lifecycle = new Lifecycle()
  lifecycle.markReady()
  return { gw, lifecycle }
}

t.test('concurrent health and status requests share one build a second: one store ping and one incident-log read', async (t) => {
  const store = new CountingStore()
  let reads = 0
  const events: EventLog = { append: async () => {}, read: async (): Promise<IncidentEvent[]> => { reads++; return [] } }
  const { gw, lifecycle } = gatewayFor(t, { store, events })
  let now = 1_000_000
  const status = new PublicStatus(gw, lifecycle, { now: () => now })
  const flood = () => Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? status.health() : status.status())))

  await flood()
  t.same({ pings: store.pings, reads }, { pings: 1, reads: 1 }, '100 concurrent requests: one build of each')
  now += 999
  await flood()
  t.same({ pings: store.pings, reads }, { pings: 1, reads: 1 }, 'within the second, the snapshot answers')
  now += 1
  await flood()
  t.same({ pings: store.pings, reads }, { pings: 2, reads: 2 }, 'a second later, one more build')
})

/** Resolves at the next transition of `gw`'s breakers to `to` (opossum's reset timer does not keep the process alive: this one does). */
function transition (gw: Gateway, to: BreakerState): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no transition to ${to}`)), 5_000)
    const listener = (t: { to: BreakerState }) => {
      if (t.to !== to) return
      gw.breakers.off('transition', listener)
      clearTimeout(timer)
      resolve()
    }
    gw.breakers.on('transition', listener)
  })
}

/** A long outage in miniature: the region goes down, a half-open trial fails, the next one succeeds; `look` runs at each step. */
async function flap (t: Test, gw: Gateway, look: (step: string) => Promise<void>): Promise<void> {
  const breaker = gw.breakers.get('idp', 'primary')!
  breaker.probeFailed()
  await look('down')
  await transition(gw, 'half-open')
  await look('half-open')
  await breaker.call('probe', async () => { throw new UnderstudyError('US_ERR_UPSTREAM_NETWORK', 'refused') }).catch(() => {})
  t.equal(breaker.state, 'open', 'the trial failed')
  await look('trial failed')
  await transition(gw, 'half-open')
  await look('half-open again')
  await breaker.call('probe', async () => 'ok')
  t.equal(breaker.state, 'closed', 'the trial succeeded')
  await look('closed')
}

const FAST_RESET = { timeout: '1s', errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: '30ms', rollingCountTimeout: '10s' }

t.test('a region shows down from when it went down until it closes: a half-open trial, failed or pending, is not a recovery', async (t) => {
  const { gw, lifecycle } = gatewayFor(t, { breaker: FAST_RESET })
  let now = 0
  const status = new PublicStatus(gw, lifecycle, { now: () => now })
  const breaker = gw.breakers.get('idp', 'primary')!
  const seen: Array<{ step: string, state: string, since: string, healthz: string }> = []
  await flap(t, gw, async (step) => {
    now += 1_000
    const [doc, health] = await Promise.all([status.status(), status.health()])
    seen.push({ step, state: doc.providers[0]!.regions[0]!.state, since: doc.providers[0]!.regions[0]!.since, healthz: health.providers.idp!.regions.primary!.state })
  })
  t.ok(seen.length > 1, 'the breaker was seen open before it closed')
  const wentDown = seen[0]!.since
  for (const { step, state, since, healthz } of seen.slice(0, -1)) {
    t.same({ state, since, healthz }, { state: 'open', since: wentDown, healthz: 'open' }, `${step}: down since it went down`)
  }
  t.same(seen.at(-1), { step: 'closed', state: 'closed', since: new Date(breaker.since).toISOString(), healthz: 'closed' }, 'closed: up since it closed')
  const [incident] = await gw.incidents.incidents()
  t.equal(incident!.degraded.length, 1, 'one degraded interval, not one per trial')
  t.same(incident!.timeline.filter((e) => e.kind === 'breaker').map((e) => e.data?.to), ['open', 'closed'], 'the timeline has the outage, not every trial')
})

t.test('an outage webhook says a region opened once, however many half-open trials fail', async (t) => {
  const { gw } = gatewayFor(t, { breaker: FAST_RESET })
  const events: string[] = []
  watchOutages(gw.breakers, 'test', new OutageEventIds(gw.store), (event) => { events.push(event.type) })
  await flap(t, gw, async () => {})
  await until(() => events.length >= 4, 1_000, 'the recovery is emitted')
  t.same(events, ['region.open', 'provider.degraded', 'region.closed', 'provider.recovered'])
})

t.test('the public health report names no host: peers are peer1, peer2… in config order; states are closed or open', async (t) => {
  const report = publicHealth({
    status: 'degraded',
    region: 'kr-central',
    providers: { idp: { status: 'degraded', regions: { primary: { state: 'half-open', since: '2025-01-03T00:00:00.000Z', downSince: '2025-01-01T00:00:00.000Z' } } } },
    store: { kind: 'redis', status: 'ok', peers: { 'redis.region-b.svc.clusterset.local:6379': 'unreachable', '10.0.0.7:6379': 'ok' } },
  })
  t.same(report, {
    status: 'degraded',
    region: 'kr-central',
    providers: { idp: { status: 'degraded', regions: { primary: { state: 'open', since: '2025-01-01T00:00:00.000Z' } } } },
    store: { kind: 'redis', status: 'ok', peers: { peer1: 'unreachable', peer2: 'ok' } },
  })
})
