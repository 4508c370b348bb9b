import type { TimelineEntry } from './monitor.js'
import { allowedNewUserFailure, cohortFigures, cohortMisses, cohortViolations, describeOp, directoryRefusal, stepFigures, type Bounds, type CohortFigures, type StepFigures, type StepRun } from './measure.js'
import type { HttpSample } from './recording-browser.js'
import { countBy, http5xx, latency, successRate, within, type OpRecord, type Recorder } from './records.js'
import type { GamedayPolicy, LoadShape } from './setup.js'

export const HYPOTHESIS = 'While one gateway process, one Redis, one upstream region, the whole upstream, the whole of one gateway region, or the directory\'s database fails, ' +
  'returning users keep logging in (100 %), no request gets a 5xx, no session is lost, no revoked session is accepted, and new users fail only ' +
  'with temporarily_unavailable while the whole upstream is down; users who added a passkey log in with it on a new device while the whole upstream is down ' +
  '(100 %, acr backup, the sub they always had), and losing the directory costs only those passkey logins (temporarily_unavailable), never an upstream, SSO or cached login; ' +
  'every fault is detected within the breaker\'s detection bound and the system recovers by itself (no manual intervention).'

export const EXPECTATIONS = [
  'returning users (SSO logins and refreshes): 100 % succeed',
  'no gateway answer is a 5xx (load-balancer 502/504 included), except the contract\'s 503 temporarily_unavailable to a passkey login while the directory is down',
  'no returning user\'s session or refresh token is refused (sessionsLost 0)',
  'no revoked refresh token or logged-out session is accepted (revokedAccepted 0)',
  'new users fail only with temporarily_unavailable while the whole upstream is down, or when sent to an upstream region before its failure could be detected (one health interval plus the breaker timeout)',
  'enrolled users on new devices (an empty cookie jar, the passkey synced): every one logs in with the passkey while the whole upstream is down, with acr backup and the sub they had before',
  'while the directory\'s database is down, only passkey logins fail, each with temporarily_unavailable; upstream, SSO and cached logins do not notice, and no login returns another sub',
  'every fault is detected, and the system recovers after each is cleared, with no manual intervention',
]

/** Figures over a window of the run (the baseline, or one scenario). */
export interface WindowFigures {
  durationMs: number
  operations: number
  requests: number
  returningUserSuccessRate: number
  newUserSuccessRate: number
  http5xx: number
  sessionsLost: number
  revokedAccepted: number
  latencyMs: { p50: number, p99: number, max: number }
  upstreamCallsPerLogin: number
  cachedLogins: number
  revokedProbes: number
  outcomes: { returning: Record<string, number>, newUsers: Record<string, number> }
  /** Operations that failed because one of their requests was inside a gateway process when it was SIGKILLed; not in the rates above. */
  caughtInCrash: number
  /** Ticks the driver skipped because it was at its concurrency limit. */
  skippedTicks: number
}

/** One scenario's figures: the ones the expectations judge first, then the detail for the post-mortem. */
export interface ScenarioFigures extends WindowFigures {
  name: string
  timeToDetectMs: number | null
  timeToFailoverMs: number | null
  timeToRecoverMs: number | null
  manualInterventions: number
  expectationsMet: boolean
  violations: string[]
  title: string
  description: string
  startedAt: string
  endedAt: string
  steps: StepFigures[]
  /** The enrolled users' passkey logins on new devices, per step that had them. */
  cohort: CohortFigures[]
  /** 503 temporarily_unavailable answers to passkey logins while the directory was down: the contract's answer, not in http5xx. */
  directoryRefusals: number
  newUserFailuresAllowed: number
  /** The first failures that count against the expectations, for the post-mortem. */
  unexpectedFailures: Array<{ at: string, operation: string, outcome: string, detail?: string }>
  /** The operations caught in a crash, for the post-mortem. */
  crashCasualties: Array<{ at: string, operation: string, outcome: string, detail?: string }>
}

export interface GamedayReport {
  title: string
  startedAt: string
  finishedAt: string
  wallTimeMs: number
  hypothesis: string
  expectations: string[]
  topology: Record<string, unknown>
  load: LoadShape & { relyingParties: Array<Record<string, unknown>> }
  policy: GamedayPolicy & { detectionBoundMs: number, recoveryBoundMs: number }
  baseline: WindowFigures & { violations: string[] }
  scenarios: ScenarioFigures[]
  timeline: Array<{ at: string, offsetMs: number, source: string, kind: string, subject?: string, message: string }>
  expectationsMet: boolean
  violations: string[]
}

