import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { createRedisStore } from '../../src/store/create.js'
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis.js'
import { loadedConfig } from '../helpers/config.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }

/** A RedisStore on `target`, closed in `t`'s teardown. */
async function open (t: Test, target: Omit<RedisStoreOptions, 'log' | 'commandTimeoutMs' | 'connectTimeoutMs'>): Promise<RedisStore> {
  const store = await RedisStore.open({ ...TIMEOUTS, ...target, log: silentLogger })
  t.teardown(() => store.close())
  return store
}

t.test('with requirepass, a URL carrying the password authenticates the store and one without it is refused', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t, { password: 'url-secret' })
  const store = await open(t, { url: `redis://:url-secret@127.0.0.1:${redis.port}` })
  t.equal(store.ready, true, 'connected with the password')
  const id = randomUUID()
  await store.revoke(id, 60)
  t.equal(await store.isRevoked(id), true)
  t.equal((await redis.cli('exists', `understudy:revoked:{${id}}`)).trim(), '1', 'written to that Redis')
  await t.rejects((await open(t, { url: redis.url })).isRevoked(id), 'without a password the store is refused')
  await t.rejects((await open(t, { url: `redis://:wrong@127.0.0.1:${redis.port}` })).isRevoked(id), 'with a wrong one too')
})

t.test("a peer URL with an ACL user and its password gets the store's tombstones", { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const peer = await RedisServer.start(t, { password: 'default-secret', args: ['--user', 'gateway', 'on', '>peer-secret', '~understudy:*', '+@all'] })
  const store = await createRedisStore(loadedConfig({ store: { kind: 'redis', redis: { url: local.url, peers: [`redis://gateway:peer-secret@127.0.0.1:${peer.port}`], peerTimeout: '300ms' } } }).store, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
  t.teardown(() => store.close())
  const id = randomUUID()
  await store.revoke(id, 60)
  await until(async () => (await peer.cli('exists', `understudy:revoked:{${id}}`)).trim() === '1', 5_000, 'the tombstone reaches the password-protected peer')
  t.pass('the peer accepted the write as user gateway')
})

t.test('with sentinels, store.redis.username and password log in to the master as an ACL user', { skip: noRedis }, async (t) => {
  const name = 'understudy'
  // The default user keeps a password of its own (Sentinel's auth-pass); the gateway has its own user.
  const master = await RedisServer.start(t, { password: 'sentinel-auth', args: ['--user', 'gateway', 'on', '>gateway-secret', '~understudy:*', '+@all'] })
  const sentinel = await RedisServer.sentinel(t, name, master.port, { password: 'sentinel-auth' })
  const target = { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name }
  const store = await open(t, { ...target, username: 'gateway', password: 'gateway-secret' })
  t.equal(store.ready, true, 'connected through the Sentinel as gateway')
  const id = randomUUID()
  await store.revoke(id, 60)
  t.equal(await store.isRevoked(id), true)
  t.match(await master.cli('client', 'list'), /user=gateway/, 'the master sees the connection as user gateway')
  const defaultUser = await open(t, { ...target, password: 'gateway-secret' })
  await t.rejects(defaultUser.isRevoked(id), "the gateway's password without its user name is refused")
})
