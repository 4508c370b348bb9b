import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { startFaultProxy } from '../../harness/fault-proxy.js'
import type { Logger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { FaultInjector } from '../../src/resilience/fault-injector.js'
import { createRedisStore } from '../../src/store/create.js'
import type { ResilientStore } from '../../src/store/resilient.js'
import { loadedConfig } from '../helpers/config.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { storeConformance } from './conformance.js'

/** A log that keeps its lines, to check what an outage reports. */
function captureLog (): Logger & { lines: Array<{ level: string, msg?: string }> } {
  const lines: Array<{ level: string, msg?: string }> = []
  const keep = (level: string) => (_obj: object, msg?: string) => { lines.push({ level, ...(msg === undefined ? {} : { msg }) }) }
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') }
}

interface Opened { store: ResilientStore, metrics: Metrics, log: ReturnType<typeof captureLog> }

/** The composite store of `store.kind: redis` on `url` with `peers`, closed in `t`'s teardown. */
async function open (t: Test, url: string, peers: string[] = [], extra: Record<string, unknown> & { revocationFailOpen?: string } = {}, faults?: FaultInjector): Promise<Opened> {
  const { revocationFailOpen, ...redis } = extra
  const metrics = new Metrics({ defaults: false })
  const log = captureLog()
  const store = await createRedisStore(loadedConfig({ store: { kind: 'redis', redis: { url, peers, commandTimeout: '300ms', peerTimeout: '300ms', ...redis }, ...(revocationFailOpen ? { revocationFailOpen } : {}) } }).store, { log, metrics, ...(faults ? { faults } : {}) })
  t.teardown(() => store.close())
  return { store, metrics, log }
}

async function counter (metric: { get (): Promise<{ values: Array<{ value: number, labels: object }> }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get()
  return values.filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, string>)[k] === l)).reduce((sum, v) => sum + v.value, 0)
}

const hasKey = async (redis: RedisServer, key: string) => (await redis.cli('exists', `understudy:${key}`)).trim() === '1'

t.test('the composite store (local Redis, in-process fallback, one peer)', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  storeConformance(t, 'redis + in-process + peer', async () => (await open(t, local.url, [peer.url])).store)
})

/**
 * Every Store method of the composite store, called once on fresh keys, with what it answered;
 * any rejection fails the test.
 */
async function everyMethod (t: Test, store: ResilientStore): Promise<void> {
  const [claimed, revoked, family, kept, doc, stream] = Array.from({ length: 6 }, () => randomUUID())
  t.equal(await store.claimOnce(claimed!, 60), true, 'claimOnce')
  t.equal(await store.claimOnce(claimed!, 60), false, 'claimOnce, again')
  await t.resolves(store.revoke(revoked!, 60), 'revoke')
  t.equal(await store.isRevoked(revoked!), true, 'isRevoked, revoked here')
  t.equal(await store.isRevoked(randomUUID()), false, 'isRevoked, unknown: fails open')
  t.equal(await store.anyRevoked([randomUUID(), revoked!]), true, 'anyRevoked, one revoked here')
  const once = randomUUID()
  t.equal(await store.revokeOnce(once, 60), true, 'revokeOnce')
  t.equal(await store.revokeOnce(once, 60), false, 'revokeOnce, again')
  t.equal(await store.isRevoked(once), true, 'revokeOnce leaves a tombstone')
  t.equal(await store.rotateFamily(family!, 0, 60), 'rotated', 'rotateFamily')
  t.equal(await store.rotateFamily(family!, 0, 60), 'reused', 'rotateFamily, a reuse')
  t.equal(await store.familyGeneration(family!), 1, 'familyGeneration')
  await t.resolves(store.keepLatest(kept!, 'sealed', 1, 60), 'keepLatest')
  t.same(await store.latest(kept!), { value: 'sealed', version: 1 }, 'latest')
  await t.resolves(store.shared.set(doc!, 'one', 60), 'shared.set')
  t.equal(await store.shared.get(doc!), 'one', 'shared.get')
  await t.resolves(store.shared.delete(doc!), 'shared.delete')
  await t.resolves(store.shared.append(stream!, 'event', 10), 'shared.append')
  t.same(await store.shared.tail(stream!, 10), ['event'], 'shared.tail')
}

t.test('every method answers from the in-process records while the local Redis fails each command', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const faults = new FaultInjector()
  const { store } = await open(t, local.url, [], {}, faults)
  t.match(faults.add({ target: { store: 'local' }, kind: 'error', duration: '1m' }), { ok: true })
  await everyMethod(t, store)
})

t.test('every method answers from the in-process records while the local Redis hangs', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  local.pause()
  t.teardown(() => local.resume())
  await everyMethod(t, store)
})

