import { randomUUID } from 'node:crypto'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { RedisStore } from '../../src/store/redis.js'
import { noRedis, startCluster, until } from '../helpers/redis.js'
import { storeConformance } from './conformance.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }

t.test('Redis Cluster', { skip: noRedis }, async (t) => {
  const cluster = await startCluster(t)
  storeConformance(t, 'redis cluster', () => RedisStore.open({ cluster: cluster.urls, ...TIMEOUTS, log: silentLogger }))

  t.test('keys spread over the nodes, and each id stays in one slot', async (t) => {
    const store = await RedisStore.open({ cluster: cluster.urls, ...TIMEOUTS, log: silentLogger })
    t.teardown(() => store.close())
    const ids = Array.from({ length: 30 }, () => randomUUID())
    for (const id of ids) {
      await store.revoke(id, 60)
      await store.rotateFamily(id, 0, 60)
    }
    const counts = await Promise.all(cluster.nodes.map(async (n) => Number(await n.cli('dbsize'))))
    t.ok(counts.every((c) => c > 0), `every node holds keys: ${counts.join(', ')}`)
    const [a, b] = await Promise.all([cluster.nodes[0]!.cli('cluster', 'keyslot', `understudy:revoked:{${ids[0]}}`), cluster.nodes[0]!.cli('cluster', 'keyslot', `understudy:family:{${ids[0]}}`)])
    t.equal(a, b, 'the tombstone and the family of one id share a slot')
  })
})

t.test('a Cluster command whose reply a dropped connection lost is not sent again: a first rotation is never answered as its own reuse', { skip: noRedis }, async (t) => {
  const cluster = await startCluster(t, { proxied: true })
  // A command timeout long enough for a resend on a new connection to be answered in time, were it made.
  const store = await RedisStore.open({ cluster: cluster.urls, commandTimeoutMs: 3_000, connectTimeoutMs: 1_000, log: silentLogger })
  t.teardown(() => store.close())
  // Connected to every node first (ids spread over the slots), so that only the command itself meets the fault.
  for (let i = 0; i < 30; i++) await store.isRevoked(randomUUID())
  const family = randomUUID()
  await Promise.all(cluster.proxies.map((p) => p.setFault({ kind: 'latency', ms: 1_000, direction: 'downstream' })))
  const answer = store.rotateFamily(family, 0, 60).catch(() => 'failed')
  const key = `understudy:family:{${family}}`
  await until(async () => (await Promise.all(cluster.nodes.map((n) => n.cli('exists', key)))).some((e) => e.trim() === '1'), 5_000, 'the rotation ran in the cluster; its reply is held back')
  await Promise.all(cluster.proxies.map((p) => p.setFault({ kind: 'reset' })))
  await Promise.all(cluster.proxies.map((p) => p.clearFault()))
  t.equal(await answer, 'failed', 'the call fails (the resilient store above falls back), rather than running again and answering reused')
})
