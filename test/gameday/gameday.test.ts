import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { gamedayCommand } from '../../src/cli/gameday.js'
import type { GamedayReport } from '../../harness/gameday/report.js'
import { runGameday } from '../../harness/gameday/run.js'
import { noRedis } from '../helpers/redis.js'

// The short form of the game day, to keep the suite fast: each scenario on its own topology, with faults held
// for 2 s or more each. The breakers are the game day's fast ones (1 s timeout, 1.5 s reset, 0.4 s probes).
t.setTimeout(240_000)

const SHORT = { baselineMs: 2_000, load: { seedUsers: 12 } }

async function reportDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-gameday-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** The game day's stated expectations (EXPECTATIONS in the game day report), checked on one scenario of a report. */
function expectations (t: Test, report: GamedayReport, name: string): void {
  const s = report.scenarios.find((scenario) => scenario.name === name)
  if (!s) throw new Error(`no scenario ${name} in the report`)
  t.comment(`${name}: detect ${s.timeToDetectMs} ms, failover ${s.timeToFailoverMs} ms, recover ${s.timeToRecoverMs} ms, ${s.operations} operations, new users ${s.newUserSuccessRate}, wall time of the run ${report.wallTimeMs} ms`)
  if (!s.expectationsMet) t.comment(`${name}: ${JSON.stringify({ violations: s.violations, unexpectedFailures: s.unexpectedFailures, steps: s.steps }, null, 2)}`)
  t.same(report.baseline.violations, [], 'the steady state held before any fault')
  t.equal(s.returningUserSuccessRate, 1, 'every returning user logged in (SSO or refresh)')
  t.equal(s.http5xx, 0, 'no 5xx')
  t.equal(s.sessionsLost, 0, 'no session lost')
  t.equal(s.revokedAccepted, 0, 'no revoked session accepted')
  t.ok(s.revokedProbes > 0, 'revoked credentials were tried')
  t.equal(s.manualInterventions, 0, 'no manual intervention')
  t.ok(s.steps.every((step) => step.timeToDetectMs !== null), 'every fault was detected')
  t.ok(s.timeToRecoverMs !== null, 'the system recovered')
  t.same(s.violations, [], 'new users failed only as the contract allows, and nothing else was missed')
  t.equal(s.expectationsMet, true)
  t.ok(s.timeToDetectMs !== null && s.timeToDetectMs >= 0, 'the report gives the time to detect the slowest-detected fault')
  t.ok(s.timeToFailoverMs === null || s.timeToFailoverMs >= 0, 'and a time to fail over when there was a failover')
  t.ok(s.newUserSuccessRate >= 0 && s.newUserSuccessRate <= 1, 'a new-user success rate between 0 and 1')
  t.ok(s.operations > 0, 'the load ran during the scenario')
  t.ok(s.latencyMs.p50 <= s.latencyMs.p99 && s.latencyMs.p99 <= s.latencyMs.max, 'latency percentiles in order')
}

t.test('Chaos Monkey: a gateway process, a Redis killed, a Redis hung, a slow then resetting upstream region', { skip: noRedis }, async (t) => {
  const report = await runGameday({ scenarios: ['monkey'], durationMs: 12_000, reportDir: await reportDir(t), ...SHORT })
  expectations(t, report, 'monkey')
  t.equal(report.scenarios[0]!.steps.length, 5)
})

t.test('Chaos Gorilla, through the CLI: upstream region 1 and region A\'s Redis down together; report files written', { skip: noRedis }, async (t) => {
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

t.test('Chaos Kong: the whole upstream down, then region A as well, then recovery', { skip: noRedis }, async (t) => {
  const report = await runGameday({ scenarios: ['kong'], durationMs: 15_000, reportDir: await reportDir(t), ...SHORT })
  expectations(t, report, 'kong')
  const kong = report.scenarios[0]!
  t.ok(kong.cachedLogins > 0, 'returning users were served from cached logins')
  t.ok(kong.outcomes.newUsers.temporarily_unavailable! > 0, 'new users were told temporarily_unavailable')
})

t.test('the gameday command refuses bad arguments with exit 2', async (t) => {
  const stderr = new PassThrough()
  let text = ''
  stderr.on('data', (chunk) => { text += String(chunk) })
  t.equal(await gamedayCommand(['--scenario', 'godzilla'], new PassThrough(), stderr), 2)
  t.equal(await gamedayCommand(['--duration', 'forever'], new PassThrough(), stderr), 2)
  t.match(text, /--scenario must be monkey, gorilla, kong or all/)
})
