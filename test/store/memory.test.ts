import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { storeConformance } from './conformance.js'

storeConformance(t, 'memory', async () => new MemoryStore())

t.test('the memory store expires entries by its injected clock', async (t) => {
  let now = 1_000_000
  const store = new MemoryStore({ now: () => now })
  t.teardown(() => store.close())
  t.equal(await store.claimOnce('code', 10), true)
  await store.revoke('grant', 10)
  now += 9_999
  t.equal(await store.claimOnce('code', 10), false)
  t.equal(await store.isRevoked('grant'), true)
  now += 1
  t.equal(await store.claimOnce('code', 10), true)
  t.equal(await store.isRevoked('grant'), false)
})

t.test('records() gives every live entry back as a convergent write, with absolute expiry times', async (t) => {
  let now = 5_000_000
  const store = new MemoryStore({ now: () => now })
  t.teardown(() => store.close())
  await store.claimOnce('code:a', 10)
  await store.revoke('grant:b', 20)
  t.equal(await store.rotateFamily('family:c', 0, 30), 'rotated')
  await store.claimOnce('code:gone', 1)
  now += 1_000
  t.same([...store.records()], [
    { op: 'claim', key: 'code:a', expiresAt: 5_010_000 },
    { op: 'revoke', id: 'grant:b', expiresAt: 5_020_000 },
    { op: 'rotate', familyId: 'family:c', generation: 0, expiresAt: 5_030_000 },
  ], 'the expired claim is left out')
  now += 30_000
  t.equal(await store.rotateFamily('family:c', 0, 30), 'rotated', 'an expired family is forgotten, not a reuse')
})

t.test('with maxEntries, the oldest writes of a kind are forgotten first', async (t) => {
  const store = new MemoryStore({ maxEntries: 2 })
  t.teardown(() => store.close())
  for (const id of ['a', 'b', 'c']) await store.revoke(id, 60)
  await store.claimOnce('x', 60)
  t.same(await Promise.all(['a', 'b', 'c'].map((id) => store.isRevoked(id))), [false, true, true])
  t.equal(await store.claimOnce('x', 60), false, 'claims are bounded apart from tombstones')
})
