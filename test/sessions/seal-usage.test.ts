import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { JWK } from 'jose'
import t from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { validateConfig } from '../../src/config/load.js'
import { createGateway } from '../../src/gateway.js'
import { generateKeySets } from '../../src/keys/generate.js'
import { buildKeyring, type Keyring } from '../../src/keys/keyring.js'
import { Metrics } from '../../src/observability/metrics.js'
import { SEAL_WARN_EVERY, seal, unseal, watchSealUsage } from '../../src/sessions/seal.js'
import { MemoryStore } from '../../src/store/memory.js'

const { signing } = await generateKeySets()
const NOW = 1_700_000_000
const LATER = NOW + 3600
const payload = { sid: 'session-1', sub: 'kakao|42' }

function sealingKey (kid: string): JWK {
  return { kty: 'oct', kid, alg: 'dir', k: randomBytes(32).toString('base64url') }
}

function keyringWith (...sealingKeys: JWK[]): Promise<Keyring> {
  return buildKeyring(signing, { keys: sealingKeys })
}

function kidOf (token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid
}

t.test('every seal is counted under the key that made it and exposed as understudy_seals_total{kid}; opening counts nothing', async (t) => {
  const ring = await keyringWith(sealingKey('seal-new'), sealingKey('seal-old'))
  const metrics = new Metrics({ defaults: false })
  metrics.countSeals(ring.sealingKeys)
  const kinds = ['session', 'code', 'refresh'] as const
  const tokens = kinds.map((kind) => seal(ring, kind, payload, LATER))
  kinds.forEach((kind, i) => unseal(ring, kind, tokens[i]!, NOW))
  const text = await metrics.text()
  t.match(text, /^# TYPE understudy_seals_total counter$/m)
  t.match(text, /^understudy_seals_total\{kid="seal-new"\} 3$/m, 'the sealer made three')
  t.match(text, /^understudy_seals_total\{kid="seal-old"\} 0$/m, 'a key that only unseals made none')
})

t.test('a key is reported when this process\'s seals under it reach 2^30, and again at each further 2^30', async (t) => {
  const ring = await keyringWith(sealingKey('seal-busy'))
  const warnings: Array<[string, number]> = []
  watchSealUsage(ring, (kid, seals) => { warnings.push([kid, seals]) })
  ring.sealer.seals = SEAL_WARN_EVERY - 2
  seal(ring, 'session', payload, LATER)
  t.same(warnings, [], 'not before the threshold')
  seal(ring, 'session', payload, LATER)
  seal(ring, 'session', payload, LATER)
  t.same(warnings, [['seal-busy', 2 ** 30]], 'once at the threshold')
  ring.sealer.seals = 2 * SEAL_WARN_EVERY - 1
  seal(ring, 'session', payload, LATER)
  t.same(warnings, [['seal-busy', 2 ** 30], ['seal-busy', 2 ** 31]], 'again at 2^31')
})

t.test('a gateway logs the warning and serves the seal counts on its metrics', async (t) => {
  const keys = await keyringWith(sealingKey('seal-gateway'))
  const lines: string[] = []
  const destination = new Writable({ write (chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done() } })
  const config = validateConfig({
    issuer: 'http://127.0.0.1:1',
    keys: { signing: 'unused', sealing: 'unused' },
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:2', clientId: 'c', clientSecret: 's', regions: [{ name: 'primary', url: 'http://127.0.0.1:2' }] }],
    clients: [{ clientId: 'shop', clientSecret: 'shop-secret', redirectUris: ['http://127.0.0.1:1/cb'], providers: ['idp'] }],
  }, { env: {} })
  const metrics = new Metrics({ defaults: false })
  const gateway = createGateway({ config, keys, store: new MemoryStore(), connectors: [], metrics, healthChecks: false, log: createLogger({ level: 'info', destination }) })
  t.teardown(() => gateway.close())
  keys.sealer.seals = SEAL_WARN_EVERY - 1
  seal(gateway.keys, 'session', payload, LATER)
  const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.kid === 'seal-gateway')
  t.match(warning, { level: 40, kid: 'seal-gateway', seals: 2 ** 30, msg: /sealing key/ })
  t.match(await metrics.text(), /^understudy_seals_total\{kid="seal-gateway"\} 1073741824$/m)
})

t.test('rotation: the new key is added last everywhere, then moved first; every token of every phase still opens and new ones carry the new kid', async (t) => {
  const oldKey = sealingKey('seal-2024')
  const newKey = sealingKey('seal-2025')
  const before = await keyringWith(oldKey)
  const published = await keyringWith(oldKey, newKey) // step 1: rolled out to every pod; it still seals with the old key
  const rotated = await keyringWith(newKey, oldKey) // step 2: the new key seals
  const retired = await keyringWith(newKey) // step 3: once nothing sealed with the old key is alive

  const fromBefore = seal(before, 'refresh', payload, LATER)
  const fromPublished = seal(published, 'refresh', payload, LATER)
  t.equal(kidOf(fromPublished), 'seal-2024', 'step 1 still seals with the old key')
  const fromRotated = seal(rotated, 'refresh', payload, LATER)
  t.equal(kidOf(fromRotated), 'seal-2025', 'step 2 seals with the new key')

  for (const [ring, name] of [[published, 'step 1'], [rotated, 'step 2']] as const) {
    for (const token of [fromBefore, fromPublished, fromRotated]) t.same(unseal(ring, 'refresh', token, NOW), { ...payload, knd: 'refresh', exp: LATER }, `${name} opens a ${kidOf(token)} token`)
  }
  t.throws(() => unseal(before, 'refresh', fromRotated, NOW), { code: 'US_ERR_SEAL_INVALID' }, 'a pod still without the new key could not open it: hence step 1 first')
  t.same(unseal(retired, 'refresh', fromRotated, NOW), { ...payload, knd: 'refresh', exp: LATER }, 'step 3 opens what step 2 sealed')
  t.throws(() => unseal(retired, 'refresh', fromBefore, NOW), { code: 'US_ERR_SEAL_INVALID' }, 'and no longer what the old key sealed')
  t.equal(rotated.sealingKeys.find((k) => k.kid === 'seal-2025')!.seals, 1, 'the count follows the key that seals')
  t.equal(rotated.sealingKeys.find((k) => k.kid === 'seal-2024')!.seals, 0)
})
