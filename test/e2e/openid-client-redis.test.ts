import t from 'tap'
import { openidClientSuite } from '../helpers/openid-client-suite.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { startStack } from '../helpers/stack.js'

t.test('the foundation flow with store.kind redis', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  openidClientSuite(t, () => startStack({ config: { store: { kind: 'redis', redis: { url: redis.url } } } }))

  t.test('the gateway kept its guards, tombstones and families in Redis', async (t) => {
    const keys = (await redis.cli('--scan', '--pattern', 'understudy:*')).trim().split('\n')
    for (const kind of ['once', 'revoked', 'family']) t.ok(keys.some((k) => k.startsWith(`understudy:${kind}:`)), `${kind} keys are in Redis`)
  })
})