t.test('single-use guards fall back to the in-process guard while the local Redis is down, and are written back when it returns', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  const [before, during] = [randomUUID(), randomUUID()]
  t.equal(await store.claimOnce(before, 60), true)
  await local.kill()
  t.equal(await store.claimOnce(before, 60), false, 'a claim made before the outage still holds')
  t.equal(await store.claimOnce(during, 60), true)
  t.equal(await store.claimOnce(during, 60), false, 'the in-process guard holds during the outage')
  await local.restart()
  await until(async () => await hasKey(local, `once:{${before}}`) && await hasKey(local, `once:{${during}}`), 10_000, 'both claims are back in the restarted (empty) Redis')
  t.equal(await store.claimOnce(during, 60), false)
})

t.test('tombstones and rotations made while the local Redis is down survive its restart', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  const [before, during, family] = [randomUUID(), randomUUID(), randomUUID()]
  await store.revoke(before, 60)
  t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
  await local.kill()
  await t.resolves(store.revoke(during, 60), 'a revocation never fails for want of Redis')
  t.equal(await store.isRevoked(during), true)
  t.equal(await store.rotateFamily(family, 1, 60), 'rotated')
  t.equal(await store.rotateFamily(family, 1, 60), 'reused', 'reuse is caught in process during the outage')
  await local.restart()
  await until(async () => await hasKey(local, `revoked:{${before}}`) && await hasKey(local, `revoked:{${during}}`), 10_000, 'the tombstones are written back')
  t.equal((await local.cli('get', `understudy:family:{${family}}`)).trim(), '2', 'the family is written back at its latest generation')
  t.equal(await store.isRevoked(before), true, 'nothing revoked comes back to life')
  t.equal(await store.rotateFamily(family, 0, 60), 'reused')
})

t.test('a revocation in one region is seen in the other at once, and lands in its Redis', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const [a, b] = await Promise.all([open(t, redisA.url, [redisB.url]), open(t, redisB.url, [redisA.url])])
  const id = randomUUID()
  await a.store.revoke(id, 60)
  t.equal(await b.store.isRevoked(id), true)
  await until(() => hasKey(redisB, `revoked:{${id}}`), 2_000, 'the tombstone reaches region B\'s Redis')
  t.equal(await a.store.rotateFamily(id, 0, 60), 'rotated')
  await until(async () => (await redisB.cli('get', `understudy:family:{${id}}`)).trim() === '1', 2_000, 'the rotation reaches region B\'s Redis')
  t.equal(await b.store.rotateFamily(id, 0, 60), 'reused', 'the old refresh token is refused in region B')
})

t.test('an id used once in one region is refused in another that reads it as a peer, and a first use is never refused by its own tombstone', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  // Region A copies nothing to B: B can only learn of A's use by reading A's Redis.
  const [a, b] = await Promise.all([open(t, redisA.url), open(t, redisB.url, [redisA.url])])
  const id = `code:${randomUUID()}`
  t.equal(await a.store.revokeOnce(id, 60), true)
  t.equal(await b.store.revokeOnce(id, 60), false, 'the use in region A is read from its Redis')
  // Region B's tombstone goes to A after B has read A: sent first, it would come back as a use.
  const fresh = Array.from({ length: 10 }, () => `code:${randomUUID()}`)
  for (const code of fresh) t.equal(await b.store.revokeOnce(code, 60), true, 'a first use in region B')
  await until(async () => (await Promise.all(fresh.map((code) => hasKey(redisA, `revoked:{${code}}`)))).every(Boolean), 2_000, 'region B\'s tombstones reach region A\'s Redis')
  for (const code of fresh) t.equal(await a.store.revokeOnce(code, 60), false, 'and are uses there')
})

t.test('a revocation is in the peer\'s Redis when it is answered, even from a slow peer: a process killed right after takes no only copy with it', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const slow = await startFaultProxy({ target: { host: '127.0.0.1', port: peer.port } })
  t.teardown(() => slow.close())
  const { store } = await open(t, local.url, [`redis://${slow.address}`], { peerTimeout: '2s' })
  // Slower than a local write by far, well within the peer timeout.
  await slow.setFault({ kind: 'latency', ms: 400, direction: 'upstream' })
  const id = randomUUID()
  await store.revoke(id, 60)
  t.ok(await hasKey(peer, `revoked:{${id}}`), 'the tombstone had reached the peer when revoke() resolved')
  // A peer that does not answer in time gets the write queued, as any other: revoke() is not held longer.
  peer.pause()
  const late = randomUUID()
  await store.revoke(late, 60)
  peer.resume()
  await until(() => hasKey(peer, `revoked:{${late}}`), 10_000, 'the queued tombstone reaches the peer once it answers')
})

