import t from 'tap'
import { Browser } from '../../harness/browser.js'
import { authorizeUrl, startStack } from '../helpers/stack.js'

// Found by the Chaos Gorilla game day: building the authorization URL makes no network call, so a login
// arriving while a dead region's breaker was half-open was the "successful" trial that closed it, and
// browsers were sent to the dead region until the next probe. Browsers now go only where the breaker is closed.
t.test('a half-open breaker of a dead region is not closed by logins: no browser is sent there', async (t) => {
  const s = await startStack({
    proxied: true,
    provider: {
      breaker: { timeout: '1s', errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeout: '300ms', rollingCountTimeout: '5s' },
      // Probes are rarer than the reset timeout: each half-open window lasts until the next probe.
      healthCheck: { interval: 1 },
    },
  })
  t.teardown(() => s.close())
  const primary = s.gateway.gateway.breakers.get('idp', 'primary')!
  const first = await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))
  t.equal(new URL(first.location!).port, String(s.proxies[0]!.port), 'a first login through region 1: its discovery is now cached')
  await s.proxies[0]!.setFault({ kind: 'refuse' })
  const until = Date.now() + 10_000
  while (primary.state !== 'open' && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(primary.state, 'open', 'the probe opened the breaker of the dead region')
  const states = new Set<string>()
  const sentTo = new Set<string>()
  // Logins keep arriving until a few of them came while the breaker was half-open (each reset timeout, until the probe's trial fails).
  let duringHalfOpen = 0
  const deadline = Date.now() + 15_000
  while (duringHalfOpen < 3 && Date.now() < deadline) {
    const state = primary.state
    states.add(state)
    if (state === 'half-open') duringHalfOpen++
    sentTo.add(new URL((await new Browser().fetch(authorizeUrl(s.issuer, 'shop'))).location!).port)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.ok(states.has('half-open'), 'logins arrived while the breaker was half-open')
  t.same([...sentTo], [String(s.proxies[1]!.port)], 'every browser was sent to the live region')
})
