import { exportJWK, generateKeyPair } from 'jose'
import t from 'tap'
import { DocumentMac } from '../../src/keys/document-mac.js'
import { buildKeyring, loadKeyring } from '../../src/keys/keyring.js'
import { generateKeySets } from '../../src/keys/generate.js'
import { silentLogger } from '../../src/log.js'
import { createGateway } from '../../src/gateway.js'
import { Metrics } from '../../src/observability/metrics.js'
import { MemoryStore } from '../../src/store/memory.js'
import { RedisStore } from '../../src/store/redis.js'
import type { OnDocumentRejected } from '../../src/store/documents.js'
import { BACKUP_TTL_SEC, sharedBackup } from '../../src/upstream/cached.js'
import { KEY_SET_CODEC, UpstreamKeys } from '../../src/upstream/connectors/oidc/keys.js'
import { validateConfig } from '../../src/config/load.js'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { login } from '../helpers/oidc.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { authorizeUrl, DEV_KEYS, freePort, startStack, startStackUpstream } from '../helpers/stack.js'

const QUIET = { healthCheck: { interval: 3600 } }

/** The value of one labelled sample in a Prometheus text exposition (0 when absent). */
function sample (text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

t.test('a gateway starting against a Redis full of planted documents ignores each one, counts it, and keeps serving logins', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const upstream = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const attacker = 'https://attacker.example'

  // A policy document that made sync() throw unhandled: the process exited, and every pod of the region crash-looped.
  await redis.cli('set', 'understudy:doc:{breaker-policies}', JSON.stringify({ 'idp/primary': { policy: null, since: 'then' }, 'idp/secondary': { policy: { timeout: 2, errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: -1, rollingCountTimeout: 10 }, since: 'then' } }))
  // A discovery backup of the right shape that sends browsers to the attacker, without the fleet's MAC.
  await redis.cli('set', 'understudy:doc:{upstream:idp:primary:discovery}', JSON.stringify({ issuer: upstream.issuer, authorization_endpoint: `${attacker}/authorize`, token_endpoint: `${attacker}/token`, jwks_uri: `${attacker}/jwks` }))
  // Incident events that broke the timeline (and with it /status and /admin/incidents).
  const at = new Date().toISOString()
  await redis.cli('rpush', 'understudy:stream:{incident-events}',
    'not json',
    JSON.stringify({ at, kind: 'breaker', instance: 'elsewhere', provider: 'idp', region: 'primary', message: 'opened', data: { from: 'closed', to: 'open' } }),
    JSON.stringify({ at, kind: 'impact', instance: 'elsewhere', provider: 'idp', message: 'impact', data: { shop: null } }),
    JSON.stringify({ at: 5, kind: 'breaker', instance: 'elsewhere', provider: 'idp', region: 'primary', message: 'opened', data: { to: 'open' } }))

  await Promise.all(upstream.regions.map((r) => upstream.stopRegion(r.name)))
  const s = await startStack({ issuer, upstream, provider: QUIET, config: { listen: { host: '127.0.0.1', port }, admin: ADMIN, store: { kind: 'redis', redis: { url: redis.url } } } })
  t.teardown(() => s.close())
  const metrics = async () => (await fetch(`${s.adminUrl}/metrics`)).text()
  const rejected = (kind: string) => `understudy_store_documents_rejected_total{kind="${kind}"}`
  await waitFor(() => s.gateway.gateway.breakers.get('idp', 'primary')!.state === 'open', 'the first probe finds region 1 down')
  // Until its connection to Redis is up (and after any blip) the gateway reads its own memory: try until Redis answered.
  // Each try closes region 1's breaker first: the health probe (every second) finds it down and opens it again.
  await waitFor(async () => {
    t.equal((await admin(s, 'POST', '/admin/breakers/idp/primary/close')).status, 200)
    const during = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
    if (during.location?.startsWith(attacker)) t.fail('a browser was sent where the planted discovery document says')
    return sample(await metrics(), rejected('discovery')) > 0
  }, 'the planted discovery backup is read and rejected')
  const during = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
  t.equal(new URL(during.location!).searchParams.get('error'), 'temporarily_unavailable', 'a new login is refused, not sent to the planted endpoint')

  await waitFor(async () => sample(await metrics(), rejected('breaker-policies')) >= 2, 'the planted policy document is read (polled every 2 s)')
  const breakers = (await admin(s, 'GET', '/admin/breakers')).body.breakers as Array<{ region: string, policySource: { kind: string } }>
  t.same(breakers.map((b) => b.policySource.kind), ['config', 'config'], 'the config\'s policy applies where the stored one was bad')
  t.equal((await fetch(`${s.issuer}/status.json`)).status, 200, 'the status page reads the timeline past the bad events')
  const incidents = await admin(s, 'GET', '/admin/incidents')
  t.equal(incidents.status, 200)
  t.equal(incidents.body.incidents[0].impact.cachedLogins, 0, 'the bad impact event counted nothing')

  await Promise.all(upstream.regions.map((r) => upstream.startRegion(r.name)))
  for (const region of ['primary', 'secondary']) await admin(s, 'POST', `/admin/breakers/idp/${region}/close`)
  const { tokens } = await login(s, 'shop')
  t.ok(tokens.id_token, 'a login works')

  const text = await metrics()
  t.equal(sample(text, rejected('breaker-policies')), 2, 'both bad policy entries are counted')
  t.equal(sample(text, rejected('discovery')), 1, 'the planted discovery backup is counted')
  t.equal(sample(text, rejected('incident-event')), 3, 'each bad event is counted once, however often the timeline is read')
  t.ok(s.logs.some((line) => line.includes('"level":50') && line.includes('rejected and ignored')), 'rejections are logged at error')
})

