import t, { type Test } from 'tap'
import { ADMIN, admin, waitFor as until } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { authorizeUrl, startStack, startStackUpstream, freePort, type Stack } from '../helpers/stack.js'

const QUIET = { healthCheck: { interval: 3600 } }

const primaryTimeout = async (s: Stack) => {
  const breakers = (await admin(s, 'GET', '/admin/breakers')).body.breakers as Array<{ region: string, policy: { timeout: number }, policySource: { kind: string } }>
  return breakers.find((b) => b.region === 'primary')!
}

/** Two gateway instances sharing one real Redis, closed in `t`'s teardown; `start` makes more of them. */
async function sharingRedis (t: Test): Promise<{ redis: RedisServer, a: Stack, b: Stack, start: () => Promise<Stack> }> {
  const redis = await RedisServer.start(t)
  const store = { kind: 'redis', redis: { url: redis.url } }
  const start = async () => {
    const stack = await startStack({ provider: QUIET, config: { admin: ADMIN, store } })
    t.teardown(() => stack.close())
    return stack
  }
  return { redis, a: await start(), b: await start(), start }
}

t.test('a breaker policy patched on one instance reaches every instance sharing the store, survives restarts, and resets everywhere', { skip: noRedis }, async (t) => {
  const { a, b, start } = await sharingRedis(t)

  const patched = await admin(a, 'PATCH', '/admin/breakers/idp/primary', { timeout: '750ms' })
  t.match(patched, { status: 200, body: { shared: true } }, 'the answer says the change reached the shared store')
  await until(async () => (await primaryTimeout(b)).policy.timeout === 0.75, 'the override reaches instance B')
  t.equal((await primaryTimeout(b)).policySource.kind, 'override')

  const c = await start()
  await until(async () => (await primaryTimeout(c)).policy.timeout === 0.75, 'a new instance starts with the override')

  t.equal((await admin(b, 'DELETE', '/admin/breakers/idp/primary/policy')).status, 200)
  await until(async () => (await primaryTimeout(a)).policySource.kind === 'config', 'the reset reaches instance A')
  t.equal((await primaryTimeout(a)).policy.timeout, 2)
})

t.test('a policy patched while the store is down is answered shared: false, held by that instance, and reaches the others when the store returns', { skip: noRedis }, async (t) => {
  const { redis, a, b } = await sharingRedis(t)
  // The policy document as it stands before the outage, seen by both.
  t.equal((await admin(a, 'PATCH', '/admin/breakers/idp/secondary', { timeout: '1500ms' })).status, 200)
  await until(async () => ((await admin(b, 'GET', '/admin/breakers')).body.breakers as Array<{ region: string, policySource: { kind: string } }>).some((br) => br.region === 'secondary' && br.policySource.kind === 'override'), 'B has the first override')
  await redis.kill()
  const patched = await admin(a, 'PATCH', '/admin/breakers/idp/primary', { timeout: '750ms' })
  t.match(patched, { status: 200, body: { shared: false, policy: { timeout: 0.75 } } }, 'the answer says only this instance holds the change for now')
  t.equal((await primaryTimeout(a)).policy.timeout, 0.75, 'it applies here at once')
  await redis.restart()
  await until(async () => (await primaryTimeout(b)).policy.timeout === 0.75, 'the change reaches instance B once the store answers again')
})

t.test('a pod that starts during an upstream outage has the discovery document another pod shared', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const store = { kind: 'redis', redis: { url: redis.url } }
  const issuer = `http://127.0.0.1:${await freePort()}`
  const upstream = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const first = await startStack({ issuer, upstream, provider: QUIET, config: { store } })
  t.teardown(() => first.close())
  await until(async () => (await first.gateway.gateway.store.shared.get('upstream:idp:primary:discovery')) !== undefined, 'the discovery document is shared')

  await Promise.all(upstream.regions.map((r) => upstream.stopRegion(r.name)))
  // A new pod's first probes find the upstream down; an operator's close lets the next login try region 1 anyway.
  const tryLogin = async (s: Stack) => {
    await until(() => s.gateway.gateway.breakers.get('idp', 'primary')!.state === 'open', 'the first probe opens region 1')
    t.equal((await admin(s, 'POST', '/admin/breakers/idp/primary/close')).status, 200)
    return new Browser().fetch(authorizeUrl(s.gateway.url, 'shop'))
  }
  const late = await startStack({ issuer, upstream, provider: QUIET, config: { store, admin: ADMIN } })
  t.teardown(() => late.close())
  const answer = await tryLogin(late)
  t.equal(answer.status, 302)
  t.ok(answer.location!.startsWith(`${upstream.regions[0]!.url}/`), 'the new pod knows where to send a browser, though it never reached the upstream itself')

  const lonely = await startStack({ issuer, upstream, provider: QUIET, config: { admin: ADMIN } })
  t.teardown(() => lonely.close())
  const without = await tryLogin(lonely)
  t.equal(new URL(without.location!).searchParams.get('error'), 'temporarily_unavailable', 'without the shared copy it could not')
})

t.test('instances sharing a Redis tell the same incident timeline', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const store = { kind: 'redis', redis: { url: redis.url } }
  const a = await startStack({ provider: QUIET, config: { admin: ADMIN, store, region: 'kr-central' } })
  t.teardown(() => a.close())
  const b = await startStack({ provider: QUIET, config: { admin: ADMIN, store, region: 'kr-south' } })
  t.teardown(() => b.close())
  await admin(a, 'POST', '/admin/breakers/idp/primary/open')
  const seen = (await admin(b, 'GET', '/admin/incidents')).body.incidents
  t.equal(seen.length, 1, 'instance B sees the incident instance A recorded')
  t.equal(seen[0].status, 'ongoing')
  t.ok(seen[0].timeline.some((e: { instance: string, kind: string }) => e.instance === 'kr-central' && e.kind === 'breaker'))
})
