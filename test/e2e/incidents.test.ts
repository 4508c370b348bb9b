import t from 'tap'
import { ADMIN, admin, waitFor } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { authorizeUrl, browserLogin, startStack, type Stack } from '../helpers/stack.js'

const PROVIDER = {
  breaker: { timeout: '1s', errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeout: '1s', rollingCountTimeout: '5s' },
  healthCheck: { interval: 0.2 },
}

t.test('fault injection is refused (404) while chaos is disabled', async (t) => {
  const s = await startStack({ config: { admin: ADMIN } })
  t.teardown(() => s.close())
  t.equal((await admin(s, 'GET', '/admin/faults')).status, 404)
  t.equal((await admin(s, 'POST', '/admin/faults', { target: { store: 'local' }, kind: 'error', duration: 5 })).status, 404)
})

t.test('injected faults open breakers and the incident timeline tells the story of the outage', async (t) => {
  const clock = testClock()
  const s = await startStack({ provider: PROVIDER, now: clock.now, config: { admin: ADMIN, chaos: { enabled: true }, sessions: { maxStaleness: '1h', outageMaxStaleness: '1d' } } })
  t.teardown(() => s.close())
  const breakers = s.gateway.gateway.breakers
  await waitFor(() => breakers.all().every((b) => b.state === 'closed'), 'breakers closed')
  const browser = new Browser()
  await browserLogin(browser, authorizeUrl(s.issuer, 'shop'), 'timeline-user')
  // Past maxStaleness: from here on the session serves only as a cached login.
  clock.advance(2 * 3600)

  const invalid = await admin(s, 'POST', '/admin/faults', { target: { provider: 'idp' }, kind: 'teleport', duration: -1 })
  t.equal(invalid.status, 400)
  t.ok(invalid.body.problems.length >= 2, 'every problem in the fault is reported')

  const primary = await admin(s, 'POST', '/admin/faults', { target: { provider: 'idp', region: 'primary' }, kind: 'error', status: 503, duration: '30s' })
  t.equal(primary.status, 201)
  await waitFor(() => breakers.get('idp', 'primary')!.state === 'open', 'primary opens')
  await admin(s, 'POST', '/admin/faults', { target: { provider: 'idp', region: 'secondary' }, kind: 'blackhole', duration: '30s' })
  await waitFor(() => breakers.all().every((b) => b.state === 'open'), 'every region opens')
  t.equal((await admin(s, 'GET', '/admin/faults')).body.faults.length, 2)

  const cached = await browser.fetch(authorizeUrl(s.issuer, 'news'))
  t.ok(new URL(cached.location!).searchParams.get('code'), 'a returning user is served from the cached session')
  const refused = await new Browser().fetch(authorizeUrl(s.issuer, 'spa', { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }))
  t.equal(new URL(refused.location!).searchParams.get('error'), 'temporarily_unavailable')

  const during = (await admin(s, 'GET', '/admin/incidents')).body.incidents
  t.equal(during.length, 1)
  t.equal(during[0].status, 'ongoing')
  t.equal(during[0].provider, 'idp')
  t.equal(during[0].degraded.length, 1, 'a degraded interval began when every region was open')

  t.same((await admin(s, 'DELETE', '/admin/faults')).body, { faults: [] })
  await waitFor(() => breakers.all().every((b) => b.state === 'closed'), 'breakers close again')
  const after = (await admin(s, 'GET', '/admin/incidents')).body.incidents
  const incident = after[0]
  t.equal(incident.status, 'resolved')
  t.ok(incident.endedAt >= incident.startedAt)
  t.ok(incident.degraded[0].end, 'the degraded interval ended')
  t.equal(incident.impact.cachedLogins, 1)
  t.equal(incident.impact.unavailableLogins, 1)
  t.same(incident.impact.affectedClients.sort(), ['news', 'spa'])
  const kinds = incident.timeline.map((e: { kind: string }) => e.kind)
  t.ok(kinds.includes('fault') && kinds.includes('breaker') && kinds.includes('impact'), 'faults, transitions and impact are in the timeline')
})
