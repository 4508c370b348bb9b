import t, { type Test } from 'tap'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { authorizeCode, backChannel, login, pkcePair, refresh } from '../helpers/oidc.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/**
 * What an admin-token holder can do stays denial of service (SECURITY.md, "An
 * attacker on the admin port"): an injected store fault is a Redis outage and
 * never disables replay or reuse detection; faults and breaker policies are
 * bounded; chaos announces itself.
 */

const FAULT = { target: { provider: 'idp', region: 'secondary' }, kind: 'error' as const }

/** A chaos-enabled gateway on its own redis-server. */
async function redisChaosStack (t: Test): Promise<Stack> {
  const redis = await RedisServer.start(t)
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN, chaos: { enabled: true }, store: { kind: 'redis', redis: { url: redis.url } } } })
  t.teardown(() => s.close())
  return s
}

async function storeFault (t: Test, s: Stack): Promise<void> {
  const injected = await admin(s, 'POST', '/admin/faults', { target: { store: 'local' }, kind: 'error', duration: '10m' })
  t.equal(injected.status, 201, 'a store fault is injected')
}

t.test('an injected store fault is a Redis outage: a code redeemed twice on this instance is refused', { skip: noRedis }, async (t) => {
  const s = await redisChaosStack(t)
  await storeFault(t, s)
  const { verifier, challenge } = pkcePair()
  const { code } = await authorizeCode(s, 'shop', { code_challenge: challenge, code_challenge_method: 'S256' })
  const form = { grant_type: 'authorization_code', code, redirect_uri: CLIENTS.shop.redirectUris[0]!, code_verifier: verifier }
  const first = await backChannel(s, '/token', 'shop', form)
  t.equal(first.status, 200, 'the first redemption succeeds')
  const replay = await backChannel(s, '/token', 'shop', form)
  t.equal(replay.status, 400, 'the replay is refused')
  t.equal(replay.json?.error, 'invalid_grant')
  t.equal((await refresh(s, 'shop', first.json.refresh_token)).status, 400, 'and what the first redemption issued is revoked')
  t.same(await s.gateway.gateway.store.health!(), { status: 'unreachable', peers: {} }, 'the Redis layer is down, as in a real outage')
  t.ok(s.logs.some((line) => line.includes('store unreachable: using the fallbacks')), 'the Redis breaker saw the outage')
  t.same((await admin(s, 'DELETE', '/admin/faults')).body, { faults: [] })
  await waitFor(async () => (await s.gateway.gateway.store.health!()).status === 'ok', 'Redis answers again once the fault is cleared')
})

t.test('an injected store fault leaves reuse detection on: a reused refresh token revokes its family', { skip: noRedis }, async (t) => {
  const s = await redisChaosStack(t)
  await storeFault(t, s)
  const { tokens } = await login(s, 'shop')
  const rotated = await refresh(s, 'shop', tokens.refresh_token)
  t.equal(rotated.status, 200, 'the first refresh rotates')
  const reused = await refresh(s, 'shop', tokens.refresh_token)
  t.equal(reused.status, 400, 'the rotated-away token presented again is refused')
  t.equal(reused.json?.error, 'invalid_grant')
  t.equal((await refresh(s, 'shop', rotated.json.refresh_token)).status, 400, 'and the whole family is revoked')
})

t.test('with store.kind memory there is no remote store to fail: a store fault is refused with a 400', async (t) => {
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN, chaos: { enabled: true } } })
  t.teardown(() => s.close())
  const refused = await admin(s, 'POST', '/admin/faults', { target: { store: 'local' }, kind: 'error', duration: 60 })
  t.equal(refused.status, 400)
  t.equal(refused.body.error, 'invalid_fault')
  t.match(refused.body.problems, [{ path: '/target/store', message: /store\.kind redis/ }])
  t.same((await admin(s, 'GET', '/admin/faults')).body, { faults: [] }, 'nothing was injected')
})

