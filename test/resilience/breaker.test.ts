import t, { type Test } from 'tap'
import { UnderstudyError, isUnderstudyError } from '../../src/errors.js'
import { Metrics } from '../../src/observability/metrics.js'
import { DEFAULT_CAPACITY, RegionBreaker, type BreakerTransition } from '../../src/resilience/breaker.js'
import { classifyUpstreamFailure } from '../../src/upstream/failure.js'

const policy = { timeout: 0.05, errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeout: 60, rollingCountTimeout: 10 }

function breaker (t: Test, transitions: BreakerTransition[] = []): RegionBreaker {
  const b = new RegionBreaker('idp', 'primary', policy, { metrics: new Metrics({ defaults: false }), onTransition: (tr) => transitions.push(tr) })
  t.teardown(() => b.shutdown())
  return b
}

t.test('a region call that outlives the breaker timeout is a timeout, and counts against the region', async (t) => {
  const transitions: BreakerTransition[] = []
  const b = breaker(t, transitions)
  let aborted: Promise<unknown> | undefined
  await t.rejects(b.call('token', (signal) => new Promise((_resolve, reject) => {
    aborted = new Promise((resolve) => signal.addEventListener('abort', () => { resolve(true); reject(signal.reason) }))
  })), { code: 'US_ERR_UPSTREAM_TIMEOUT' })
  t.equal(await aborted, true, 'the request was cancelled through its signal')
  t.equal(b.state, 'open')
  t.match(transitions, [{ provider: 'idp', region: 'primary', from: 'closed', to: 'open', reason: 'failures over the threshold' }])
  await t.rejects(b.call('token', async () => 'never'), { code: 'US_ERR_UPSTREAM_UNAVAILABLE', details: { breaker: 'open' } })
})

t.test('a fatal upstream answer passes through unchanged and leaves the region closed', async (t) => {
  const b = breaker(t)
  const refused = new UnderstudyError('US_ERR_UPSTREAM_HTTP', 'upstream said 400', { details: { status: 400 } })
  await t.rejects(b.call('token', async () => { throw refused }), refused)
  t.equal(b.state, 'closed')
  await t.rejects(b.call('token', async () => { throw new UnderstudyError('US_ERR_UPSTREAM_HTTP', 'upstream said 503', { details: { status: 503 } }) }), { code: 'US_ERR_UPSTREAM_HTTP' })
  t.same([b.stats().successes, b.stats().failures], [1, 1], 'the refusal counts as an answer, the 503 as a failure')
})

t.test('a live policy change keeps an open region open, and a pinned region refuses until released', async (t) => {
  const b = breaker(t)
  b.probeFailed()
  t.equal(b.state, 'open')
  const old = b.setPolicy({ ...policy, timeout: 0.1 }, { kind: 'override', since: 'now' })
  t.equal(old.timeout, 0.05)
  t.equal(b.state, 'open', 'still open under the new policy')
  t.same(b.policySource, { kind: 'override', since: 'now' })
  b.release()
  t.equal(b.state, 'closed')
  b.pinOpen()
  t.ok(b.pinnedOpen)
  await t.rejects(b.call('probe', async () => 'up'), { code: 'US_ERR_UPSTREAM_UNAVAILABLE' })
  b.release()
  t.equal(await b.call('probe', async () => 'up'), 'up')
})

t.test('a code exchange beyond the region\'s capacity is refused at once as busy: not counted, the breaker stays closed, and other calls still go through', async (t) => {
  const transitions: BreakerTransition[] = []
  // A timeout no held call reaches: only the refusals could count against the region.
  const metrics = new Metrics({ defaults: false })
  const b = new RegionBreaker('idp', 'primary', { ...policy, timeout: 30 }, { metrics, onTransition: (tr) => transitions.push(tr) })
  t.teardown(() => b.shutdown())
  const releases: Array<() => void> = []
  const held = Array.from({ length: DEFAULT_CAPACITY }, () => b.call('token', () => new Promise<string>((resolve) => releases.push(() => resolve('answered')))))
  t.equal(b.inFlight, DEFAULT_CAPACITY, 'the region is full')
  let sent = 0
  // More refusals than calls in flight: counted as failures (opossum's "Semaphore locked"), they would be over half the calls and open the breaker.
  const refused = await Promise.all(Array.from({ length: DEFAULT_CAPACITY + 1 }, () => b.call('token', async () => { sent++ }).then(() => undefined, (err: unknown) => err)))
  t.equal(sent, 0, 'no refused call was sent')
  t.match(refused[0], { code: 'US_ERR_UPSTREAM_BUSY', details: { provider: 'idp', region: 'primary', operation: 'token', capacity: DEFAULT_CAPACITY, announce: true, refused: 1 } }, 'refused with the capacity error, the first announced')
  t.ok(refused.every((err) => isUnderstudyError(err, 'US_ERR_UPSTREAM_BUSY')), 'every one of them')
  t.equal(refused.filter((err) => (err as UnderstudyError).details.announce === true).length, 1, 'one announcement (a warn log) a minute, not one per refusal')
  t.equal(classifyUpstreamFailure(refused[0]), 'busy', 'neither an outage nor a refusal of the user')
  t.match(await metrics.text(), new RegExp(`^understudy_upstream_busy_total\\{provider="idp",region="primary"\\} ${DEFAULT_CAPACITY + 1}$`, 'm'), 'every refusal is counted in understudy_upstream_busy_total')
  t.equal(b.state, 'closed', 'the breaker stays closed')
  t.same(transitions, [])
  t.match(b.stats(), { fires: DEFAULT_CAPACITY, failures: 0, rejects: 0 }, 'the refusals never reached opossum: no failure')
  t.equal(await b.call('refresh', async () => 'vouched'), 'vouched', 'a refresh is not bounded (its refresh token is already rotated when it is sent)')
  t.equal(await b.call('probe', async () => 'up'), 'up', 'nor is a health probe (a refused probe would open the breaker)')
  t.equal(await b.call('authorize', async () => 'url'), 'url', 'nor is building an authorization URL')
  for (const release of releases) release()
  t.same(new Set(await Promise.all(held)), new Set(['answered']), 'the held calls answer')
  t.equal(b.inFlight, 0)
  t.equal(await b.call('token', async () => 'exchanged'), 'exchanged', 'with room again, a code exchange goes through')
  t.match(b.stats(), { successes: DEFAULT_CAPACITY + 4, failures: 0 })
  t.equal(b.state, 'closed')
})

t.test('an open breaker refuses as open even when the region is full: that refusal is the gateway\'s evidence', async (t) => {
  const b = new RegionBreaker('idp', 'primary', { ...policy, timeout: 30 }, { metrics: new Metrics({ defaults: false }), onTransition: () => {} })
  t.teardown(() => b.shutdown())
  const releases: Array<() => void> = []
  const held = Array.from({ length: DEFAULT_CAPACITY }, () => b.call('token', () => new Promise<void>((resolve) => releases.push(resolve))))
  b.probeFailed()
  await t.rejects(b.call('token', async () => 'never'), { code: 'US_ERR_UPSTREAM_UNAVAILABLE', details: { breaker: 'open' } })
  for (const release of releases) release()
  await Promise.all(held)
})
