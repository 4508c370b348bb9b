import t, { type Test } from 'tap'
import { postMortemDraft, renderPostMortem } from '../../src/cli/incidents.js'
import { validateConfig } from '../../src/config/load.js'
import { createGateway, type Gateway } from '../../src/gateway.js'
import { loadKeyring } from '../../src/keys/keyring.js'
import { Lifecycle } from '../../src/lifecycle.js'
import { PublicStatus } from '../../src/public-status.js'
import { deriveIncidents, SharedEventLog, type IncidentEvent } from '../../src/resilience/incidents.js'
import { MemoryDocuments } from '../../src/store/memory-documents.js'
import { MemoryStore } from '../../src/store/memory.js'
import { createConnector } from '../../src/upstream/registry.js'
import { renderStatus } from '../../plugins/status.js'
import { DEV_KEYS } from '../helpers/stack.js'

const keys = await loadKeyring(DEV_KEYS)

/** A gateway with one provider of two regions, unreachable: its breakers are driven by hand; the events it records are kept. */
function gatewayFor (t: Test): { gw: Gateway, lifecycle: Lifecycle, events: IncidentEvent[] } {
  const config = validateConfig({
    issuer: 'http://127.0.0.1:1',
    keys: DEV_KEYS,
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:2', clientId: 'c', clientSecret: 's', regions: [{ name: 'primary', url: 'http://127.0.0.1:2' }, { name: 'secondary', url: 'http://127.0.0.1:3' }] }],
    clients: [
      { clientId: 'shop', clientSecret: 'shop-secret', redirectUris: ['http://127.0.0.1:1/cb'], providers: ['idp'] },
      { clientId: 'news', clientSecret: 'news-secret', redirectUris: ['http://127.0.0.1:1/news'], providers: ['idp'] },
    ],
  }, { env: {} })
  const events: IncidentEvent[] = []
  const log = { append: async (event: IncidentEvent) => { events.push(event) }, read: async () => [...events] }
  const gw = createGateway({ config, keys, store: new MemoryStore(), connectors: [createConnector(config.providers[0]!, { timeoutMs: 500 })], healthChecks: false, events: log })
  t.teardown(() => gw.close())
  const lifecycle = new Lifecycle()
  lifecycle.markReady()
  return { gw, lifecycle, events }
}

t.test('backup logins during an outage count in the incident, on the status page and in the metrics by method', async (t) => {
  const { gw, lifecycle } = gatewayFor(t)
  gw.breakers.get('idp', 'primary')!.pinOpen()
  gw.breakers.get('idp', 'secondary')!.pinOpen()
  for (let i = 0; i < 3; i++) gw.recordLogin('shop', 'idp', 'backup', 'passkey')
  gw.recordLogin('news', 'idp', 'backup', 'linked')
  gw.recordLogin('shop', 'idp', 'cached')
  gw.recordLogin('shop', 'idp', 'unavailable')

  const [incident] = await gw.incidents.incidents()
  t.same(incident!.impact, { cachedLogins: 1, unavailableLogins: 1, backupLogins: 4, failovers: 0, affectedClients: ['shop', 'news'] })
  t.match(incident!.timeline.find((e) => e.kind === 'impact')!.message, /^6 logins served cached, by a backup method or refused$/)

  const doc = await new PublicStatus(gw, lifecycle).status()
  t.equal(doc.incidents[0]!.summary, 'idp was unavailable; returning users kept logging in from cached sessions; 4 backup logins (a passkey or another provider)')
  t.match(renderStatus(doc, gw.config.issuer), /4 backup logins \(a passkey or another provider\)/, 'the status page shows them')

  const metrics = await gw.metrics.text()
  t.match(metrics, /understudy_backup_logins_total\{client="shop",method="passkey"\} 3\n/)
  t.match(metrics, /understudy_backup_logins_total\{client="news",method="linked"\} 1\n/)
  t.match(metrics, /understudy_logins_total\{client="shop",provider="idp",outcome="backup"\} 3\n/)
})

t.test('one backup login is said in the singular, and an incident without any says nothing of them', async (t) => {
  const { gw, lifecycle } = gatewayFor(t)
  gw.breakers.get('idp', 'primary')!.pinOpen()
  const status = new PublicStatus(gw, lifecycle, { maxAgeMs: 0 })
  t.equal((await status.status()).incidents[0]!.summary, 'idp lost a region; logins moved to another region')
  gw.recordLogin('shop', 'idp', 'backup', 'passkey')
  await gw.incidents.flush()
  t.equal((await status.status()).incidents[0]!.summary, 'idp lost a region; logins moved to another region; 1 backup login (a passkey or another provider)')
})

t.test('a backup login while every region is up is counted in the metrics but writes no incident event', async (t) => {
  const { gw, events } = gatewayFor(t)
  gw.recordLogin('shop', 'idp', 'backup', 'passkey')
  await gw.incidents.flush()
  t.same(events, [], 'passkeyWhenHealthy logins do not fill the incident log')
  t.match(await gw.metrics.text(), /understudy_backup_logins_total\{client="shop",method="passkey"\} 1\n/)
})

t.test('impact events with backup logins pass the log\'s check, and those of older gateways (no backup) still count', async (t) => {
  const rejected: unknown[] = []
  const log = new SharedEventLog(new MemoryDocuments(), (problem) => { rejected.push(problem) })
  const at = (s: number) => `2026-12-03T10:00:0${s}.000Z`
  await log.append({ at: at(0), instance: 'kr-central', kind: 'breaker', provider: 'kakao', region: 'pangyo', message: 'pangyo: closed → open', data: { from: 'closed', to: 'open' } })
  await log.append({ at: at(1), instance: 'kr-central', kind: 'impact', provider: 'kakao', message: '5 logins', data: { shop: { cached: 2, unavailable: 1, backup: 2 } } })
  await log.append({ at: at(2), instance: 'kr-south', kind: 'impact', provider: 'kakao', message: '3 logins', data: { news: { cached: 3, unavailable: 0 } } })
  await log.append({ at: at(3), instance: 'kr-south', kind: 'impact', provider: 'kakao', message: 'bad', data: { news: { cached: 0, unavailable: 0, backup: -1 } } })
  const events = await log.read(10)
  t.equal(events.length, 3, 'a negative count is refused like any other bad line')
  t.equal(rejected.length, 1)
  const [incident] = deriveIncidents(events, () => ['pangyo'])
  t.same(incident!.impact, { cachedLogins: 5, unavailableLogins: 1, backupLogins: 2, failovers: 0, affectedClients: ['shop', 'news'] })
})

t.test('the post-mortem draft counts backup logins, and reads incidents from a gateway that predates them as none', async (t) => {
  const incident = { id: 'kakao-1', provider: 'kakao', status: 'resolved' as const, startedAt: '2022-10-15T06:30:00.000Z', endedAt: '2022-10-15T07:30:00.000Z', degraded: [], timeline: [] }
  const older = { ...incident, id: 'kakao-0', impact: { cachedLogins: 1, unavailableLogins: 0, failovers: 0, affectedClients: ['shop'] } }
  const draft = postMortemDraft([{ ...incident, impact: { cachedLogins: 2, unavailableLogins: 1, backupLogins: 9, failovers: 0, affectedClients: ['shop'] } }, older as never], 'http://admin')
  t.equal(draft.impact.backupLogins, 9)
  t.match(renderPostMortem(draft), /\n\| 3 \| 9 \| 1 \| 0 \| shop \|\n/)
})
