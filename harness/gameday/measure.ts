import type { Fault } from './faults.js'
import type { TimelineEntry } from './monitor.js'
import type { OpRecord } from './records.js'

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
  const wanted = fault.upstreamDown || step.upstreamAlreadyDown ? (o: OpRecord) => o.kind !== 'new' : (o: OpRecord) => o.kind === 'new'
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

/** "new login at shop via upstream secondary, gateway b" */
export function describeOp (op: OpRecord): string {
  const kind = op.kind === 'new' ? 'new login' : op.kind === 'sso' ? 'returning SSO login' : 'refresh'
  const via = [op.upstreamRegion ? `upstream ${op.upstreamRegion}` : undefined, op.backend ? `gateway-${op.backend}` : undefined, op.acr?.endsWith(':cached') ? 'served cached' : undefined].filter(Boolean)
  return `${kind} at ${op.client}${via.length > 0 ? ` (${via.join(', ')})` : ''}`
}
