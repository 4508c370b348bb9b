import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { MemoryCounter, RedisCounter } from '../../src/rate-limit/counter.js'
import { connectRedis, waitUntilReady } from '../../src/store/redis-connection.js'
import { noRedis, RedisServer } from '../helpers/redis.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 2_000 }

/** Calls of each command redis-server has run, from INFO commandstats. */
async function calls (redis: RedisServer): Promise<Map<string, number>> {
  const info = await redis.cli('info', 'commandstats')
  return new Map([...info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map(([, name, n]) => [name!, Number(n)]))
}

t.test('the Redis counter counts in fixed windows, and a peek reads without counting', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const client = connectRedis({ url: redis.url }, TIMEOUTS, silentLogger)
  await waitUntilReady(client, TIMEOUTS.connectTimeoutMs)
  const counter = new RedisCounter(client, { prefix: 'test:', timeoutMs: TIMEOUTS.commandTimeoutMs, fallback: new MemoryCounter(), log: silentLogger })
  t.teardown(() => counter.close())

  t.same(await counter.peek('a'), { current: 0, ttlMs: 0 }, 'no window yet')
  t.equal((await redis.cli('exists', 'test:a')).trim(), '0', 'peeking opened none')
  const first = await counter.incr('a', 60_000)
  t.equal(first.current, 1)
  t.ok(first.ttlMs > 0 && first.ttlMs <= 60_000, `the window is ahead (${first.ttlMs} ms)`)
  t.equal((await counter.incr('a', 60_000)).current, 2)
  const peeked = await counter.peek('a')
  t.equal(peeked.current, 2, 'a peek reads the count')
  t.ok(peeked.ttlMs > 0 && peeked.ttlMs <= 60_000, `and the time left (${peeked.ttlMs} ms)`)
  t.equal((await counter.peek('a')).current, 2, 'peeking counted nothing')
  t.equal((await counter.incr('b', 60_000)).current, 1, 'keys count apart')

  // Every token request peeks, and nearly every address has no window open: that peek is one plain GET.
  const before = await calls(redis)
  await counter.peek('nobody')
  const after = await calls(redis)
  const ran = [...after].filter(([name, n]) => name !== 'info' && n > (before.get(name) ?? 0)).map(([name, n]) => [name, n - (before.get(name) ?? 0)])
  t.same(ran, [['get', 1]], 'a peek with no window open runs one GET and nothing else')
})
