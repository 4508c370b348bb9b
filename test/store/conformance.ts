import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { until } from '../../harness/poll.js'
import type { Store } from '../../src/store/store.js'

/** How long a 1 s TTL may take to run out on any store: the expiry is polled for, never slept through. */
const EXPIRY_MS = 5_000

/**
 * The behaviour every Store implementation shares (dex's storage/conformance
 * in spirit). Each behaviour gets a fresh store and its own keys, so the suite
 * also runs against a store that other tests (or other runs) share.
 */
export function storeConformance (t: Test, name: string, makeStore: () => Promise<Store>): void {
  const open = async (t: Test) => {
    const store = await makeStore()
    t.teardown(() => store.close())
    return { store, key: (label: string) => `conformance:${randomUUID()}:${label}` }
  }

  // The behaviours run side by side (each has its own store and keys): the six TTL checks wait about a second each.
  t.test(`${name} store conformance`, { jobs: 8 }, async (t) => {
    t.test('claimOnce answers true the first time and false after', async (t) => {
      const { store, key } = await open(t)
      const k = key('code')
      t.equal(await store.claimOnce(k, 60), true)
      t.equal(await store.claimOnce(k, 60), false)
      t.equal(await store.claimOnce(k, 60), false)
    })

    t.test('claims on different keys are independent', async (t) => {
      const { store, key } = await open(t)
      const [a, b] = [key('a'), key('b')]
      t.equal(await store.claimOnce(a, 60), true)
      t.equal(await store.claimOnce(b, 60), true)
      t.equal(await store.claimOnce(a, 60), false)
      t.equal(await store.claimOnce(b, 60), false)
    })

    t.test('a claim can be made again once its TTL has passed', async (t) => {
      const { store, key } = await open(t)
      const k = key('short')
      t.equal(await store.claimOnce(k, 1), true)
      t.equal(await store.claimOnce(k, 1), false)
      await until(() => store.claimOnce(k, 1), EXPIRY_MS, 'the claim can be made again')
      t.equal(await store.claimOnce(k, 1), false, 'and, made again, it holds')
    })

    t.test('of 20 concurrent claims of one key exactly one wins', async (t) => {
      const { store, key } = await open(t)
      const k = key('race')
      const results = await Promise.all(Array.from({ length: 20 }, () => store.claimOnce(k, 60)))
      t.equal(results.filter(Boolean).length, 1)
    })

    t.test('a revoked id is revoked and other ids are not', async (t) => {
      const { store, key } = await open(t)
      const [revoked, other] = [key('grant'), key('other')]
      t.equal(await store.isRevoked(revoked), false)
      await store.revoke(revoked, 60)
      t.equal(await store.isRevoked(revoked), true)
      t.equal(await store.isRevoked(other), false)
    })

    t.test('a revocation tombstone disappears after its TTL', async (t) => {
      const { store, key } = await open(t)
      const id = key('tombstone')
      await store.revoke(id, 1)
      t.equal(await store.isRevoked(id), true)
      await until(async () => !(await store.isRevoked(id)), EXPIRY_MS, 'the tombstone is gone')
      t.equal(await store.isRevoked(id), false)
    })

    t.test('claims and revocations of the same id do not collide', async (t) => {
      const { store, key } = await open(t)
      const id = key('shared')
      t.equal(await store.claimOnce(id, 60), true)
      t.equal(await store.isRevoked(id), false)
      await store.revoke(id, 60)
      t.equal(await store.isRevoked(id), true, 'the revocation holds')
      t.equal(await store.claimOnce(id, 60), false, 'the claim made before it still holds')
      t.equal(await store.rotateFamily(id, 0, 60), 'rotated', 'neither is a refresh family')
      const revokedFirst = key('revoked-first')
      await store.revoke(revokedFirst, 60)
      t.equal(await store.claimOnce(revokedFirst, 60), true, 'a revocation is not a claim')
    })

    t.test('anyRevoked answers for several ids in one call: true when any is revoked', async (t) => {
      const { store, key } = await open(t)
      const [sid, gid, mid] = [key('sid'), key('gid'), key('mid')]
      t.equal(await store.anyRevoked([]), false, 'no ids: nothing is revoked')
      t.equal(await store.anyRevoked([sid, gid, mid]), false)
      await store.revoke(gid, 60)
      t.equal(await store.anyRevoked([sid, gid, mid]), true)
      t.equal(await store.anyRevoked([gid]), true)
      t.equal(await store.anyRevoked([sid, mid]), false, 'the others are not')
      t.equal(await store.anyRevoked([sid, sid]), false, 'an id asked twice is not revoked twice')
      await store.revoke(mid, 60, 'session')
      t.equal(await store.anyRevoked([sid, mid]), true, 'a session tombstone counts')
    })

    t.test('revokeOnce tombstones an id the first time only, and an id revoked before is used', async (t) => {
      const { store, key } = await open(t)
      const code = key('code')
      t.equal(await store.revokeOnce(code, 60), true)
      t.equal(await store.isRevoked(code), true, 'it leaves a tombstone')
      t.equal(await store.revokeOnce(code, 60), false)
      t.equal(await store.revokeOnce(code, 60), false)
      const revoked = key('revoked')
      await store.revoke(revoked, 60)
      t.equal(await store.revokeOnce(revoked, 60), false, 'a tombstone written by revoke counts as a use')
      const claimed = key('claimed')
      t.equal(await store.claimOnce(claimed, 60), true)
      t.equal(await store.revokeOnce(claimed, 60), false, 'an id claimed before (how versions before revokeOnce guarded a code) counts as a use')
      t.equal(await store.isRevoked(claimed), false, 'a claim is not a tombstone')
      t.equal(await store.claimOnce(claimed, 60), false, 'and the claim still holds')
    })

    t.test('of 20 concurrent revokeOnce calls for one id exactly one wins', async (t) => {
      const { store, key } = await open(t)
      const id = key('race')
      const results = await Promise.all(Array.from({ length: 20 }, () => store.revokeOnce(id, 60)))
      t.equal(results.filter(Boolean).length, 1)
    })

    t.test('a revokeOnce tombstone disappears after its TTL', async (t) => {
      const { store, key } = await open(t)
      const id = key('once-ttl')
      t.equal(await store.revokeOnce(id, 1), true)
      await until(async () => !(await store.isRevoked(id)), EXPIRY_MS, 'the tombstone is gone')
      t.equal(await store.isRevoked(id), false)
    })

    t.test('a family unknown to the store rotates from any generation', async (t) => {
      const { store, key } = await open(t)
      t.equal(await store.rotateFamily(key('fresh'), 0, 60), 'rotated')
      t.equal(await store.rotateFamily(key('after-restart'), 7, 60), 'rotated')
    })

    t.test('the current generation rotates, generation after generation', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      for (let generation = 0; generation < 5; generation++) {
        t.equal(await store.rotateFamily(family, generation, 60), 'rotated', `generation ${generation}`)
      }
    })

    t.test('a stale generation is reported as reused', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
      t.equal(await store.rotateFamily(family, 1, 60), 'rotated')
      t.equal(await store.rotateFamily(family, 0, 60), 'reused')
      t.equal(await store.rotateFamily(family, 1, 60), 'reused')
    })

    t.test('a family that lags behind a generation catches up instead of reporting a reuse', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
      t.equal(await store.rotateFamily(family, 5, 60), 'rotated', 'rotations this store missed (a restart) are not a reuse')
      t.equal(await store.rotateFamily(family, 4, 60), 'reused')
    })

    t.test('of concurrent rotations of one generation exactly one wins', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      t.equal(await store.rotateFamily(family, 0, 60), 'rotated')
      const results = await Promise.all(Array.from({ length: 20 }, () => store.rotateFamily(family, 1, 60)))
      t.equal(results.filter((r) => r === 'rotated').length, 1)
      t.equal(results.filter((r) => r === 'reused').length, 19)
    })

    t.test('a family is forgotten after its TTL', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      t.equal(await store.rotateFamily(family, 0, 1), 'rotated')
      await until(async () => (await store.familyGeneration(family)) === undefined, EXPIRY_MS, 'the family is forgotten')
      t.equal(await store.familyGeneration(family), undefined, 'no generation once forgotten')
      t.equal(await store.rotateFamily(family, 0, 1), 'rotated')
    })

    t.test('a family\'s current generation is the one its next rotation expects', async (t) => {
      const { store, key } = await open(t)
      const family = key('family')
      t.equal(await store.familyGeneration(family), undefined, 'unknown before the first rotation')
      await store.rotateFamily(family, 0, 60)
      t.equal(await store.familyGeneration(family), 1)
      await store.rotateFamily(family, 1, 60)
      t.equal(await store.familyGeneration(family), 2)
      await store.rotateFamily(family, 0, 60)
      t.equal(await store.familyGeneration(family), 2, 'a reuse does not move it')
    })

    t.test('a latest value is kept, and only a later version replaces it', async (t) => {
      const { store, key } = await open(t)
      const k = key('latest')
      t.equal(await store.latest(k), undefined, 'nothing before the first write')
      await store.keepLatest(k, 'sealed.token.one', 100, 60)
      t.same(await store.latest(k), { value: 'sealed.token.one', version: 100 })
      await store.keepLatest(k, 'sealed.token.two', 101, 60)
      t.same(await store.latest(k), { value: 'sealed.token.two', version: 101 })
      await store.keepLatest(k, 'sealed.token.older', 99, 60)
      t.same(await store.latest(k), { value: 'sealed.token.two', version: 101 }, 'an earlier version arriving late changes nothing')
      t.equal(await store.latest(key('other')), undefined)
    })

    t.test('of two values with the same version the greater stays, in either order', async (t) => {
      const { store, key } = await open(t)
      const [a, b] = [key('tie-a'), key('tie-b')]
      await store.keepLatest(a, 'x', 7, 60)
      await store.keepLatest(a, 'y', 7, 60)
      await store.keepLatest(b, 'y', 7, 60)
      await store.keepLatest(b, 'x', 7, 60)
      t.same([await store.latest(a), await store.latest(b)], [{ value: 'y', version: 7 }, { value: 'y', version: 7 }])
    })

    t.test('a latest value disappears after its TTL', async (t) => {
      const { store, key } = await open(t)
      const k = key('latest-ttl')
      await store.keepLatest(k, 'v', 1, 1)
      t.same(await store.latest(k), { value: 'v', version: 1 })
      await until(async () => (await store.latest(k)) === undefined, EXPIRY_MS, 'the latest value is gone')
      t.equal(await store.latest(k), undefined)
      await store.keepLatest(k, 'w', 0, 60)
      t.same(await store.latest(k), { value: 'w', version: 0 }, 'an expired value holds back no version')
    })

    t.test('ping resolves while the store is reachable', async (t) => {
      const { store } = await open(t)
      await t.resolves(store.ping())
    })

    t.test('shared documents are set, read, replaced and deleted', async (t) => {
      const { store, key } = await open(t)
      const k = key('doc')
      t.equal(await store.shared.get(k), undefined)
      await store.shared.set(k, '{"a":1}')
      t.equal(await store.shared.get(k), '{"a":1}')
      await store.shared.set(k, '{"a":2}')
      t.equal(await store.shared.get(k), '{"a":2}')
      await store.shared.delete(k)
      t.equal(await store.shared.get(k), undefined)
    })

    t.test('a shared document with a TTL disappears after it', async (t) => {
      const { store, key } = await open(t)
      const k = key('doc-ttl')
      await store.shared.set(k, 'x', 1)
      t.equal(await store.shared.get(k), 'x')
      await until(async () => (await store.shared.get(k)) === undefined, EXPIRY_MS, 'the document is gone')
      t.equal(await store.shared.get(k), undefined)
    })

    t.test('a stream keeps its last entries in order, up to its cap', async (t) => {
      const { store, key } = await open(t)
      const k = key('stream')
      t.same(await store.shared.tail(k, 10), [])
      for (let i = 1; i <= 7; i++) await store.shared.append(k, `e${i}`, 5)
      t.same(await store.shared.tail(k, 10), ['e3', 'e4', 'e5', 'e6', 'e7'])
      t.same(await store.shared.tail(k, 2), ['e6', 'e7'])
    })

    t.test('close resolves', async (t) => {
      const store = await makeStore()
      await t.resolves(store.close())
    })
  })
}
