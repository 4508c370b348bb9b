import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
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

  t.test('a code\'s guard agrees with the guard of versions before revokeOnce (claimOnce), as a rolling upgrade needs', async (t) => {
    const store = await open(t, { url: redis.url })
    const [olderFirst, newerFirst] = [`code:${randomUUID()}`, `code:${randomUUID()}`]
    t.equal(await store.claimOnce(olderFirst, 60), true, 'an older instance redeems a code (its claimOnce wins)')
    t.equal(await store.revokeOnce(olderFirst, 60), false, 'and a newer instance refuses the same code')
    t.equal(await store.revokeOnce(newerFirst, 60), true, 'a newer instance redeems a code')
    t.equal(await store.claimOnce(newerFirst, 60), false, 'and an older instance\'s guard refuses it, even before it reads the tombstone')
    t.equal(await store.isRevoked(newerFirst), true)
    const ttl = Number(await redis.cli('pttl', `understudy:once:{${newerFirst}}`))
    t.ok(ttl > 0 && ttl <= 60_000, `the older versions' guard expires with the tombstone (${ttl} ms)`)
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
    t.ok(Date.now() - started < TIMEOUTS.commandTimeoutMs, `it failed after ${Date.now() - started} ms, without waiting for the command timeout`)
    await doomed.restart()
    await until(() => store.claimOnce(randomUUID(), 60), 10_000, 'the store reconnects')
  })

  t.test('opening a store on an unreachable Redis returns after the connect timeout instead of failing', async (t) => {
    const gone = await RedisServer.start(t)
    await gone.kill()
    const store = await open(t, { url: gone.url })
    t.equal(store.ready, false)
    await t.rejects(store.ping())
  })
})
