import t from 'tap'
import { ConfigError, validateConfig } from '../../src/config/load.js'
import { redisTuning } from '../../src/config/resolve.js'
import { DEV_KEYS } from '../helpers/stack.js'

/** A valid config around `store`. */
function withStore (store: unknown) {
  return validateConfig({
    issuer: 'https://login.example.com',
    keys: DEV_KEYS,
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
    store,
  }, { env: {} })
}

function problemPaths (store: unknown): string[] {
  try {
    withStore(store)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.path)
    throw err
  }
  return []
}

t.test('the redis store tuning defaults to login-path timeouts and a 5 minute fail-open bound', async (t) => {
  const tuning = redisTuning(withStore({ kind: 'redis', redis: { url: 'redis://cache:6379' } }).store)
  t.same(tuning, { keyPrefix: 'understudy:', commandTimeoutMs: 500, connectTimeoutMs: 1_000, peerTimeoutMs: 250, peerQueueLimit: 10_000, revocationFailOpenMs: 300_000 })
})

t.test('the redis store tuning reads durations in any unit', async (t) => {
  const config = withStore({ kind: 'redis', redis: { url: 'rediss://cache:6380', keyPrefix: 'login:', commandTimeout: '200ms', connectTimeout: 2, peerTimeout: '1s', peerQueueLimit: 50 }, revocationFailOpen: '10m' })
  t.same(redisTuning(config.store), { keyPrefix: 'login:', commandTimeoutMs: 200, connectTimeoutMs: 2_000, peerTimeoutMs: 1_000, peerQueueLimit: 50, revocationFailOpenMs: 600_000 })
})

t.test('a Redis call is never configured without a timeout, and a peer is never the local Redis', async (t) => {
  t.same(problemPaths({ kind: 'redis', redis: { url: 'redis://cache:6379', commandTimeout: 0, peerTimeout: '0s' } }), ['/store/redis/commandTimeout', '/store/redis/peerTimeout'])
  t.same(problemPaths({ kind: 'redis', redis: { url: 'redis://cache:6379', peers: ['redis://other:6379', 'redis://cache:6379'] } }), ['/store/redis/peers/1'])
  t.same(problemPaths({ kind: 'redis', redis: { url: 'redis://cache:6379', peerQueueLimit: 0 } }), ['/store/redis/peerQueueLimit'])
})