t.test('writes to a peer that is down are queued, bounded, and reach it within 15 s of its return', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const { store, metrics } = await open(t, local.url, [peer.url], { peerQueueLimit: 3 })
  await peer.kill()
  // Once the peer is known down (its breaker open), every write is queued; a write sent to the dying
  // connection instead could still be delivered when the client reconnects (ioredis resends it).
  const endpoint = `127.0.0.1:${peer.port}`
  await until(async () => (await store.health()).peers?.[endpoint] === 'unreachable', 5_000, 'the peer is known down')
  const ids = Array.from({ length: 5 }, () => randomUUID())
  for (const id of ids) await store.revoke(id, 60)
  t.equal(await counter(metrics.peerDropped, { peer: `127.0.0.1:${peer.port}` }), 2, 'the two oldest writes are dropped and counted')
  await peer.restart()
  const returned = Date.now()
  await until(async () => (await Promise.all(ids.slice(2).map((id) => hasKey(peer, `revoked:{${id}}`)))).every(Boolean), 15_000, 'the queued tombstones reach the peer')
  t.ok(Date.now() - returned < 15_000, `delivered ${Date.now() - returned} ms after the peer returned`)
  t.equal(await hasKey(peer, `revoked:{${ids[0]}}`), false, 'the dropped write is not delivered')
})

t.test('when no store answers, revocation checks fail open, counted, except for ids revoked through this process', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const { store, metrics, log } = await open(t, local.url, [peer.url], { revocationFailOpen: '300ms' })
  const revokedHere = randomUUID()
  await store.revoke(revokedHere, 60)
  await Promise.all([local.kill(), peer.kill()])
  t.equal(await store.isRevoked(randomUUID()), false)
  t.equal(await store.isRevoked(revokedHere), true, 'a tombstone written here is honoured throughout')
  t.equal(await counter(metrics.revocationFailOpen), 1)
  t.ok(await counter(metrics.storeErrors, { store: 'local' }) >= 1, 'local errors are counted')
  t.ok(await counter(metrics.storeErrors, { store: `peer:127.0.0.1:${peer.port}` }) >= 1, 'peer errors are counted')
  t.ok(log.lines.some((l) => l.level === 'warn' && l.msg?.includes('failing open')), 'the start of the outage is logged')
  const pastBound = () => log.lines.some((l) => l.level === 'error' && l.msg?.includes('longer than store.revocationFailOpen'))
  await until(async () => (await store.isRevoked(randomUUID())) === false && pastBound(), 5_000, 'checks go on past the bound')
  t.equal(await store.isRevoked(randomUUID()), false, 'past the bound, unknown ids are still not revoked: nobody is logged out')
  t.ok(pastBound(), 'passing the bound is logged as an error')
  await local.restart()
  await until(() => hasKey(local, `revoked:{${revokedHere}}`), 10_000, 'the local store is back and the tombstone written back')
  t.equal(await store.isRevoked(randomUUID()), false)
  t.ok(log.lines.some((l) => l.msg?.includes('answered by a store again')), 'the end of the outage is logged')
})

t.test('one slow command opens the local breaker, and a revocation made by another instance is still refused rather than failed open', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const other = await open(t, local.url)
  const { store, metrics } = await open(t, local.url, [peer.url])
  const revoked = randomUUID()
  await other.store.revoke(revoked, 60)
  await peer.kill()
  // One command outlives the 300 ms command timeout: the local breaker opens (first failure opens).
  local.pause()
  t.equal(await store.isRevoked(randomUUID()), false, 'a check during the hang fails open')
  local.resume()
  const failedOpen = await counter(metrics.revocationFailOpen)
  t.equal(await store.isRevoked(revoked), true, 'the revocation in the local Redis is found past the open breaker')
  t.equal(await store.isRevoked(randomUUID()), false, 'and an id nobody revoked is not revoked, answered by the local Redis')
  t.equal(await counter(metrics.revocationFailOpen), failedOpen, 'neither answer was a fail-open')
  // Still open now, so it was open for both checks (it closes only through its probe, after 1 s).
  t.match(await store.health(), { status: 'unreachable' }, 'the local breaker stayed open throughout')
  await local.kill()
  t.equal(await store.isRevoked(revoked), false, 'with the local Redis really down as well, the check fails open as designed')
  t.equal(await counter(metrics.revocationFailOpen), failedOpen + 1)
})

t.test('with the local Redis down, one slow peer command opens the peer\'s breaker, and a revocation the peer holds is still refused rather than failed open', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  // An instance of the other region, whose own Redis is this one's peer.
  const other = await open(t, peer.url)
  const { store, metrics } = await open(t, local.url, [peer.url])
  const revoked = randomUUID()
  await other.store.revoke(revoked, 60)
  await local.kill()
  // One peer read outlives the 300 ms peer timeout: the peer's breaker opens too.
  peer.pause()
  t.equal(await store.isRevoked(randomUUID()), false, 'a check while the peer hangs fails open')
  peer.resume()
  const failedOpen = await counter(metrics.revocationFailOpen)
  t.equal(await store.isRevoked(revoked), true, 'the revocation in the peer is found past its open breaker')
  t.equal(await store.isRevoked(randomUUID()), false, 'and an id nobody revoked is not revoked, answered by the peer')
  t.equal(await counter(metrics.revocationFailOpen), failedOpen, 'neither answer was a fail-open')
  t.match(await store.health(), { peers: { [`127.0.0.1:${peer.port}`]: 'unreachable' } }, 'the peer\'s breaker stayed open throughout')
})

