import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { GamedayReport } from '../../harness/gameday/report.js'

/** The short form of the game day, to keep the suite fast: a 2 s baseline, 12 returning users, 4 who add a passkey. */
export const SHORT = { baselineMs: 2_000, load: { seedUsers: 12, cohort: 4 } }

/** A directory for a run's report and logs, removed at `t`'s teardown. */
export async function reportDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-gameday-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** The game day's stated expectations (EXPECTATIONS in the game day report), checked on one scenario of a report. */
export function expectations (t: Test, report: GamedayReport, name: string): void {
  const s = report.scenarios.find((scenario) => scenario.name === name)
  if (!s) throw new Error(`no scenario ${name} in the report`)
  t.comment(`${name}: detect ${s.timeToDetectMs} ms, failover ${s.timeToFailoverMs} ms, recover ${s.timeToRecoverMs} ms, ${s.operations} operations, new users ${s.newUserSuccessRate}, wall time of the run ${report.wallTimeMs} ms`)
  if (!s.expectationsMet) t.comment(`${name}: ${JSON.stringify({ violations: s.violations, unexpectedFailures: s.unexpectedFailures, steps: s.steps, cohort: s.cohort }, null, 2)}`)
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
