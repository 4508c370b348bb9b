import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { anyRevoked, revokeGrant, revokeSession } from '../../src/oidc/tombstones.js'
import { FaultInjector } from '../../src/resilience/fault-injector.js'
import { createRedisStore } from '../../src/store/create.js'
import { DEFAULT_BOUNDS, MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/store.js'
import { loadedConfig } from '../helpers/config.js'
import { noRedis, RedisServer } from '../helpers/redis.js'

const WEEK = 7 * 86_400
const MONTH = 30 * 86_400

async function evictions (metrics: Metrics, kind: string): Promise<number> {
  const { values } = await metrics.storeEvictions.get()
  return values.filter((v) => v.labels.kind === kind).reduce((sum, v) => sum + v.value, 0)
}

/**
 * A user logs out, then an attacker redeems one SSO code twice, again and
 * again: each reuse tombstones its grant for a month, past the in-process
 * bound of tombstones. The logout must still hold, and the newest grant tombstone too.
 */
async function floodAfterLogout (t: Test, store: Store, metrics: Metrics, bound: number): Promise<void> {
  const sid = randomUUID()
  await revokeSession({ store, sessionLifetime: WEEK }, sid)
  const grants = { store, tokens: { refreshToken: MONTH } }
  const flood = bound + 1_000
  for (let i = 0; i < flood; i++) await revokeGrant(grants, `grant:${i}`)
  t.ok(await evictions(metrics, 'tombstones') >= 1_000, 'the grant tombstones did reach their bound')
  t.equal(await anyRevoked(store, [sid]), true, 'the logout still holds')
  t.equal(await anyRevoked(store, [`grant:${flood - 1}`]), true, 'the newest grant tombstone holds')
  t.equal(await evictions(metrics, 'logouts'), 0, 'no logout was forgotten')
}

t.test('in the memory store, a flood of grant tombstones past their bound never evicts a logout', async (t) => {
  const metrics = new Metrics({ defaults: false })
  const store = new MemoryStore({ bounds: { tombstones: 1_000, logouts: 1_000 }, metrics })
  t.teardown(() => store.close())
  await floodAfterLogout(t, store, metrics, 1_000)
})

t.test('while Redis is down, a flood of grant tombstones past the in-process bound never evicts a logout', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const metrics = new Metrics({ defaults: false })
  const faults = new FaultInjector()
  const config = loadedConfig({ store: { kind: 'redis', redis: { url: redis.url, commandTimeout: '300ms' } } })
  const store = await createRedisStore(config.store, { log: silentLogger, metrics, faults })
  t.teardown(() => store.close())
  t.match(faults.add({ target: { store: 'local' }, kind: 'error', duration: '10m' }), { ok: true }, 'the local Redis fails every command')
  await floodAfterLogout(t, store, metrics, DEFAULT_BOUNDS.tombstones)
})