t.test('fault durations and latencies are capped in every form they are written in', async (t) => {
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN, chaos: { enabled: true } } })
  t.teardown(() => s.close())
  const refused: Array<[Record<string, unknown>, string]> = [
    [{ ...FAULT, duration: '3650d' }, '/duration'],
    [{ ...FAULT, duration: '25h' }, '/duration'],
    [{ ...FAULT, duration: '1441m' }, '/duration'],
    [{ ...FAULT, duration: 86_401 }, '/duration'],
    [{ ...FAULT, duration: '0s' }, '/duration'],
    [{ ...FAULT, duration: -1 }, '/duration'],
    [{ ...FAULT, duration: 'forever' }, '/duration'],
    [{ ...FAULT, kind: 'latency', latency: '61s', duration: '1m' }, '/latency'],
    [{ ...FAULT, kind: 'latency', latency: 61, duration: '1m' }, '/latency'],
    [{ ...FAULT, kind: 'latency', latency: '2m', duration: '1m' }, '/latency'],
    [{ ...FAULT, kind: 'latency', duration: '1m' }, '/latency'],
  ]
  for (const [body, path] of refused) {
    const reply = await admin(s, 'POST', '/admin/faults', body)
    t.equal(reply.status, 400, JSON.stringify(body))
    t.equal(reply.body.error, 'invalid_fault')
    t.ok((reply.body.problems as Array<{ path: string }>).some((p) => p.path === path), `${JSON.stringify(body)}: a problem at ${path}`)
  }
  t.same((await admin(s, 'GET', '/admin/faults')).body, { faults: [] }, 'none of them was injected')
  t.same(await admin(s, 'DELETE', '/admin/faults/nope'), { status: 404, body: { error: 'not_found', error_description: 'no such fault' } }, 'an unknown fault is a 404 with a stable code')
  const day = await admin(s, 'POST', '/admin/faults', { ...FAULT, duration: '24h' })
  t.equal(day.status, 201, 'a day is the longest fault')
  t.equal(Date.parse(day.body.expiresAt) - Date.parse(day.body.createdAt), 86_400_000)
  const slow = await admin(s, 'POST', '/admin/faults', { ...FAULT, kind: 'latency', latency: '60s', duration: 60 })
  t.equal(slow.status, 201, 'a minute is the longest latency')
  t.equal(slow.body.latencyMs, 60_000)
})

t.test('live breaker policies stay within bounds, and an invalid change lists every problem', async (t) => {
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN } })
  t.teardown(() => s.close())
  const invalid = await admin(s, 'PATCH', '/admin/breakers/idp/primary', { timeout: '61s', resetTimeout: '11m', rollingCountTimeout: '1h', volumeThreshold: 1001, errorThresholdPercentage: 100 })
  t.equal(invalid.status, 400)
  t.equal(invalid.body.error, 'invalid_policy')
  const paths = (invalid.body.problems as Array<{ path: string }>).map((p) => p.path).sort()
  t.same(paths, ['/errorThresholdPercentage', '/resetTimeout', '/rollingCountTimeout', '/timeout', '/volumeThreshold'], 'one problem per field, all at once')
  for (const [body, why] of [[{ errorThresholdPercentage: 0 }, 'a threshold of 0 %'], [{ timeout: 61 }, 'a timeout over a minute as a number'], [{ resetTimeout: '601s' }, 'a reset over 10 minutes']] as const) {
    t.equal((await admin(s, 'PATCH', '/admin/breakers/idp/primary', body)).status, 400, why)
  }
  const edge = { timeout: '60s', resetTimeout: '10m', rollingCountTimeout: 600, volumeThreshold: 1000, errorThresholdPercentage: 99 }
  const accepted = await admin(s, 'PATCH', '/admin/breakers/idp/primary', edge)
  t.equal(accepted.status, 200, 'every bound itself is accepted')
  t.same(accepted.body.policy, { timeout: 60, resetTimeout: 600, rollingCountTimeout: 600, volumeThreshold: 1000, errorThresholdPercentage: 99 })
})

t.test('chaos.enabled is announced at start with a warning and in understudy_chaos_enabled', async (t) => {
  const chaos = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN, chaos: { enabled: true } } })
  t.teardown(() => chaos.close())
  const calm = await startStack({ issuer: chaos.issuer, upstream: chaos.upstream, provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN } })
  t.teardown(() => calm.close())
  const warning = (s: Stack) => s.logs.find((line) => line.includes('chaos is enabled'))
  t.match(JSON.parse(warning(chaos) ?? '{}'), { level: 40, chaos: true }, 'a warn line at start')
  t.equal(warning(calm), undefined, 'none without chaos')
  const gauge = async (s: Stack) => /^understudy_chaos_enabled (\d)$/m.exec(await (await fetch(`${s.adminUrl}/metrics`)).text())?.[1]
  t.equal(await gauge(chaos), '1')
  t.equal(await gauge(calm), '0')
})
