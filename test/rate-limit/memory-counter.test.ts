import t from 'tap'
import { MemoryCounter } from '../../src/rate-limit/counter.js'

t.test('counts hits per key within a fixed window, then starts a new one', async (t) => {
  let now = 1_000_000
  const counter = new MemoryCounter({ now: () => now })
  const first = await counter.incr('a', 200)
  t.equal(first.current, 1)
  t.equal(first.ttlMs, 200, 'the window is ahead')
  t.equal((await counter.incr('a', 200)).current, 2)
  t.equal((await counter.incr('b', 200)).current, 1, 'keys count apart')
  now += 199
  t.same(await counter.incr('a', 200), { current: 3, ttlMs: 1 }, 'the last millisecond of the window')
  now += 1
  t.equal((await counter.incr('a', 200)).current, 1, 'a new window after the old one ended')
})

t.test('beyond maxKeys the window that started longest ago is forgotten, however often it was hit', async (t) => {
  const counter = new MemoryCounter({ maxKeys: 2 })
  await counter.incr('old', 60_000)
  await counter.incr('newer', 60_000)
  await counter.incr('old', 60_000)
  await counter.incr('newest', 60_000)
  t.equal((await counter.incr('newer', 60_000)).current, 2, 'the newer window is kept')
  t.equal((await counter.incr('old', 60_000)).current, 1, 'the oldest window was evicted and starts again')
})

t.test('peek reads the count of the current window without counting, and opens none', async (t) => {
  let now = 1_000_000
  const counter = new MemoryCounter({ now: () => now })
  t.same(await counter.peek('a'), { current: 0, ttlMs: 0 }, 'no window yet')
  t.same(await counter.peek('a'), { current: 0, ttlMs: 0 }, 'peeking opened none')
  await counter.incr('a', 1_000)
  await counter.incr('a', 1_000)
  now += 400
  t.same(await counter.peek('a'), { current: 2, ttlMs: 600 })
  t.same(await counter.peek('a'), { current: 2, ttlMs: 600 }, 'peeking counted nothing')
  now += 600
  t.same(await counter.peek('a'), { current: 0, ttlMs: 0 }, 'the window has ended')
  t.equal((await counter.incr('a', 1_000)).current, 1, 'the next hit opens a new one')
})
