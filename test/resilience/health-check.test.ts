import t from 'tap'
import { admin, ADMIN, waitFor } from '../helpers/admin.js'
import { startStack, type Stack } from '../helpers/stack.js'
import type { BreakerTransition } from '../../src/resilience/breaker.js'

// Probes every 100 ms; an open breaker tries again after 1 s, so a wrongly opened one would show at once.
const PROVIDER = { healthCheck: { interval: 0.1 }, breaker: { resetTimeout: '1s' } }

/** How many health probes of `region` went through its breaker. */
async function probes (s: Stack, region: string): Promise<number> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('understudy_upstream_request_duration_seconds_count{') && l.includes(`region="${region}"`) && l.includes('operation="probe"'))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

t.test('a health probe that gets a refusal (a 403) leaves the breaker closed; one that gets a 503 opens it', async (t) => {
  const s = await startStack({ config: { admin: ADMIN, chaos: { enabled: true } }, provider: PROVIDER })
  t.teardown(() => s.close())
  const gw = s.gateway.gateway
  await waitFor(() => gw.breakers.all().every((b) => b.state === 'closed'), 'breakers closed at start')
  const transitions: BreakerTransition[] = []
  gw.breakers.on('transition', (transition) => transitions.push(transition))

  const target = { provider: 'idp', region: 'primary' }
  t.equal((await admin(s, 'POST', '/admin/faults', { target, kind: 'error', status: 403, duration: '1m' })).status, 201)
  const before = await probes(s, 'primary')
  await waitFor(async () => await probes(s, 'primary') >= before + 5, 'five probes refused with 403')
  t.equal(gw.breakers.get('idp', 'primary')!.state, 'closed', 'a region that answers is up')
  t.same(transitions.filter((tr) => tr.region === 'primary'), [], 'the primary breaker never left closed')

  t.equal((await admin(s, 'POST', '/admin/faults', { target: { provider: 'idp', region: 'secondary' }, kind: 'error', status: 503, duration: '1m' })).status, 201)
  await waitFor(() => gw.breakers.get('idp', 'secondary')!.state === 'open', 'a 503 probe opens the secondary breaker')
  t.ok(transitions.some((tr) => tr.region === 'secondary' && tr.to === 'open'), 'a transient probe failure is an outage')
})
