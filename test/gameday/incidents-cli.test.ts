import { PassThrough } from 'node:stream'
import t from 'tap'
import { incidentsCommand, postMortemDraft, renderPostMortem } from '../../src/cli/incidents.js'
import type { Incident } from '../../src/resilience/incidents.js'
import { ADMIN_TOKEN, waitFor } from '../helpers/admin.js'
import { startStack } from '../helpers/stack.js'

const ADMIN = { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN }

async function run (args: string[]): Promise<{ code: number, out: string, err: string }> {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()]
  let out = ''
  let err = ''
  stdout.on('data', (chunk) => { out += String(chunk) })
  stderr.on('data', (chunk) => { err += String(chunk) })
  const code = await incidentsCommand(args, stdout, stderr)
  return { code, out, err }
}


t.test('understudy incidents prints a post-mortem draft of a real outage, as Markdown and as JSON', async (t) => {
  const s = await startStack({
    provider: { breaker: { timeout: '1s', volumeThreshold: 1, resetTimeout: '1s' }, healthCheck: { interval: 0.2 } },
    config: { admin: ADMIN, chaos: { enabled: true } },
  })
  t.teardown(() => s.close())
  const breakers = s.gateway.gateway.breakers
  await waitFor(() => breakers.all().every((b) => b.state === 'closed'), 'every breaker is closed')
  const inject = async (body: unknown) => fetch(`${s.adminUrl}/admin/faults`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await inject({ target: { provider: 'idp', region: 'primary' }, kind: 'error', duration: '30s' })
  await inject({ target: { provider: 'idp', region: 'secondary' }, kind: 'error', duration: '30s' })
  await waitFor(() => breakers.all().every((b) => b.state === 'open'), 'every breaker is open')
  await fetch(`${s.adminUrl}/admin/faults`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  await waitFor(() => breakers.all().every((b) => b.state === 'closed'), 'every breaker is closed again')

  const md = await run(['--admin-url', s.adminUrl, '--token', ADMIN_TOKEN])
  t.equal(md.code, 0)
  for (const section of ['# Post-mortem (draft)', '## Summary', '## Impact', '## Timeline', '## Root cause', '## Action items']) t.ok(md.out.includes(section), `the draft has ${section}`)
  t.match(md.out, /Incidents: 1 \(0 ongoing\)/)
  t.match(md.out, /breaker: primary: closed → open/, 'the timeline has the breaker transitions')
  t.match(md.out, /Degraded on test: /, 'and the degraded interval')

  const json = await run(['--admin-url', s.adminUrl, '--token', ADMIN_TOKEN, '--format', 'json'])
  t.equal(json.code, 0)
  const draft = JSON.parse(json.out)
  t.equal(draft.summary.incidents, 1)
  t.equal(draft.incidents[0].status, 'resolved')
  t.ok(draft.impact.degradedMs > 0)
  t.equal(draft.rootCause, '', 'the root cause is left blank for people to write')
  t.same(draft.actionItems, [])
})

t.test('understudy incidents says what is wrong: usage (exit 2), a wrong token or an unreachable gateway (exit 1)', async (t) => {
  const s = await startStack({ config: { admin: ADMIN } })
  t.teardown(() => s.close())
  t.equal((await run([])).code, 2, '--admin-url is required')
  t.equal((await run(['--admin-url', s.adminUrl, '--format', 'pdf'])).code, 2)
  const denied = await run(['--admin-url', s.adminUrl, '--token', 'wrong'])
  t.equal(denied.code, 1)
  t.match(denied.err, /401/)
  t.equal((await run(['--admin-url', 'http://127.0.0.1:1', '--token', 'x'])).code, 1)
  const none = await run(['--admin-url', s.adminUrl, '--token', ADMIN_TOKEN])
  t.equal(none.code, 0)
  t.match(none.out, /No incidents recorded/)
})

t.test('the draft sums impact over incidents, backup logins included, and counts an ongoing degraded interval up to now', async (t) => {
  const incident = (id: string, status: 'ongoing' | 'resolved', cached: number, backup: number): Incident => ({
    id,
    provider: 'kakao',
    status,
    startedAt: '2022-10-15T06:30:00.000Z',
    ...(status === 'resolved' ? { endedAt: '2022-10-15T07:30:00.000Z' } : {}),
    degraded: [{ start: '2022-10-15T06:31:00.000Z', ...(status === 'resolved' ? { end: '2022-10-15T07:00:00.000Z' } : {}), instance: 'kr-central' }],
    impact: { cachedLogins: cached, unavailableLogins: 2, backupLogins: backup, failovers: 1, affectedClients: ['shop'] },
    timeline: [{ at: '2022-10-15T06:30:00.000Z', kind: 'breaker', instance: 'kr-central', provider: 'kakao', region: 'pangyo', message: 'pangyo: closed → open (a | b)' }],
  })
  const draft = postMortemDraft([incident('b', 'ongoing', 5, 7), incident('a', 'resolved', 3, 4)], 'http://admin', new Date('2022-10-15T08:31:00.000Z'))
  t.same(draft.summary, { incidents: 2, ongoing: 1, providers: ['kakao'], firstStartedAt: '2022-10-15T06:30:00.000Z', lastEndedAt: null })
  t.same(draft.impact, { cachedLogins: 8, unavailableLogins: 4, backupLogins: 11, failovers: 2, affectedClients: ['shop'], degradedMs: (29 + 120) * 60_000 })
  const md = renderPostMortem(draft)
  t.match(md, /\| logins served from the cached session \| logins served by a backup method \(passkey, linked provider\) \| logins refused/)
  t.match(md, /\n\| 8 \| 11 \| 4 \| 2 \| shop \|\n/, 'the impact row has the backup logins beside the cached and refused ones')
  t.match(md, /Ended: still ongoing/)
  t.match(md, /\(a \\\| b\)/, 'pipes in messages do not break the table')
})
