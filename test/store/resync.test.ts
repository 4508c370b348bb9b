import { randomUUID } from 'node:crypto'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { createRedisStore } from '../../src/store/create.js'
import { loadedConfig } from '../helpers/config.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'

// Found by the Chaos Monkey game day: gateway A crashed (its in-process copy gone), then redis-a restarted
// empty, then redis-b hung: a session logged out through A before all this was accepted again, because its
// tombstone had been left in redis-b alone. A local Redis that returns is now refilled from its peers too.
t.test('a local Redis that restarted empty is refilled from its peers, so a later peer outage loses no tombstone', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const open = async (url: string, peer: string) => {
    const store = await createRedisStore(loadedConfig({ store: { kind: 'redis', redis: { url, peers: [peer], commandTimeout: '300ms', peerTimeout: '300ms' } } }).store, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
    t.teardown(() => store.close())
    return store
  }
  const first = await open(redisA.url, redisB.url)
  const [tombstone, family] = [randomUUID(), randomUUID()]
  await first.revoke(tombstone, 60)
  t.equal(await first.rotateFamily(family, 0, 60), 'rotated')
  await until(async () => (await redisB.cli('exists', `understudy:revoked:{${tombstone}}`)).trim() === '1', 2_000, 'the tombstone reaches the peer')
  // The process that wrote them is gone; a new one starts with nothing in process.
  await first.close()
  const second = await open(redisA.url, redisB.url)
  await redisA.kill()
  t.equal(await second.isRevoked(tombstone), true, 'while redis-a is down the peer answers')
  await redisA.restart()
  await until(async () => (await redisA.cli('exists', `understudy:revoked:{${tombstone}}`)).trim() === '1', 10_000, 'the restarted Redis gets the tombstone back from the peer')
  t.equal((await redisA.cli('get', `understudy:family:{${family}}`)).trim(), '1', 'and the family at its generation')
  redisB.pause()
  t.teardown(() => redisB.resume())
  t.equal(await second.isRevoked(tombstone), true, 'the tombstone holds with the peer hung')
  t.equal(await second.rotateFamily(family, 0, 60), 'reused', 'and so does the rotation')
})

t.test('a local Redis that restarts between two commands, unseen, gets back what this process held', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const store = await createRedisStore(loadedConfig({ store: { kind: 'redis', redis: { url: redis.url, commandTimeout: '300ms' } } }).store, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
  t.teardown(() => store.close())
  const [tombstone, family] = [randomUUID(), randomUUID()]
  await store.revoke(tombstone, 60)
  t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
  t.equal((await redis.cli('exists', `understudy:revoked:{${tombstone}}`)).trim(), '1')
  // No command runs while it is down, so no breaker opens: only the reconnection (another run_id) tells.
  await redis.restart()
  await until(async () => (await redis.cli('exists', `understudy:revoked:{${tombstone}}`)).trim() === '1', 10_000, 'the tombstone is written back')
  t.equal((await redis.cli('get', `understudy:family:{${family}}`)).trim(), '1', 'and the family at its generation')
})