t.test('a miss in the local Redis is read from a peer past the breaker one slow read opened: a revocation not yet delivered here is still refused', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  // An instance of the other region, whose own Redis is this one's peer: its tombstone is not in the local Redis.
  const other = await open(t, peer.url)
  const { store } = await open(t, local.url, [peer.url])
  const revoked = randomUUID()
  await other.store.revoke(revoked, 60)
  peer.pause()
  t.equal(await store.isRevoked(randomUUID()), false, 'a check while the peer hangs is answered by the local Redis')
  peer.resume()
  t.equal(await store.isRevoked(revoked), true, 'the revocation in the peer is found past its open breaker')
  t.match(await store.health(), { status: 'ok', peers: { [`127.0.0.1:${peer.port}`]: 'unreachable' } }, 'the peer\'s breaker stayed open throughout')
})

t.test('a document written or read while one slow command has opened the local breaker reaches the local Redis, as the other instances read it', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  const other = await open(t, local.url)
  await other.store.shared.set('written-elsewhere', 'theirs')
  // One command outlives the 300 ms command timeout: the local breaker opens (first failure opens).
  local.pause()
  t.equal(await store.isRevoked(randomUUID()), false, 'a check during the hang')
  local.resume()
  await store.shared.set('policies', 'ours')
  t.equal(await other.store.shared.get('policies'), 'ours', 'the document written past the open breaker is in the shared Redis')
  t.equal(await store.shared.get('written-elsewhere'), 'theirs', 'and a document another instance wrote is read past it')
  t.match(await store.health(), { status: 'unreachable' }, 'the local breaker stayed open throughout')
})

t.test('documents written, deleted and appended while the local Redis does not answer are this instance\'s until it returns, then written back for the others, except over a newer change', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  // This instance reaches Redis through a proxy that can cut it off alone; the other instance keeps writing to Redis.
  const proxy = await proxied(t, local)
  const { store, log } = await open(t, `redis://${proxy.address}`)
  const other = await open(t, local.url)
  await store.shared.set('policies', 'before')
  await store.shared.set('dropped', 'soon gone')
  await store.shared.set('contested', 'before')
  await proxy.setFault({ kind: 'blackhole' })
  try {
    // The first write opens the breaker and its try past it fails; the writes after it are held back.
    await store.shared.set('first', 'sent into the blackhole')
    await store.shared.set('policies', 'during')
    await store.shared.delete('dropped')
    await store.shared.append('incidents', 'an event during the outage', 100)
    await store.shared.set('contested', 'ours, during the outage')
    await other.store.shared.set('contested', 'theirs, during the outage')
    t.match(await store.health(), { status: 'unreachable' }, 'the local breaker is open')
  } finally {
    await proxy.clearFault()
  }
  t.equal(await store.shared.get('policies'), 'during', 'this instance reads the document it wrote, not the older copy Redis still has')
  t.equal(await store.shared.get('dropped'), undefined, 'nor a document it deleted')
  await until(async () => (await other.store.shared.tail('incidents', 10)).length > 0, 10_000, 'what was written during the outage reaches the others once Redis answers')
  t.equal(await other.store.shared.get('policies'), 'during', 'the document')
  t.equal(await other.store.shared.get('dropped'), undefined, 'the deletion')
  t.same(await other.store.shared.tail('incidents', 10), ['an event during the outage'], 'the stream entry')
  t.equal(await other.store.shared.get('contested'), 'theirs, during the outage', 'but not over a change made through another instance meanwhile')
  t.equal(await store.shared.get('contested'), 'theirs, during the outage', 'which this instance reads from then on')
  t.ok(log.lines.some((line) => line.level === 'warn' && line.msg?.startsWith('a document written here while the local store was down was changed through another instance')), 'the dropped write is logged')
  t.ok(log.lines.some((line) => line.msg?.startsWith('documents and stream entries written while the local store was down')), 'the write-back is logged')
  t.equal(await store.shared.get('policies'), 'during')
})

