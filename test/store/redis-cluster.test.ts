import { randomUUID } from 'node:crypto'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { RedisStore } from '../../src/store/redis.js'
import { noRedis, startCluster } from '../helpers/redis.js'
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