const UNEXPECTED_LISTED = 20

type Counted = (from: number, to: number) => { upstreamCalls: number, logins: number }

/** Rates, latency and counts of what started within [from, to); `excused` 5xx answers are the contract's, not counted. */
export function windowFigures (rec: Recorder, from: number, to: number, counted: Counted, excused: (s: HttpSample) => boolean = () => false): WindowFigures {
  const all = within(rec.ops, from, to)
  const ops = all.filter((o) => !caughtInCrash(o))
  const returning = ops.filter((o) => o.kind === 'sso' || o.kind === 'refresh')
  const newUsers = ops.filter((o) => o.kind === 'new')
  const samples = within(rec.samples, from, to)
  const probes = within(rec.probes, from, to)
  const { upstreamCalls, logins } = counted(from, to)
  return {
    durationMs: to - from,
    operations: ops.length,
    requests: samples.length,
    returningUserSuccessRate: round(successRate(returning)),
    newUserSuccessRate: round(successRate(newUsers)),
    http5xx: http5xx(samples.filter((s) => !excused(s))),
    sessionsLost: new Set(returning.filter((o) => o.outcome === 'session_lost').map((o) => o.user)).size,
    revokedAccepted: probes.filter((p) => p.accepted).length,
    latencyMs: latency(samples),
    upstreamCallsPerLogin: logins === 0 ? 0 : round(upstreamCalls / logins),
    cachedLogins: ops.filter((o) => o.outcome === 'ok' && o.acr?.endsWith(':cached')).length,
    revokedProbes: probes.length,
    outcomes: { returning: countBy(returning, (o) => o.outcome), newUsers: countBy(newUsers, (o) => o.outcome) },
    caughtInCrash: all.length - ops.length,
    skippedTicks: rec.skipped.filter((at) => at >= from && at < to).length,
  }
}

/** What the steady state must look like before any fault: everything works. */
export function baselineViolations (f: WindowFigures): string[] {
  const problems: string[] = []
  if (f.operations === 0) problems.push('baseline: no operation completed')
  if (f.returningUserSuccessRate < 1 || f.newUserSuccessRate < 1) problems.push(`baseline: not every login succeeded before any fault (returning ${pct(f.returningUserSuccessRate)}, new ${pct(f.newUserSuccessRate)}: ${JSON.stringify(f.outcomes)})`)
  if (f.http5xx > 0) problems.push(`baseline: ${f.http5xx} 5xx answers before any fault`)
  return problems
}

export interface ScenarioRun {
  name: string
  title: string
  description: string
  startedAt: number
  endedAt: number
  steps: StepRun[]
  manualInterventions: number
  /** Users who had added a passkey before the faults. */
  enrolled: number
}

