import { randomUUID } from 'node:crypto'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { RedisStore } from '../../src/store/redis.js'
import { noRedis, startSentinelGroup, until } from '../helpers/redis.js'
import { storeConformance } from './conformance.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }

t.test('Redis Sentinel', { skip: noRedis }, async (t) => {
  const group = await startSentinelGroup(t)
  const target = { sentinels: group.nodes, name: group.name }
  storeConformance(t, 'redis sentinel', () => RedisStore.open({ ...target, ...TIMEOUTS, log: silentLogger }))

  // Last: it promotes the replica, which every later test would then use.
  t.test('after the master dies, the store follows the failover to the promoted replica', async (t) => {
    const store = await RedisStore.open({ ...target, ...TIMEOUTS, log: silentLogger })
    t.teardown(() => store.close())
    const before = randomUUID()
    await store.revoke(before, 60)
    await until(async () => (await group.replica.cli('exists', `understudy:revoked:{${before}}`)).trim() === '1', 5_000, 'the tombstone is replicated')
    await group.master.kill()
    await until(async () => (await group.sentinels[0]!.cli('sentinel', 'get-master-addr-by-name', group.name)).includes(String(group.replica.port)), 20_000, 'sentinel promotes the replica')
    await until(() => store.claimOnce(randomUUID(), 60), 10_000, 'the store writes to the new master')
    t.equal(await store.isRevoked(before), true, 'what was replicated before the failover is still there')
  })
})

t.test('a Sentinel group with passwords: the nodes\' (password) and the Sentinels\' own (sentinelPassword)', { skip: noRedis }, async (t) => {
  const auth = { password: 'node-secret', sentinelPassword: 'sentinel-secret' }
  const group = await startSentinelGroup(t, auth)
  const target = { sentinels: group.nodes, name: group.name }
  const store = await RedisStore.open({ ...target, ...auth, ...TIMEOUTS, log: silentLogger })
  t.teardown(() => store.close())
  t.equal(store.ready, true, 'connected through the Sentinel to the master')
  const id = randomUUID()
  await store.revoke(id, 60)
  t.equal(await store.isRevoked(id), true)
  t.equal((await group.master.cli('exists', `understudy:revoked:{${id}}`)).trim(), '1', 'written to the master')

  const withoutNodePassword = await RedisStore.open({ ...target, sentinelPassword: auth.sentinelPassword, ...TIMEOUTS, log: silentLogger })
  t.teardown(() => withoutNodePassword.close())
  await t.rejects(withoutNodePassword.isRevoked(id), 'without the nodes\' password the master refuses the store')
  const withoutSentinelPassword = await RedisStore.open({ ...target, password: auth.password, ...TIMEOUTS, log: silentLogger })
  t.teardown(() => withoutSentinelPassword.close())
  t.equal(withoutSentinelPassword.ready, false, 'without the Sentinels\' password no master is found')
})
