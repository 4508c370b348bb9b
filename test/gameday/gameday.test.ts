import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { gamedayCommand } from '../../src/cli/gameday.js'
import { renderMarkdown } from '../../harness/gameday/report-md.js'
import type { GamedayReport } from '../../harness/gameday/report.js'
import { runGameday } from '../../harness/gameday/run.js'
import { noPostgres } from '../directory/postgres-schema.js'
import { noRedis } from '../helpers/redis.js'
import { SHORT, expectations, reportDir } from './expectations.js'

// The short form of the game day, to keep the suite fast: each scenario on its own topology, with faults held
// for 2 s or more each. The breakers are the game day's fast ones (1 s timeout, 1.5 s reset, 0.4 s probes).
// The gateways share their directory (backup login) in a fresh schema of the machine's PostgreSQL.
t.setTimeout(300_000)

const skip = noRedis || noPostgres

t.test('Chaos Monkey: a gateway process, a Redis killed, a Redis hung, a slow then resetting upstream region', { skip }, async (t) => {
  const report = await runGameday({ scenarios: ['monkey'], durationMs: 12_000, reportDir: await reportDir(t), ...SHORT })
  expectations(t, report, 'monkey')
  t.equal(report.scenarios[0]!.steps.length, 5)
})

t.test('Chaos Gorilla, through the CLI: upstream region 1 and region A\'s Redis down together; report files written', { skip }, async (t) => {
  const dir = await reportDir(t)
  const stdout = new PassThrough()
  let json = ''
  stdout.on('data', (chunk) => { json += String(chunk) })
  const code = await gamedayCommand(['--scenario', 'gorilla', '--duration', '8s', '--report', dir, '--json'], stdout, new PassThrough())
  const report = JSON.parse(json) as GamedayReport
  expectations(t, report, 'gorilla')
  t.equal(code, 0, 'exit 0: every expectation met')
  t.same(JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')), report, 'report.json is what --json printed')
  const markdown = await readFile(join(dir, 'report.md'), 'utf8')
  for (const section of ['## Hypothesis', '## Steady state', '## Results', '## gorilla', '## Timeline']) t.ok(markdown.includes(section), `report.md has ${section}`)
  t.ok(report.timeline.some((e) => e.source === 'gameday' && e.message.startsWith('injected:')), 'the timeline has the injected faults')
  t.ok(report.timeline.some((e) => e.source.startsWith('gateway-') && e.kind === 'breaker'), 'and the gateways\' own breaker transitions')
})

t.test('Chaos Kong: the whole upstream down, and every user who added a passkey logs in with it on a new device; then region A as well, then recovery', { skip }, async (t) => {
  const report = await runGameday({ scenarios: ['kong'], durationMs: 15_000, reportDir: await reportDir(t), ...SHORT })
  expectations(t, report, 'kong')
  const kong = report.scenarios[0]!
  t.ok(kong.cachedLogins > 0, 'returning users were served from cached logins')
  t.ok(kong.outcomes.newUsers.temporarily_unavailable! > 0, 'new users were told temporarily_unavailable (the outage page\'s "Back to the site")')
  t.same(kong.cohort, [{
    fault: 'the whole upstream (every region) down (connections refused)',
    enrolled: 4,
    tried: 4,
    loggedIn: 4,
    unavailable: 0,
    wrongSub: 0,
    expected: 'logged-in',
    outcomes: { ok: 4 },
  }], 'the 4 enrolled users logged in with their passkeys from empty cookie jars: acr backup, the sub they had')
  t.equal(kong.directoryRefusals, 0)
  t.match(renderMarkdown(report), /\| kong \|[^\n]*\| 4\/4 logged in with a passkey \| 0 \|/, 'the results table counts them, next to 0 5xx')
  t.ok(report.timeline.some((e) => e.kind === 'cohort' && e.message.startsWith('the 4 users who added a passkey')), 'the timeline says when they tried')
})

t.test('the gameday command refuses bad arguments with exit 2', async (t) => {
  const stderr = new PassThrough()
  let text = ''
  stderr.on('data', (chunk) => { text += String(chunk) })
  t.equal(await gamedayCommand(['--scenario', 'godzilla'], new PassThrough(), stderr), 2)
  t.equal(await gamedayCommand(['--duration', 'forever'], new PassThrough(), stderr), 2)
  t.equal(await gamedayCommand(['--database', 'mysql://127.0.0.1/test'], new PassThrough(), stderr), 2)
  t.match(text, /--scenario must be monkey, gorilla, kong, directory or all/)
  t.match(text, /--database must be a postgres:\/\/ URL/)
})
