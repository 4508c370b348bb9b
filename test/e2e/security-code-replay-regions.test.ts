import t from 'tap'
import type { UpstreamIdp } from '../../harness/demo/upstream-idp.js'
import { authorizeCode, backChannel, login, userinfo } from '../helpers/oidc.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { CLIENTS, freePort, startStack, startStackUpstream, type Stack } from '../helpers/stack.js'

/**
 * Two regions, each with its own Redis, each the other's peer (DESIGN §5).
 * Codes are sealed, so either region can redeem one: the single-use guard
 * must hold across regions, or a stolen code replayed in the other region
 * would mint a second set of tokens.
 */

t.test('a code redeemed in region A and replayed in region B is refused, and revokes what A issued', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const portA = await freePort()
  const issuer = `http://127.0.0.1:${portA}`
  const upstream: UpstreamIdp = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const region = async (name: string, redis: RedisServer, peer: RedisServer, port?: number): Promise<Stack> => {
    const listen = port === undefined ? {} : { listen: { host: '127.0.0.1', port } }
    const stack = await startStack({ issuer, upstream, config: { region: name, ...listen, store: { kind: 'redis', redis: { url: redis.url, peers: [peer.url] } } } })
    t.teardown(() => stack.close())
    return stack
  }
  const a = await region('a', redisA, redisB, portA)
  const b = await region('b', redisB, redisA)
  const { browser } = await login(a, 'shop')
  const { code } = await authorizeCode(a, 'shop', {}, { browser })
  const form = { grant_type: 'authorization_code', code, redirect_uri: CLIENTS.shop.redirectUris[0]! }
  const first = await backChannel(a, '/token', 'shop', form)
  t.equal(first.status, 200, 'A redeems the code')
  const replay = await backChannel({ ...b, issuer: b.gateway.url }, '/token', 'shop', form)
  t.equal(replay.status, 400, 'B refuses the replay')
  t.equal(replay.json?.error, 'invalid_grant')
  t.equal((await userinfo(a, first.json.access_token)).status, 401, 'the tokens of the first redemption are revoked')
})
