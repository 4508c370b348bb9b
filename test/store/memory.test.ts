import t from 'tap'
import { validateConfig } from '../../src/config/load.js'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { createStore } from '../../src/store/create.js'
import { DEFAULT_BOUNDS, MemoryStore } from '../../src/store/memory.js'
import { DEV_KEYS } from '../helpers/stack.js'
import { storeConformance } from './conformance.js'

storeConformance(t, 'memory', async () => new MemoryStore())

t.test('the memory store expires entries by its injected clock', async (t) => {
  let now = 1_000_000
  const store = new MemoryStore({ now: () => now })
  t.teardown(() => store.close())
  t.equal(await store.claimOnce('code', 10), true)
  await store.revoke('grant', 10)
  now += 9_999
  t.equal(await store.claimOnce('code', 10), false)
  t.equal(await store.isRevoked('grant'), true)
  now += 1
  t.equal(await store.claimOnce('code', 10), true)
  t.equal(await store.isRevoked('grant'), false)
})

t.test('records() gives every live entry back as a convergent write, with absolute expiry times', async (t) => {
  let now = 5_000_000
  const store = new MemoryStore({ now: () => now })
  t.teardown(() => store.close())
  await store.claimOnce('code:a', 10)
  await store.revoke('grant:b', 20)
  t.equal(await store.rotateFamily('family:c', 0, 30), 'rotated')
  await store.keepLatest('user:d', 'sealed', 42, 40)
  await store.claimOnce('code:gone', 1)
  now += 1_000
  t.same([...store.records()], [
    { op: 'claim', key: 'code:a', expiresAt: 5_010_000 },
    { op: 'revoke', id: 'grant:b', expiresAt: 5_020_000 },
    { op: 'rotate', familyId: 'family:c', generation: 0, expiresAt: 5_030_000 },
    { op: 'latest', key: 'user:d', value: 'sealed', version: 42, expiresAt: 5_040_000 },
  ], 'the expired claim is left out')
  now += 30_000
  t.equal(await store.rotateFamily('family:c', 0, 30), 'rotated', 'an expired family is forgotten, not a reuse')
})

const WEEK = 7 * 86_400

/** A log that keeps its warnings. */
function warnings () {
  const lines: Array<{ obj: Record<string, unknown>, msg?: string }> = []
  return { lines, log: { ...silentLogger, warn: (obj: object, msg?: string) => { lines.push({ obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) }) } } }
}

async function evictions (metrics: Metrics, kind: string): Promise<number> {
  const { values } = await metrics.storeEvictions.get()
  return values.filter((v) => v.labels.kind === kind).reduce((sum, v) => sum + v.value, 0)
}

t.test('a flood of code guards past the bound never evicts a logout tombstone or a family', async (t) => {
  const metrics = new Metrics({ defaults: false })
  const { lines, log } = warnings()
  const store = new MemoryStore({ bounds: { claims: 100, tombstones: 100, families: 100 }, metrics, log })
  t.teardown(() => store.close())
  await store.revoke('session', WEEK)
  await store.revoke('grant', 30 * 86_400)
  t.equal(await store.rotateFamily('grant', 0, 30 * 86_400), 'rotated')
  // As redeeming a code does: a single-use claim and a tombstone, both for the code's 60 s.
  const claimed: boolean[] = []
  for (let i = 0; i < 1_000; i++) {
    claimed.push(await store.claimOnce(`code:${i}`, 60))
    await store.revoke(`code:${i}`, 60)
  }
  t.ok(claimed.every(Boolean), 'every code is claimed once')
  t.equal(await store.isRevoked('session'), true, 'the session tombstone survives')
  t.equal(await store.isRevoked('grant'), true, 'the family tombstone survives')
  t.equal(await store.rotateFamily('grant', 0, 30 * 86_400), 'reused', 'the family survives')
  t.equal(await store.isRevoked('code:999'), true, 'the newest guards are held')
  t.equal(await store.claimOnce('code:999', 60), false)
  t.equal(await store.isRevoked('code:0'), false, 'the guards that expire soonest went first')
  t.ok(await evictions(metrics, 'tombstones') >= 900, 'evicted tombstones are counted')
  t.ok(await evictions(metrics, 'claims') >= 900, 'evicted claims are counted')
  t.equal(await evictions(metrics, 'families'), 0)
  t.same(lines.map((l) => l.obj.kind).sort(), ['claims', 'tombstones'], 'one warning per kind, not one per eviction')
  t.match(lines[0]!.msg, /in-process store full/)
})

t.test('a full kind drops what has expired before anything live', async (t) => {
  let now = 1_000_000
  const metrics = new Metrics({ defaults: false })
  const store = new MemoryStore({ now: () => now, bounds: { tombstones: 10 }, metrics })
  t.teardown(() => store.close())
  await store.revoke('session', WEEK)
  for (let i = 0; i < 9; i++) await store.revoke(`short:${i}`, 1)
  now += 2_000
  for (let i = 0; i < 9; i++) await store.revoke(`later:${i}`, 60)
  t.equal(await store.isRevoked('session'), true)
  t.equal(await store.isRevoked('later:0'), true)
  t.equal(await evictions(metrics, 'tombstones'), 0, 'expired entries are not counted as evictions')
})

t.test('among long-lived entries, the one that expires soonest goes first, and a warning repeats at most once a minute', async (t) => {
  let now = 1_000_000
  const { lines, log } = warnings()
  const store = new MemoryStore({ now: () => now, bounds: { tombstones: 3 }, log })
  t.teardown(() => store.close())
  await store.revoke('month', 30 * 86_400)
  await store.revoke('week', WEEK)
  await store.revoke('day', 86_400)
  await store.revoke('another-week', WEEK)
  t.same(await Promise.all(['month', 'week', 'day', 'another-week'].map((id) => store.isRevoked(id))), [true, true, false, true])
  await store.revoke('hour', 3_600)
  t.equal(lines.length, 1)
  now += 61_000
  await store.revoke('another-hour', 3_600)
  t.equal(lines.length, 2, 'a minute later the bound is reported again')
  t.equal(lines[1]!.obj.evicted, 2, 'with every eviction since the last warning')
})

t.test('store.kind memory is bounded', async (t) => {
  const metrics = new Metrics({ defaults: false })
  const config = validateConfig({
    issuer: 'https://login.example.com',
    keys: DEV_KEYS,
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
    store: { kind: 'memory' },
  }, { env: {} })
  const store = await createStore(config, { log: silentLogger, metrics })
  t.teardown(() => store.close())
  await store.revoke('session', WEEK)
  for (let i = 0; i < DEFAULT_BOUNDS.claims; i++) await store.claimOnce(`code:${i}`, 60)
  t.equal(await evictions(metrics, 'claims'), 0, 'up to the bound nothing is forgotten')
  await store.claimOnce('one-more', 60)
  t.ok(await evictions(metrics, 'claims') > 0, 'past it, the claims that expire soonest are')
  t.equal(await store.claimOnce('one-more', 60), false)
  t.equal(await store.isRevoked('session'), true)
})
