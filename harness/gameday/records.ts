import type { HttpSample } from './recording-browser.js'
import type { Outcome } from './flow-steps.js'

/** What a synthetic operation was: a new user's first login, a returning user's SSO login or refresh, an enrolled user's passkey login on a new device. */
export type OpKind = 'new' | 'sso' | 'refresh' | 'passkey'

/** One synthetic operation, start to end. */
export interface OpRecord {
  kind: OpKind
  client: string
  user: string
  start: number
  end: number
  outcome: Outcome
  acr?: string
  backend?: string
  upstreamRegion?: string
  /** A request of it was inside a gateway process when that process was SIGKILLed. */
  caughtInCrash?: true
  detail?: string
}

/** One attempt to use a revoked refresh token or a logged-out session. */
export interface ProbeRecord {
  at: number
  kind: 'revoked-refresh' | 'logged-out-session' | 'logged-out-refresh'
  user: string
  accepted: boolean
  outcome: Outcome
}

/** Everything the load driver saw, in arrival order. */
export class Recorder {
  readonly samples: HttpSample[] = []
  readonly ops: OpRecord[] = []
  readonly probes: ProbeRecord[] = []
  /** Ticks skipped because the driver was at its concurrency limit. */
  skipped: number[] = []

  sample (sample: HttpSample): void {
    this.samples.push(sample)
  }

  op (record: OpRecord): void {
    this.ops.push(record)
  }

  probe (record: ProbeRecord): void {
    this.probes.push(record)
  }
}

/** Records that started within [from, to). */
export function within<T extends { at?: number, start?: number }> (records: T[], from: number, to: number): T[] {
  return records.filter((r) => {
    const at = r.start ?? r.at ?? 0
    return at >= from && at < to
  })
}

/** The share of operations that ended `ok` (1 when there were none). */
export function successRate (ops: OpRecord[]): number {
  return ops.length === 0 ? 1 : ops.filter((o) => o.outcome === 'ok').length / ops.length
}

/** p50, p99 and max of the gateway's answers, in ms. */
export function latency (samples: HttpSample[]): { p50: number, p99: number, max: number } {
  const sorted = samples.filter((s) => s.target === 'gateway').map((s) => s.ms).sort((a, b) => a - b)
  const at = (q: number) => sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 }
}

/** Gateway answers ≥ 500 (the load balancer's 502/504 for a gateway included). */
export function http5xx (samples: HttpSample[]): number {
  return samples.filter((s) => s.target === 'gateway' && (s.status ?? 0) >= 500).length
}

/** Counts of each value of `key`. */
export function countBy<T> (items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}