/** A scenario's figures and the expectations it missed. */
export function scenarioFigures (run: ScenarioRun, rec: Recorder, timeline: TimelineEntry[], counted: Counted, bounds: Bounds): ScenarioFigures {
  const excused = (s: HttpSample) => directoryRefusal(s, run.steps, bounds, run.endedAt)
  const window = windowFigures(rec, run.startedAt, run.endedAt, counted, excused)
  const all = within(rec.ops, run.startedAt, run.endedAt)
  const ops = all.filter((o) => !caughtInCrash(o))
  const steps = run.steps.map((s) => stepFigures(s, timeline, ops))
  const cohortSteps = run.steps.filter((s) => s.cohort)
  const cohort = cohortSteps.map((s) => cohortFigures(s, ops, run.enrolled))
  const failedNew = ops.filter((o) => o.kind === 'new' && o.outcome !== 'ok')
  const allowed = failedNew.filter((o) => allowedNewUserFailure(o, run.steps, bounds))
  const disallowed = failedNew.filter((o) => !allowed.includes(o))
  const violations: string[] = []
  const returning = ops.filter((o) => o.kind === 'sso' || o.kind === 'refresh')
  const unexpected = [...returning.filter((o) => o.outcome !== 'ok'), ...disallowed, ...cohortSteps.flatMap((s) => cohortMisses(s, ops))].sort((a, b) => a.start - b.start)
  if (window.returningUserSuccessRate < 1) violations.push(`returning users: ${returning.filter((o) => o.outcome === 'ok').length} of ${returning.length} succeeded (${describe(window.outcomes.returning)})`)
  if (window.http5xx > 0) violations.push(`${window.http5xx} answers with a 5xx`)
  if (window.sessionsLost > 0) violations.push(`${window.sessionsLost} returning users lost their session`)
  if (window.revokedAccepted > 0) violations.push(`${window.revokedAccepted} uses of a revoked refresh token or logged-out session were accepted`)
  if (window.revokedProbes === 0) violations.push('no revoked credential was tried during the scenario')
  if (disallowed.length > 0) violations.push(`${disallowed.length} new-user logins failed outside what the contract allows (${describe(countOutcomes(disallowed))})`)
  violations.push(...cohort.flatMap(cohortViolations))
  for (const step of steps) {
    if (step.timeToDetectMs === null) violations.push(`"${step.fault}" was not detected`)
    if (step.clearedAt !== null && step.timeToRecoverMs === null) violations.push(`did not recover after "${step.fault}" was cleared`)
  }
  if (run.manualInterventions > 0) violations.push(`${run.manualInterventions} manual interventions were needed to recover`)
  const worst = (key: 'timeToDetectMs' | 'timeToFailoverMs' | 'timeToRecoverMs') => {
    const values = steps.map((s) => s[key]).filter((v): v is number => v !== null)
    return values.length === 0 ? null : Math.max(...values)
  }
  return {
    name: run.name,
    timeToDetectMs: worst('timeToDetectMs'),
    timeToFailoverMs: worst('timeToFailoverMs'),
    timeToRecoverMs: worst('timeToRecoverMs'),
    returningUserSuccessRate: window.returningUserSuccessRate,
    newUserSuccessRate: window.newUserSuccessRate,
    http5xx: window.http5xx,
    sessionsLost: window.sessionsLost,
    revokedAccepted: window.revokedAccepted,
    latencyMs: window.latencyMs,
    upstreamCallsPerLogin: window.upstreamCallsPerLogin,
    manualInterventions: run.manualInterventions,
    expectationsMet: violations.length === 0,
    violations,
    title: run.title,
    description: run.description,
    startedAt: new Date(run.startedAt).toISOString(),
    endedAt: new Date(run.endedAt).toISOString(),
    durationMs: window.durationMs,
    operations: window.operations,
    requests: window.requests,
    cachedLogins: window.cachedLogins,
    revokedProbes: window.revokedProbes,
    outcomes: window.outcomes,
    caughtInCrash: window.caughtInCrash,
    skippedTicks: window.skippedTicks,
    steps,
    cohort,
    directoryRefusals: within(rec.samples, run.startedAt, run.endedAt).filter(excused).length,
    newUserFailuresAllowed: allowed.length,
    crashCasualties: all.filter(caughtInCrash).slice(0, UNEXPECTED_LISTED).map(listed),
    unexpectedFailures: [
      ...unexpected.map(listed),
      ...within(rec.probes, run.startedAt, run.endedAt).filter((p) => p.accepted).map((p) => ({ at: new Date(p.at).toISOString(), operation: `${p.kind} of ${p.user} tried again`, outcome: 'accepted' })),
    ].sort((a, b) => a.at.localeCompare(b.at)).slice(0, UNEXPECTED_LISTED),
  }
}

/**
 * A request inside a process at the instant it is SIGKILLed dies with it;
 * the load balancer sends it to the other region, where a non-repeatable
 * step (an upstream code, a rotated refresh token) may then be refused. Such
 * an operation is listed, not counted against the expectations.
 */
function caughtInCrash (op: OpRecord): boolean {
  return op.caughtInCrash === true && op.outcome !== 'ok'
}

function listed (o: OpRecord): { at: string, operation: string, outcome: string, detail?: string } {
  return { at: new Date(o.start).toISOString(), operation: describeOp(o), outcome: o.outcome, ...(o.detail ? { detail: o.detail } : {}) }
}

function countOutcomes (ops: Array<{ outcome: string }>): Record<string, number> {
  return countBy(ops, (o) => o.outcome)
}

function describe (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')
}

/** 0.98765 → 0.9877 */
function round (value: number): number {
  return Math.round(value * 10_000) / 10_000
}

/** 0.98765 → "98.77 %" */
export function pct (value: number): string {
  return `${(value * 100).toFixed(value === 1 ? 0 : 2)} %`
}