t.test('a JWKS backup is trusted only with the fleet\'s MAC over it, its own store key and a recent time', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const store = await RedisStore.open({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 1_000, log: silentLogger })
  t.teardown(() => store.close())
  const fleet = await loadKeyring(DEV_KEYS)
  const other = await generateKeySets()
  const outsider = await buildKeyring(other.signing, { keys: [{ ...other.sealing.keys[0]!, kid: fleet.sealer.kid }] })
  const mac = new DocumentMac(fleet, { maxAgeSec: BACKUP_TTL_SEC })
  const { publicKey } = await generateKeyPair('RS256', { extractable: true })
  const jwks = JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'planted', alg: 'RS256', use: 'sig' }] })
  const key = 'upstream:idp:primary:jwks'
  const now = Math.floor(Date.now() / 1000)

  const trusted = async (stored: string): Promise<{ trusted: boolean, problems: string[] }> => {
    await store.shared.set(key, stored)
    const problems: string[] = []
    const onRejected: OnDocumentRejected = ({ kind, problem }) => { problems.push(`${kind}: ${problem}`) }
    // The upstream's jwks_uri refuses: this is a pod that starts during an outage.
    const keys = new UpstreamKeys(async () => 'http://127.0.0.1:1/jwks', { timeoutMs: 500, ttlMs: 60_000, backup: sharedBackup({ shared: store.shared, mac, onRejected }, key, 'jwks', KEY_SET_CODEC) })
    const found = await Promise.resolve(keys.resolver()({ alg: 'RS256', kid: 'planted' }, { payload: '', signature: '' })).then(() => true, () => false)
    return { trusted: found, problems }
  }

  t.same(await trusted(mac.wrap(key, jwks, now)), { trusted: true, problems: [] }, 'a backup this fleet wrote is used')
  const plain = await trusted(jwks)
  t.equal(plain.trusted, false, 'a bare JWKS is not trusted')
  t.match(plain.problems, [/^jwks: /])
  t.equal((await trusted(new DocumentMac(outsider, { maxAgeSec: BACKUP_TTL_SEC }).wrap(key, jwks, now))).trusted, false, 'a MAC under another key with the same kid is not trusted')
  t.equal((await trusted(mac.wrap('upstream:idp:primary:discovery', jwks, now))).trusted, false, 'a document moved from another store key is not trusted')
  t.equal((await trusted(mac.wrap(key, jwks, now - BACKUP_TTL_SEC - 60))).trusted, false, 'a document older than a backup is kept is not trusted (replay)')
  const envelope = JSON.parse(mac.wrap(key, jwks, now))
  t.equal((await trusted(JSON.stringify({ ...envelope, doc: envelope.doc.replace('planted', 'swapped') }))).trusted, false, 'a changed document is not trusted')
  t.equal((await trusted(mac.wrap(key, '{"keys": 5}', now))).trusted, false, 'a MAC does not excuse a document that is not a JWKS')
})

t.test('a webhook receiver URL that does not parse never crashes the gateway on an outage event', async (t) => {
  const config = validateConfig({
    issuer: 'http://127.0.0.1:1',
    keys: DEV_KEYS,
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:2', clientId: 'c', clientSecret: 's', regions: [{ name: 'primary', url: 'http://127.0.0.1:2' }] }],
    clients: [{ clientId: 'shop', clientSecret: 'shop-secret', redirectUris: ['http://127.0.0.1:1/cb'], providers: ['idp'] }],
  }, { env: {} })
  const metrics = new Metrics({ defaults: false })
  // Passes the config's pattern at load, but `new URL` throws on it: that threw inside the delivery's rejection handler.
  const webhooks = [{ url: 'http://[::1', events: ['region.open' as const], secret: 'a-webhook-secret-of-some-length' }]
  const gateway = createGateway({ config: { ...config, webhooks }, keys: await loadKeyring(DEV_KEYS), store: new MemoryStore(), connectors: [], metrics, healthChecks: false, webhookOptions: { retryDelaysMs: [] } })
  t.teardown(() => gateway.close())
  gateway.breakers.get('idp', 'primary')!.pinOpen()
  await waitFor(async () => (await metrics.text()).includes('understudy_webhook_deliveries_total{event="region.open",outcome="failed"} 1'), 'the delivery fails for good')
  t.equal(gateway.breakers.get('idp', 'primary')!.state, 'open', 'the gateway is still running')
})
