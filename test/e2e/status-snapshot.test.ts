import t from 'tap'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { noRedis, RedisServer } from '../helpers/redis.js'
import { startStack } from '../helpers/stack.js'

/** How often Redis has run `command` (INFO commandstats). */
async function calls (redis: RedisServer, command: string): Promise<number> {
  const line = (await redis.cli('info', 'commandstats')).split('\n').find((l) => l.startsWith(`cmdstat_${command}:`))
  return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0)
}

t.test('a flood of public status and health requests costs Redis one ping and one incident read a second; the answers name no host', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const peer = await RedisServer.start(t)
  const s = await startStack({ provider: { healthCheck: { interval: 3600 } }, config: { admin: ADMIN, store: { kind: 'redis', redis: { url: redis.url, peers: [peer.url] } } } })
  t.teardown(() => s.close())
  await waitFor(async () => (await admin(s, 'GET', '/admin/health')).body.store?.status === 'ok', 'the gateway reaches its Redis')

  const before = { pings: await calls(redis, 'ping'), peerPings: await calls(peer, 'ping'), reads: await calls(redis, 'lrange') }
  const started = Date.now()
  const paths = ['/healthz', '/status.json', '/status']
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => fetch(`${s.issuer}${paths[i % 3]}`).then(async (r) => ({ status: r.status, text: await r.text() }))))
  const seconds = Math.ceil((Date.now() - started) / 1000)
  const after = { pings: await calls(redis, 'ping'), peerPings: await calls(peer, 'ping'), reads: await calls(redis, 'lrange') }
  t.ok(answers.every((a) => a.status === 200), 'every request answered')
  // One build per second of the flood, plus one for a second boundary crossed; a store blip's background probe may add a few.
  const bound = 2 * seconds + 2
  t.ok(after.pings - before.pings <= bound, `${after.pings - before.pings} pings of this Redis for 300 health and status requests over ${seconds} s`)
  t.ok(after.peerPings - before.peerPings <= bound, `${after.peerPings - before.peerPings} pings of the peer`)
  t.ok(after.reads - before.reads <= bound, `${after.reads - before.reads} incident-log reads for 200 status requests (and 100 health)`)

  // The issuer is public; the stores behind it are not.
  const named = answers.filter((a) => a.text.includes(`:${redis.port}`) || a.text.includes(`:${peer.port}`))
  t.same(named, [], 'no public answer names a Redis')
  const healthz = JSON.parse(answers[0]!.text)
  t.match(healthz, { status: 'ok', providers: { idp: { status: 'ok' } }, store: { kind: 'redis', status: 'ok', peers: { peer1: 'ok' } } }, 'the contract shape, peers by number')

  t.equal((await fetch(`${s.adminUrl}/admin/health`)).status, 401, 'the detail needs the admin token')
  const detail = await admin(s, 'GET', '/admin/health')
  t.match(detail.body, { store: { peers: { [`127.0.0.1:${peer.port}`]: 'ok' } }, providers: { idp: { regions: { primary: { state: 'closed' } } } } }, 'the admin port names the peers')
})