t.test('a document held while the local Redis was down is written back into a Redis that restarted empty, and a held write that ran late is no conflict', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store, log } = await open(t, local.url)
  const other = await open(t, local.url)
  await store.shared.set('policies', 'before')
  await local.kill()
  await store.shared.set('policies', 'during the outage')
  await local.restart()
  await until(async () => await other.store.shared.get('policies') === 'during the outage', 10_000, 'the held document reaches the restarted, empty Redis: it was the only copy left')
  // Hung, not dead: the write times out, is held, and runs when Redis resumes; the write-back finds it done.
  await store.shared.set('quota', 'before')
  local.pause()
  try {
    await store.shared.set('quota', 'during the hang')
  } finally {
    local.resume()
  }
  await until(async () => (await store.health()).status === 'ok', 10_000, 'the local breaker closes')
  await until(async () => await other.store.shared.get('quota') === 'during the hang', 10_000, 'the document is in Redis')
  t.notOk(log.lines.some((line) => line.msg?.startsWith('a document written here while the local store was down was changed')), 'neither write-back is taken for another instance\'s change')
})

/** One command of each of `stores` outlives the 300 ms command timeout: their local breakers open (first failure opens), on a Redis that answers again. */
async function slowCommandOpensBreakers (local: RedisServer, stores: ResilientStore[]): Promise<void> {
  local.pause()
  try {
    await Promise.all(stores.map((store) => store.isRevoked(randomUUID())))
  } finally {
    local.resume()
  }
}

t.test('two instances whose local breakers one slow command opened redeem the same code in their shared Redis past them: exactly one redemption wins', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const [a, b] = await Promise.all([open(t, local.url), open(t, local.url)])
  await slowCommandOpensBreakers(local, [a.store, b.store])
  const failedOpen = await Promise.all([counter(a.metrics.revocationFailOpen), counter(b.metrics.revocationFailOpen)])
  const codes = Array.from({ length: 8 }, () => `code:${randomUUID()}`)
  // Checked here, not after the redis-cli reads below: the breakers half-open about 1 s after opening, which a loaded machine's reads can outlast.
  t.same([await a.store.health(), await b.store.health()].map((h) => h.status), ['unreachable', 'unreachable'], 'both local breakers are open when the codes are redeemed')
  const answers = await Promise.all(codes.map((code) => Promise.all([a.store.revokeOnce(code, 60), b.store.revokeOnce(code, 60)])))
  for (const [i, [first, second]] of answers.entries()) t.equal(Number(first) + Number(second), 1, `code ${i}: one instance accepts it, the other refuses the replay (${first}, ${second})`)
  for (const code of codes) t.ok(await hasKey(local, `revoked:{${code}}`), 'the tombstone is in the shared Redis')
  t.same([await counter(a.metrics.revocationFailOpen), await counter(b.metrics.revocationFailOpen)], failedOpen, 'no redemption was a fail-open: the local Redis answered')
})

t.test('two instances whose local breakers one slow command opened claim the same upstream state in their shared Redis past them: exactly one claim wins', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const [a, b] = await Promise.all([open(t, local.url), open(t, local.url)])
  await slowCommandOpensBreakers(local, [a.store, b.store])
  const keys = Array.from({ length: 8 }, () => `state:${randomUUID()}`)
  t.same([await a.store.health(), await b.store.health()].map((h) => h.status), ['unreachable', 'unreachable'], 'both local breakers are open when the states are claimed')
  const answers = await Promise.all(keys.map((key) => Promise.all([a.store.claimOnce(key, 60), b.store.claimOnce(key, 60)])))
  for (const [i, [first, second]] of answers.entries()) t.equal(Number(first) + Number(second), 1, `state ${i}: one instance claims it, the other refuses the replayed callback (${first}, ${second})`)
})

t.test('two instances whose local breakers one slow command opened rotate the same refresh family in their shared Redis past them: one rotates, the other sees a reuse', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const [a, b] = await Promise.all([open(t, local.url), open(t, local.url)])
  const rotatedBefore = randomUUID()
  t.equal(await a.store.rotateFamily(rotatedBefore, 0, 60), 'rotated', 'a rotation made by one instance before the breakers opened')
  await slowCommandOpensBreakers(local, [a.store, b.store])
  t.same([await a.store.health(), await b.store.health()].map((h) => h.status), ['unreachable', 'unreachable'], 'both local breakers are open')
  t.equal(await b.store.rotateFamily(rotatedBefore, 0, 60), 'reused', 'is a reuse on the other, read past its open breaker')
  const families = Array.from({ length: 8 }, () => randomUUID())
  const answers = await Promise.all(families.map((family) => Promise.all([a.store.rotateFamily(family, 0, 60), b.store.rotateFamily(family, 0, 60)])))
  for (const [i, pair] of answers.entries()) t.same([...pair].sort(), ['reused', 'rotated'], `family ${i}: one instance rotates it, the other refuses the same refresh token (${pair.join(', ')})`)
  for (const family of families) t.equal((await local.cli('get', `understudy:family:{${family}}`)).trim(), '1', 'the rotation is in the shared Redis')
})

