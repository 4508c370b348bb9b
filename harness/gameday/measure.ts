import { BACKUP_PATHS } from '../../plugins/backup/paths.js'
import { ACR_BACKUP } from '../../src/sessions/freshness.js'
import type { Fault } from './faults.js'
import type { TimelineEntry } from './monitor.js'
import type { HttpSample } from './recording-browser.js'
import { countBy, type OpRecord } from './records.js'

/** One step of a scenario as it ran. */
export interface StepRun {
  fault: Fault
  injectedAt: number
  /** When the fault was cleared (with the steps kept until then). */
  clearedAt?: number
  /** When the system had recovered from the clearing, if it did within the bound. */
  recoveredAt?: number
  /** The end of this step's window: the next step's injection, or the clearing. */
  until: number
  /** Another fault kept from an earlier step takes the whole upstream down meanwhile. */
  upstreamAlreadyDown: boolean
  /** This fault, or one kept from an earlier step, has the directory down meanwhile. */
  directoryDown: boolean
  /** The enrolled users logged in with their passkeys on new devices during this step. */
  cohort: boolean
}

/** The figures of one step. */
export interface StepFigures {
  fault: string
  injectedAt: string
  clearedAt: string | null
  timeToDetectMs: number | null
  detectedBy: string | null
  timeToFailoverMs: number | null
  failoverBy: string | null
  timeToRecoverMs: number | null
}

/** Windows (ms) within which the contract lets an upstream fault show, derived from the breaker policy. */
export interface Bounds {
  /** One health interval plus the breaker timeout (DESIGN §9): a browser may be sent to a dead region until then. */
  detectionMs: number
  /** Breaker reset timeout plus one health interval plus the breaker timeout: the gateway sees a returned upstream by then. */
  recoveryMs: number
}

/** Detection, failover and recovery of one step, from the timeline and the operations. */
export function stepFigures (step: StepRun, timeline: TimelineEntry[], ops: OpRecord[]): StepFigures {
  const { fault, injectedAt } = step
  const detected = timeline
    .filter((e) => e.bad && e.subject !== undefined && fault.subjects.includes(e.subject) && e.at >= injectedAt && e.at < step.until)
    .sort((a, b) => a.at - b.at)[0]
  const wanted = fault.upstreamDown || step.upstreamAlreadyDown ? (o: OpRecord) => o.kind === 'sso' || o.kind === 'refresh' : (o: OpRecord) => o.kind === 'new'
  const failover = ops
    .filter((o) => o.outcome === 'ok' && o.start >= injectedAt && o.end < step.until && wanted(o) && fault.survivingPath(o))
    .sort((a, b) => a.end - b.end)[0]
  return {
    fault: fault.description,
    injectedAt: new Date(injectedAt).toISOString(),
    clearedAt: step.clearedAt === undefined ? null : new Date(step.clearedAt).toISOString(),
    timeToDetectMs: detected ? Math.max(0, detected.at - injectedAt) : null,
    detectedBy: detected ? `${detected.source}: ${detected.message}` : null,
    timeToFailoverMs: failover ? failover.end - injectedAt : null,
    failoverBy: failover ? describeOp(failover) : null,
    timeToRecoverMs: step.clearedAt !== undefined && step.recoveredAt !== undefined ? step.recoveredAt - step.clearedAt : null,
  }
}

/**
 * Whether a new user's failed login is one the contract allows: refused
 * with `temporarily_unavailable` while the whole upstream is down (until the
 * gateway can have seen it return), or sent to an upstream region in the
 * moments before its failure could be detected.
 */
export function allowedNewUserFailure (op: OpRecord, steps: StepRun[], bounds: Bounds): boolean {
  return steps.some((step) => {
    const { fault, injectedAt } = step
    if (!fault.upstream) return false
    const downUntil = (step.clearedAt ?? Infinity) + bounds.recoveryMs
    if (fault.upstreamDown && op.outcome === 'temporarily_unavailable' && op.end >= injectedAt && op.start < downUntil) return true
    const beforeDetection = op.start < injectedAt + bounds.detectionMs && op.end >= injectedAt
    return beforeDetection && (op.outcome === 'temporarily_unavailable' || op.outcome === 'upstream_failed')
  })
}

/**
 * Whether a gateway 5xx is the contract's answer rather than a failure: a
 * 503 `temporarily_unavailable` to a passkey login (the page script's call)
 * while the directory was down, until the gateway can have seen it return.
 */
