import t, { type Test } from 'tap'
import { OutageEventIds, type OutageChange } from '../../src/notify/event-id.js'
import { MemoryStore } from '../../src/store/memory.js'

const OPEN: OutageChange = { type: 'region.open', provider: 'kakao', region: 'primary' }
const CLOSED: OutageChange = { type: 'region.closed', provider: 'kakao', region: 'primary' }

/** The store the pods share (their region's Redis), closed with the test. */
function sharedStore (t: Test): MemoryStore {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  return store
}

t.test('a region that opens and closes at once on one pod gets two ids, in order, and another pod agrees on both', async (t) => {
  const store = sharedStore(t)
  const [a, b] = [new OutageEventIds(store), new OutageEventIds(store)]
  const [opened, closed] = await Promise.all([a.idOf(OPEN), a.idOf(CLOSED)])
  t.not(opened, closed)
  t.equal(await b.idOf(CLOSED), closed, 'the other pod, seeing the region closed, sends the same event')
  t.equal((await store.latest('outage-events:kakao/primary'))?.version, 2, 'opened, then closed')
})

t.test('a sighting the sequence already says is the current event; a contradicting one is the next', async (t) => {
  const store = sharedStore(t)
  const [a, b] = [new OutageEventIds(store), new OutageEventIds(store)]
  const first = await a.idOf(OPEN)
  t.equal(await b.idOf(OPEN), first)
  const recovered = await b.idOf(CLOSED)
  t.equal(await a.idOf(CLOSED), recovered)
  const second = await a.idOf(OPEN)
  t.equal(new Set([first, recovered, second]).size, 3, 'the next outage is another event')
  t.equal((await store.latest('outage-events:kakao/primary'))?.version, 3, 'opened, closed, opened: three changes')
})

t.test('a provider and each of its regions are numbered apart', async (t) => {
  const store = sharedStore(t)
  const ids = new OutageEventIds(store)
  const got = await Promise.all([ids.idOf(OPEN), ids.idOf({ ...OPEN, region: 'secondary' }), ids.idOf({ type: 'provider.degraded', provider: 'kakao' }), ids.idOf({ ...OPEN, provider: 'naver' })])
  t.equal(new Set(got).size, 4)
  t.equal((await store.latest('outage-events:kakao'))?.version, 1)
})

t.test('a sequence lost with its store never gives an old id again', async (t) => {
  const before = await new OutageEventIds(sharedStore(t)).idOf(OPEN)
  const after = await new OutageEventIds(sharedStore(t)).idOf(OPEN)
  t.not(after, before, 'a new sequence starts from a new random anchor')
})