/** Two instances of one region with a peer: `a` reaches the local Redis, `b` has lost its connection to it (it decides in the peer and in process). */
async function splitRegion (t: Test): Promise<{ local: RedisServer, peer: RedisServer, a: ResilientStore, b: ResilientStore }> {
  const [local, peer, lost] = await Promise.all([RedisServer.start(t), RedisServer.start(t), RedisServer.start(t)])
  const [a, b] = await Promise.all([open(t, local.url, [peer.url]), open(t, lost.url, [peer.url])])
  await lost.kill()
  t.equal(await b.store.isRevoked(randomUUID()), false, 'the instance without its local Redis answers from the peer')
  return { local, peer, a: a.store, b: b.store }
}

/** As `splitRegion`, with `a`'s local breaker one slow command opened (it asks the local Redis once past it). */
async function oneRegionSplit (t: Test): Promise<{ local: RedisServer, peer: RedisServer, a: ResilientStore, b: ResilientStore }> {
  const split = await splitRegion(t)
  await slowCommandOpensBreakers(split.local, [split.a])
  return split
}

t.test('an instance deciding past its open local breaker and one deciding without the local Redis meet in the peer: a refresh token is rotated once', { skip: noRedis }, async (t) => {
  const { a, b } = await oneRegionSplit(t)
  const [first, then] = [Array.from({ length: 8 }, () => randomUUID()), Array.from({ length: 8 }, () => randomUUID())]
  t.same([(await a.health()).status, (await b.health()).status], ['unreachable', 'unreachable'], 'neither local breaker is closed')
  for (const family of first) {
    t.equal(await b.rotateFamily(family, 0, 60), 'rotated', 'rotated without the local Redis, in the peer')
    t.equal(await a.rotateFamily(family, 0, 60), 'reused', 'the same token past the open breaker is a reuse: the peer saw it')
  }
  for (const family of then) {
    t.equal(await a.rotateFamily(family, 0, 60), 'rotated', 'rotated past the open breaker')
    t.equal(await b.rotateFamily(family, 0, 60), 'reused', 'the same token without the local Redis is a reuse, not waiting for a queued write')
  }
})

t.test('an instance deciding past its open local breaker and one deciding without the local Redis meet in the peer: a code is redeemed once', { skip: noRedis }, async (t) => {
  const { a, b } = await oneRegionSplit(t)
  const codes = Array.from({ length: 8 }, () => `code:${randomUUID()}`)
  t.same([(await a.health()).status, (await b.health()).status], ['unreachable', 'unreachable'], 'neither local breaker is closed')
  const answers = await Promise.all(codes.map((code) => Promise.all([a.revokeOnce(code, 60), b.revokeOnce(code, 60)])))
  for (const [i, [first, second]] of answers.entries()) t.equal(Number(first) + Number(second), 1, `code ${i}: one instance accepts it, the other refuses the replay (${first}, ${second})`)
})

t.test('an instance with its local Redis and one without it meet in the peer, even past the peer\'s open breaker: a refresh token is rotated once', { skip: noRedis }, async (t) => {
  const { peer, a, b } = await splitRegion(t)
  t.match(await a.health(), { status: 'ok' }, 'the other\'s local breaker is closed')
  for (const family of Array.from({ length: 4 }, () => randomUUID())) {
    t.equal(await b.rotateFamily(family, 0, 60), 'rotated', 'rotated without the local Redis, in the peer')
    t.equal(await a.rotateFamily(family, 0, 60), 'reused', 'the same token through the closed local breaker is a reuse: the peer saw it')
  }
  // One slow peer read opens the peer's breaker of the instance without its Redis (first failure opens).
  peer.pause()
  t.equal(await b.isRevoked(randomUUID()), false, 'a check while the peer hangs')
  peer.resume()
  t.match(await b.health(), { peers: { [`127.0.0.1:${peer.port}`]: 'unreachable' } }, 'its peer breaker is open')
  for (const family of Array.from({ length: 4 }, () => randomUUID())) {
    t.equal(await b.rotateFamily(family, 0, 60), 'rotated', 'rotated in the peer, past its open breaker')
    t.equal(await a.rotateFamily(family, 0, 60), 'reused', 'and refused as a reuse by the instance with its local Redis')
  }
})

t.test('a failed revocation check past a peer\'s open breaker does not stop a code redemption from asking that peer: a code used in the other region is refused', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  // An instance of the other region, whose own Redis is this one's peer.
  const other = await open(t, peer.url)
  const { store } = await open(t, local.url, [peer.url])
  const code = `code:${randomUUID()}`
  peer.pause()
  try {
    // A check whose peer read times out opens the peer's breaker; the next check's try past it fails too.
    t.equal(await store.isRevoked(randomUUID()), false)
    t.equal(await store.isRevoked(randomUUID()), false)
  } finally {
    peer.resume()
  }
  t.equal(await other.store.revokeOnce(code, 60), true, 'the code is redeemed in the other region')
  t.match(await store.health(), { peers: { [`127.0.0.1:${peer.port}`]: 'unreachable' } }, 'the peer\'s breaker is still open')
  t.equal(await store.revokeOnce(code, 60), false, 'its replay here is refused: the redemption asked the peer past its breaker')
})