export function directoryRefusal (sample: HttpSample, steps: StepRun[], bounds: Bounds, end: number): boolean {
  if (!passkeyUnavailable(sample)) return false
  return steps.some((s) => s.fault.directoryDown === true && sample.at >= s.injectedAt && sample.at < (s.clearedAt ?? end) + bounds.recoveryMs)
}

/** A passkey login answered 503 temporarily_unavailable (whether the directory was down then is `directoryRefusal`'s to say). */
export function passkeyUnavailable (sample: HttpSample): boolean {
  return sample.status === 503 && sample.refusal === 'temporarily_unavailable' && sample.path === BACKUP_PATHS.passkeyLogin
}

/** What the enrolled users did on new devices with their passkeys during one step. */
export interface CohortFigures {
  fault: string
  /** Users who added a passkey before the faults. */
  enrolled: number
  /** Passkey logins tried during the step (one per enrolled user). */
  tried: number
  /** Of them, tokens with acr backup and the `sub` the user had before. */
  loggedIn: number
  /** Of them, told temporarily_unavailable. */
  unavailable: number
  /** Tokens for another `sub`: never allowed. */
  wrongSub: number
  /** What the contract expects: every one logged in, or — the directory down — every one told temporarily_unavailable. */
  expected: 'logged-in' | 'temporarily_unavailable'
  outcomes: Record<string, number>
}

/** The cohort's passkey logins that started during `step`. */
export function cohortFigures (step: StepRun, ops: OpRecord[], enrolled: number): CohortFigures {
  const tried = cohortOps(step, ops)
  return {
    fault: step.fault.description,
    enrolled,
    tried: tried.length,
    loggedIn: tried.filter((o) => o.outcome === 'ok' && o.acr === ACR_BACKUP).length,
    unavailable: tried.filter((o) => o.outcome === 'temporarily_unavailable').length,
    wrongSub: tried.filter((o) => o.outcome === 'wrong_user').length,
    expected: step.directoryDown ? 'temporarily_unavailable' : 'logged-in',
    outcomes: countBy(tried, (o) => o.outcome),
  }
}

/** The cohort's passkey logins during `step` that did not end as the contract expects, for the post-mortem. */
export function cohortMisses (step: StepRun, ops: OpRecord[]): OpRecord[] {
  const expected = step.directoryDown
    ? (o: OpRecord) => o.outcome === 'temporarily_unavailable'
    : (o: OpRecord) => o.outcome === 'ok' && o.acr === ACR_BACKUP
  return cohortOps(step, ops).filter((o) => !expected(o))
}

function cohortOps (step: StepRun, ops: OpRecord[]): OpRecord[] {
  return ops.filter((o) => o.kind === 'passkey' && o.start >= step.injectedAt && o.start < step.until)
}

/** The expectations a step's cohort missed. */
export function cohortViolations (c: CohortFigures): string[] {
  const problems: string[] = []
  const outcomes = Object.entries(c.outcomes).map(([k, v]) => `${k} ${v}`).join(', ') || 'none tried'
  if (c.expected === 'logged-in' && c.loggedIn < c.enrolled) problems.push(`enrolled users on new devices: ${c.loggedIn}/${c.enrolled} logged in with a passkey while "${c.fault}" held (${outcomes})`)
  if (c.expected === 'temporarily_unavailable' && (c.tried < c.enrolled || c.unavailable < c.tried)) problems.push(`enrolled users on new devices: ${c.unavailable}/${c.enrolled} told temporarily_unavailable while the directory was down, where every one should be (${outcomes})`)
  if (c.wrongSub > 0) problems.push(`${c.wrongSub} passkey logins returned another sub than the user's`)
  return problems
}

/** "new login at shop via upstream secondary, gateway b" */
export function describeOp (op: OpRecord): string {
  const kind = op.kind === 'new' ? 'new login' : op.kind === 'sso' ? 'returning SSO login' : op.kind === 'passkey' ? 'passkey login on a new device' : 'refresh'
  const via = [op.upstreamRegion ? `upstream ${op.upstreamRegion}` : undefined, op.backend ? `gateway-${op.backend}` : undefined, op.acr?.endsWith(':cached') ? 'served cached' : undefined].filter(Boolean)
  return `${kind} at ${op.client}${via.length > 0 ? ` (${via.join(', ')})` : ''}`
}
