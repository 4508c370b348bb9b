import t from 'tap'
import { ConfigError, validateConfig } from '../../src/config/load.js'

/** The smallest valid config, with `extra` keys added. */
function config (extra: Record<string, unknown> = {}, provider: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: 'https://login.example.com',
    keys: { signing: 'keys/signing.jwks.json', sealing: 'keys/sealing.jwks.json' },
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }], ...provider }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
    ...extra,
  }
}

function problems (input: Record<string, unknown>): Array<{ path: string, message: string }> {
  try {
    validateConfig(input, { env: {} })
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('rate limits are on by default, with their documented defaults', async (t) => {
  const resolved = validateConfig(config(), { env: {} })
  t.same(resolved.rateLimits, { enabled: true, token: { max: 1000, window: 10 }, authorize: { max: 300, window: 10 }, admin: { max: 30, window: 10 }, status: { max: 600, window: 60 } })
  t.equal(resolved.trustProxy, false, 'no proxy is trusted unless configured')
})

t.test('each limit can be tuned on its own, windows as durations', async (t) => {
  const resolved = validateConfig(config({ rateLimits: { token: { max: 50 }, admin: { window: '1m' } } }), { env: {} })
  t.same(resolved.rateLimits.token, { max: 50, window: 10 })
  t.same(resolved.rateLimits.admin, { max: 30, window: 60 })
  t.same(resolved.rateLimits.authorize, { max: 300, window: 10 })
})

t.test('a limit of zero requests, an empty window or an unknown limit is refused', async (t) => {
  const found = problems(config({ rateLimits: { token: { max: 0, window: '0s' }, userinfo: { max: 5 } } }))
  t.ok(found.some((p) => p.path === '/rateLimits/token/max'), 'max 0')
  t.ok(found.some((p) => p.path === '/rateLimits/token/window'), 'window 0')
  t.ok(found.some((p) => p.path.startsWith('/rateLimits') && /userinfo|additional/i.test(`${p.path} ${p.message}`)), 'an unknown limit')
})

t.test('trustProxy takes true, addresses or CIDRs, but not a hop count', async (t) => {
  for (const value of [true, '10.0.0.0/8', ['10.0.0.0/8', '127.0.0.1']]) t.same(validateConfig(config({ trustProxy: value }), { env: {} }).trustProxy, value, JSON.stringify(value))
  t.ok(problems(config({ trustProxy: 2 })).some((p) => p.path === '/trustProxy'), 'a hop count cannot tell a client from a proxy, so it is refused')
  t.ok(problems(config({ trustProxy: [] })).some((p) => p.path === '/trustProxy'), 'an empty list')
})

t.test('a health-check interval beyond what a Node timer can wait is refused', async (t) => {
  t.ok(problems(config({}, { healthCheck: { interval: '90d' } })).some((p) => p.path === '/providers/0/healthCheck/interval' && /24 days/.test(p.message)))
  t.same(problems(config({}, { healthCheck: { interval: '24d' } })), [], '24 days still fits')
})

t.test('breaker policies in the config have the bounds a live change has: timeout 60s, reset and window 10m, volume 1000, threshold between 0 and 100 %', async (t) => {
  const found = problems(config({}, { breaker: { timeout: '2m', resetTimeout: '1h', rollingCountTimeout: '25d', volumeThreshold: 1_001, errorThresholdPercentage: 100 } }))
  t.same(found.map((p) => p.path).sort(), ['timeout', 'resetTimeout', 'rollingCountTimeout', 'volumeThreshold', 'errorThresholdPercentage'].map((k) => `/providers/0/breaker/${k}`).sort())
  t.ok(found.find((p) => p.path.endsWith('/timeout'))?.message.startsWith('at most 60 s'), 'each says its bound')
  t.ok(problems(config({}, { breaker: { errorThresholdPercentage: 0 } })).length > 0, 'a threshold of 0 % is refused')
  t.same(problems(config({}, { breaker: { timeout: 60, resetTimeout: '10m', rollingCountTimeout: '600s', volumeThreshold: 1_000, errorThresholdPercentage: 99.5 } })), [], 'the bounds themselves are accepted')
})
