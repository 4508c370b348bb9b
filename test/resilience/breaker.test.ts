import t, { type Test } from 'tap'
import { UnderstudyError } from '../../src/errors.js'
import { Metrics } from '../../src/observability/metrics.js'
import { RegionBreaker, type BreakerTransition } from '../../src/resilience/breaker.js'

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
