import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis.js'
import { noRedis, RedisServer, startCluster, startSentinelGroup, until } from '../helpers/redis.js'
import { storeConformance } from './conformance.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }

/** Opens a RedisStore on `target`, closed in `t`'s teardown. */
async function open (t: Test, target: Omit<RedisStoreOptions, 'log' | 'commandTimeoutMs' | 'connectTimeoutMs'>): Promise<RedisStore> {
  const store = await RedisStore.open({ ...TIMEOUTS, ...target, log: silentLogger })
  t.teardown(() => store.close())
  return store
}

t.test('standalone Redis', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  storeConformance(t, 'redis standalone', () => RedisStore.open({ url: redis.url, ...TIMEOUTS, log: silentLogger }))

  t.test('every key is prefixed, hash-tagged on its id and has a TTL', async (t) => {
    const store = await open(t, { url: redis.url, keyPrefix: 'test-prefix:' })
    const id = randomUUID()
    await store.claimOnce(`code:${id}`, 60)
    await store.revoke(id, 60)
    await store.rotateFamily(id, 0, 60)
    const keys = (await redis.cli('--scan', '--pattern', `test-prefix:*${id}*`)).trim().split('\n').sort()
    t.same(keys, [`test-prefix:family:{${id}}`, `test-prefix:once:{code:${id}}`, `test-prefix:revoked:{${id}}`])
    for (const key of keys) {
      const ttl = Number(await redis.cli('pttl', key))
      t.ok(ttl > 0 && ttl <= 60_000, `${key} expires (${ttl} ms)`)
    }
  })

  t.test('a family that lags behind a generation catches up instead of reporting a reuse', async (t) => {
    const store = await open(t, { url: redis.url })
    const family = randomUUID()
    t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
    t.equal(await store.rotateFamily(family, 5, 60), 'rotated', 'a lost rotation (generation 1 to 5) is not a reuse')
    t.equal(await store.rotateFamily(family, 4, 60), 'reused')
  })

  t.test('a hung Redis fails a command within the command timeout, and the store answers again after', async (t) => {
    const hung = await RedisServer.start(t)
    const store = await open(t, { url: hung.url })
    hung.pause()
    t.teardown(() => hung.resume())
    const started = Date.now()
    await t.rejects(store.isRevoked('anything'))
    t.ok(Date.now() - started < TIMEOUTS.commandTimeoutMs + 1_000, `failed after ${Date.now() - started} ms`)
    hung.resume()
    await until(() => store.isRevoked('anything').then(() => true), 5_000, 'the store answers again')
  })

  t.test('a killed Redis fails commands at once, and the store reconnects when it is back on its port', async (t) => {
    const doomed = await RedisServer.start(t)
    const store = await open(t, { url: doomed.url })
    await doomed.kill()
    await until(async () => !store.ready, 5_000, 'the store notices')
    const started = Date.now()
    await t.rejects(store.claimOnce('k', 60), 'no offline queue: the command fails instead of waiting')
    t.ok(Date.now() - started < 200, 'at once')
    await doomed.restart()
    await until(() => store.claimOnce(randomUUID(), 60), 5_000, 'the store reconnects')
  })

  t.test('opening a store on an unreachable Redis returns after the connect timeout instead of failing', async (t) => {
    const gone = await RedisServer.start(t)
    await gone.kill()
    const store = await open(t, { url: gone.url })
    t.equal(store.ready, false)
    await t.rejects(store.ping())
  })
})

t.test('Redis Sentinel', { skip: noRedis }, async (t) => {
  const group = await startSentinelGroup(t)
  const target = { sentinels: group.nodes, name: group.name }
  storeConformance(t, 'redis sentinel', () => RedisStore.open({ ...target, ...TIMEOUTS, log: silentLogger }))

  // Last: it promotes the replica, which every later test would then use.
  t.test('after the master dies, the store follows the failover to the promoted replica', async (t) => {
    const store = await open(t, target)
    const before = randomUUID()
    await store.revoke(before, 60)
    await until(async () => (await group.replica.cli('exists', `understudy:revoked:{${before}}`)).trim() === '1', 5_000, 'the tombstone is replicated')
    await group.master.kill()
    await until(async () => (await group.sentinels[0]!.cli('sentinel', 'get-master-addr-by-name', group.name)).includes(String(group.replica.port)), 20_000, 'sentinel promotes the replica')
    await until(() => store.claimOnce(randomUUID(), 60), 10_000, 'the store writes to the new master')
    t.equal(await store.isRevoked(before), true, 'what was replicated before the failover is still there')
  })
})

t.test('Redis Cluster', { skip: noRedis }, async (t) => {
  const cluster = await startCluster(t)
  storeConformance(t, 'redis cluster', () => RedisStore.open({ cluster: cluster.urls, ...TIMEOUTS, log: silentLogger }))

  t.test('keys spread over the nodes, and each id stays in one slot', async (t) => {
    const store = await open(t, { cluster: cluster.urls })
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