t.test('a peer that is this region\'s own Redis under another address (the same run_id) is left out of single-use decisions: first uses are not refused', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const alias = await proxied(t, local)
  const { store, log } = await open(t, local.url, [`redis://${alias.address}`])
  t.equal(await store.revokeOnce(`code:${randomUUID()}`, 60), true, 'a code\'s first use is accepted')
  t.equal(await store.rotateFamily(randomUUID(), 0, 60), 'rotated', 'a refresh token\'s first use rotates')
  t.ok(log.lines.some((line) => line.level === 'error' && line.msg?.startsWith('a peer is the same Redis server as this region\'s own')), 'an error says why')
  const code = `code:${randomUUID()}`
  t.equal(await store.revokeOnce(code, 60), true)
  t.equal(await store.revokeOnce(code, 60), false, 'and a replay is still refused')
})

/** A fault proxy in front of `redis`, closed in `t`'s teardown. */
async function proxied (t: Test, redis: RedisServer): Promise<Awaited<ReturnType<typeof startFaultProxy>>> {
  const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: redis.port } })
  t.teardown(() => proxy.close())
  return proxy
}

t.test('a single-use decision whose reply a dropped connection lost is not sent again: a first use is never refused as its own replay', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const proxy = await proxied(t, local)
  // A command timeout long enough for a resend on the new connection to be answered in time, were it made.
  const { store } = await open(t, `redis://${proxy.address}`, [], { commandTimeout: '3s' })
  const [code, family] = [`code:${randomUUID()}`, randomUUID()]
  await proxy.setFault({ kind: 'latency', ms: 1_000, direction: 'downstream' })
  const answers = Promise.all([store.revokeOnce(code, 60), store.rotateFamily(family, 0, 60)])
  await until(async () => await hasKey(local, `revoked:{${code}}`) && await hasKey(local, `family:{${family}}`), 2_000, 'both ran in Redis; their replies are held back')
  await proxy.setFault({ kind: 'reset' })
  await proxy.clearFault()
  t.same(await answers, [true, 'rotated'], 'the code\'s first use is accepted, the first rotation rotates (answered in process: the reply was lost)')
  t.equal(await store.revokeOnce(code, 60), false, 'and a replay is still refused')
})

t.test('past an open local breaker, a local Redis that does not know a rotation (restarted empty, not yet reached) does not make a used refresh token current again: the peer\'s answer counts', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  // An instance of the other region, whose own Redis is this one's peer, rotated the family: this region's Redis has nothing of it.
  const other = await open(t, peer.url)
  const { store } = await open(t, local.url, [peer.url])
  const family = randomUUID()
  t.equal(await other.store.rotateFamily(family, 0, 60), 'rotated', 'rotated in the other region')
  await slowCommandOpensBreakers(local, [store])
  t.match(await store.health(), { status: 'unreachable' }, 'the local breaker is open')
  t.equal(await store.rotateFamily(family, 0, 60), 'reused', 'the used token is a reuse, answered by the peer beside the local Redis that knew nothing')
})

t.test('with the local Redis hung or down, a code redemption and a rotation still answer from the process: nobody is logged out, and a replay on this instance is refused', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  local.pause()
  t.teardown(() => local.resume())
  t.equal(await store.isRevoked(randomUUID()), false, 'the check that opens the breaker (its command timed out) fails open')
  const [code, family] = [`code:${randomUUID()}`, randomUUID()]
  t.equal(await store.revokeOnce(code, 60), true, 'a first redemption tries past the open breaker, in vain, and is accepted in process')
  t.equal(await store.rotateFamily(family, 0, 60), 'rotated', 'a rotation is decided in process')
  t.equal(await store.revokeOnce(code, 60), false, 'a replay on this instance is refused')
  t.equal(await store.rotateFamily(family, 0, 60), 'reused', 'and so is a reused refresh token')
  await local.kill()
  // Past the reset timeout after the failed try: a try would be made again, but the connection is down.
  await new Promise((resolve) => setTimeout(resolve, 1_100))
  const [other, otherFamily] = [`code:${randomUUID()}`, randomUUID()]
  t.equal(await store.revokeOnce(other, 60), true, 'with Redis down, a redemption is accepted in process')
  t.equal(await store.revokeOnce(other, 60), false, 'and its replay refused')
  t.equal(await store.rotateFamily(otherFamily, 0, 60), 'rotated')
  t.equal(await store.rotateFamily(otherFamily, 0, 60), 'reused')
})

