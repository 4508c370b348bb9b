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
