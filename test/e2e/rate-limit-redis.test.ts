import t from 'tap'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { authorizeUrl, startStack, type Stack } from '../helpers/stack.js'

const LIMIT = 4

t.test('with store.kind redis the limits are shared by every instance and hold through a Redis outage', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const config = { store: { kind: 'redis', redis: { url: redis.url } }, rateLimits: { authorize: { max: LIMIT, window: '60s' }, token: { max: LIMIT, window: '60s' } } }
  const first: Stack = await startStack({ config })
  t.teardown(() => first.close())
  const second: Stack = await startStack({ config, issuer: first.issuer, upstream: first.upstream })
  t.teardown(() => second.close())
  const query = new URL(authorizeUrl(first.issuer, 'shop')).search
  const at = async (stack: Stack, path: string) => (await fetch(`${stack.gateway.url}${path}${query}`, { redirect: 'manual' })).status

  t.test('two instances share one budget per client address', async (t) => {
    t.same([await at(first, '/authorize'), await at(second, '/authorize'), await at(first, '/authorize'), await at(second, '/authorize')], [302, 302, 302, 302])
    t.equal(await at(first, '/authorize'), 429, 'the fifth request is refused, though this instance saw only two')
    t.equal(await at(second, '/authorize'), 429, 'and on the other instance too')
    const keys = await redis.cli('--scan', '--pattern', 'understudy:ratelimit:*')
    t.match(keys, /understudy:ratelimit:authorize:\/authorize:ip:127\.0\.0\.1/, 'the counter lives in Redis, with a TTL')
    t.ok(Number(await redis.cli('pttl', keys.trim().split('\n')[0]!)) > 0)
  })

  t.test('failed client authentications are counted once for every instance: over the budget on one, the right secret is refused on the other', async (t) => {
    const introspect = async (stack: Stack, secret: string) => (await fetch(`${stack.gateway.url}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`shop:${secret}`).toString('base64')}` },
      body: 'token=x',
    })).status
    t.same([await introspect(first, 'guess-1'), await introspect(second, 'guess-2'), await introspect(first, 'guess-3'), await introspect(second, 'guess-4')], [401, 401, 401, 401])
    t.equal(await introspect(first, 'guess-5'), 429, 'the fifth failure is refused')
    t.equal(await introspect(second, 'shop-secret'), 429, 'and the right secret on the other instance, read from the shared counter')
  })

  t.test('with Redis down each instance keeps counting on its own: limited, never 5xx', async (t) => {
    await redis.kill()
    const seen: number[] = []
    for (let i = 0; i <= LIMIT; i++) seen.push(await at(first, '/authorize'))
    t.same(seen, [...Array(LIMIT).fill(302), 429], 'the limit holds in this process')
    t.ok(first.logs.some((line) => line.includes('rate-limit counters unreachable')), 'the fallback is logged')
  })

  t.test('when Redis answers again the instances share their counters again', async (t) => {
    await redis.restart()
    // Each request past the breaker's reset timeout is its trial call.
    await until(async () => {
      await at(first, '/callback/idp')
      return first.logs.some((line) => line.includes('rate-limit counters shared through Redis again'))
    }, 10_000, 'the rate-limit breaker closes')
    const keys = await redis.cli('--scan', '--pattern', 'understudy:ratelimit:*')
    t.match(keys, /callback/, 'counting in Redis again')
  })
})