t.test('a local Redis that really hangs costs one try past its open breaker, then is skipped again for the reset timeout', { skip: noRedis }, async (t) => {
  const local = await RedisServer.start(t)
  const { store } = await open(t, local.url)
  local.pause()
  t.teardown(() => local.resume())
  t.equal(await store.isRevoked(randomUUID()), false, 'the check that opens the breaker (its command timed out) fails open')
  let started = Date.now()
  t.equal(await store.isRevoked(randomUUID()), false, 'the next one tries past the open breaker, waits for the command timeout, and fails open')
  const tried = Date.now() - started
  started = Date.now()
  t.equal(await store.isRevoked(randomUUID()), false)
  const skipped = Date.now() - started
  t.ok(skipped < tried / 2, `after a failed try, checks fail open without one (${skipped} ms, against ${tried} ms for the try)`)
})

t.test('a hung peer costs a revocation check at most the peer timeout; the next check tries it once past its open breaker; then it is skipped', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const { store } = await open(t, local.url, [peer.url], { peerTimeout: '1s' })
  peer.pause()
  t.teardown(() => peer.resume())
  let started = Date.now()
  t.equal(await store.isRevoked(randomUUID()), false)
  const first = Date.now() - started
  t.ok(first < 1_000 + 1_000, `the first check waited ${first} ms: its read timed out and opened the breaker`)
  started = Date.now()
  t.equal(await store.isRevoked(randomUUID()), false)
  const second = Date.now() - started
  t.ok(second >= 900, `the next one tried the peer past its open breaker, for its timeout (${second} ms)`)
  started = Date.now()
  for (let i = 0; i < 10; i++) await store.isRevoked(randomUUID())
  const ten = Date.now() - started
  t.ok(ten < second / 2, `ten more checks took ${ten} ms together: after the failed try the peer is skipped for the reset timeout`)
  t.match(await store.health(), { status: 'ok', peers: { [`127.0.0.1:${peer.port}`]: 'unreachable' } })
})

t.test('while the local Redis is down, a reused refresh token is caught by a peer', { skip: noRedis }, async (t) => {
  const [localA, localB, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t), RedisServer.start(t)])
  const a = await open(t, localA.url, [peer.url])
  const family = randomUUID()
  t.equal(await a.store.rotateFamily(family, 0, 60), 'rotated')
  await until(() => hasKey(peer, `family:{${family}}`), 2_000, 'the rotation reaches the peer')
  await localB.kill()
  const b = await open(t, localB.url, [peer.url])
  t.equal(await b.store.rotateFamily(family, 0, 60), 'reused', 'another instance without its Redis still refuses the old token')
  t.equal(await b.store.rotateFamily(family, 1, 60), 'rotated', 'and accepts the current one')
})

t.test('health reports the local store and each peer, ok or unreachable', { skip: noRedis }, async (t) => {
  const [local, peer] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const { store } = await open(t, local.url, [peer.url])
  const peerName = `127.0.0.1:${peer.port}`
  t.same(await store.health(), { status: 'ok', peers: { [peerName]: 'ok' } })
  await Promise.all([local.kill(), peer.kill()])
  await until(async () => (await store.health()).status === 'unreachable', 3_000, 'the local store is reported unreachable')
  t.same(await store.health(), { status: 'unreachable', peers: { [peerName]: 'unreachable' } })
  await peer.restart()
  await until(async () => (await store.health()).peers?.[peerName] === 'ok', 10_000, 'the peer is reported ok again')
})

t.test('a latest value reaches the other region, is read from a peer while the local Redis is down, and is written back when it returns', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const [a, b] = await Promise.all([open(t, redisA.url, [redisB.url]), open(t, redisB.url, [redisA.url])])
  const key = randomUUID()
  await a.store.keepLatest(key, 'sealed.one', 10, 60)
  await until(async () => (await redisB.cli('get', `understudy:latest:{${key}}`)).trim() === '10.sealed.one', 2_000, 'the value reaches region B\'s Redis')
  t.same(await b.store.latest(key), { value: 'sealed.one', version: 10 })
  await redisB.kill()
  t.same(await b.store.latest(key), { value: 'sealed.one', version: 10 }, 'without its Redis, region B reads the peer')
  await b.store.keepLatest(key, 'sealed.two', 11, 60)
  t.same(await b.store.latest(key), { value: 'sealed.two', version: 11 }, 'a value written during the outage is held in process')
  await b.store.keepLatest(key, 'sealed.stale', 9, 60)
  t.same(await b.store.latest(key), { value: 'sealed.two', version: 11 }, 'and an earlier version does not replace it')
  await until(async () => (await a.store.latest(key))?.version === 11, 2_000, 'region A gets the later value')
  await redisB.restart()
  await until(async () => (await redisB.cli('get', `understudy:latest:{${key}}`)).trim() === '11.sealed.two', 10_000, 'the restarted Redis gets the later value back')
})
