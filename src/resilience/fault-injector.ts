import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseDuration } from '../config/duration.js'
import { UnderstudyError } from '../errors.js'
import { randomId } from '../sessions/random.js'

/** The longest a fault may last (seconds): a forgotten game day ends by itself within a day. */
export const MAX_FAULT_SECONDS = 86_400
/** The most latency a fault may add to one call (seconds); every breaker timeout is shorter. */
export const MAX_FAULT_LATENCY_SECONDS = 60

const DurationInput = Type.Union([Type.Number(), Type.String({ maxLength: 32 })])

/** A fault request as the admin API takes it (only when `chaos.enabled`); durations as in the config file. */
export const FaultSpecSchema = Type.Object({
  target: Type.Union([
    Type.Object({ provider: Type.String({ minLength: 1 }), region: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    Type.Object({ store: Type.Literal('local') }, { additionalProperties: false }),
  ]),
  kind: Type.Union([Type.Literal('latency'), Type.Literal('error'), Type.Literal('blackhole')]),
  latency: Type.Optional(DurationInput),
  status: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
  duration: DurationInput,
}, { additionalProperties: false })

export type FaultSpec = Static<typeof FaultSpecSchema>
type Target = FaultSpec['target']

/** A fault in force: what it hits, what it does, until when. */
export interface ActiveFault {
  id: string
  target: Target
  kind: 'latency' | 'error' | 'blackhole'
  latencyMs?: number
  status?: number
  createdAt: string
  expiresAt: string
}

/** One thing wrong with a fault request: a JSON pointer into it and the rule it breaks. */
export interface FaultProblem { path: string, message: string }

/** The outcome of adding a fault: the fault now in force, or every problem found in the request. */
export type FaultResult = { ok: true, fault: ActiveFault } | { ok: false, problems: FaultProblem[] }

/**
 * Run-time fault injection for game days: latency, errors or a blackhole on a
 * provider region's calls or on this region's Redis, each with an expiry.
 * Each fault applies where a real outage would strike: upstream calls consult
 * it inside their breaker, and store faults inside the Redis layer's breaker,
 * below the in-process fallback, so an injected store fault is a Redis outage
 * and never switches off what the fallback still guards (single use, reuse
 * detection, tombstones).
 */
export class FaultInjector {
  readonly #faults = new Map<string, ActiveFault & { until: number }>()
  readonly #storeLayers = new Set<string>()

  /** Validates and adds a fault; every problem of an invalid request is returned, none is thrown. */
  add (spec: unknown): FaultResult {
    const problems: FaultProblem[] = [...Value.Errors(FaultSpecSchema, spec)].map((e) => ({ path: e.path || '/', message: e.message }))
    if (problems.length > 0) return { ok: false, problems }
    const s = spec as FaultSpec
    const durationSec = bounded(s.duration, '/duration', MAX_FAULT_SECONDS, problems)
    const latencySec = s.latency === undefined ? undefined : bounded(s.latency, '/latency', MAX_FAULT_LATENCY_SECONDS, problems, true)
    if (s.kind === 'latency' && s.latency === undefined) problems.push({ path: '/latency', message: 'a latency fault needs latency' })
    if ('store' in s.target && !this.#storeLayers.has(s.target.store)) {
      problems.push({ path: '/target/store', message: 'no store layer here can fail: store faults need store.kind redis (store.kind memory keeps everything in this process, and it cannot be taken away)' })
    }
    if (problems.length > 0 || durationSec === undefined) return { ok: false, problems }
    const now = Date.now()
    const fault = {
      id: randomId(6),
      target: s.target,
      kind: s.kind,
      ...(latencySec === undefined ? {} : { latencyMs: latencySec * 1000 }),
      ...(s.kind === 'error' ? { status: s.status ?? 503 } : {}),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + durationSec * 1000).toISOString(),
      until: now + durationSec * 1000,
    }
    this.#faults.set(fault.id, fault)
    return { ok: true, fault: view(fault) }
  }

  /** Removes one fault; false when there was none with that id. */
  remove (id: string): boolean {
    return this.#faults.delete(id)
  }

  /** Removes every fault. */
  clear (): void {
    this.#faults.clear()
  }

  /** Faults in force now. */
  list (): ActiveFault[] {
    return this.#live().map(view)
  }

  /** Applies the faults for a provider region before its call goes out. */
  async beforeUpstream (provider: string, region: string, signal: AbortSignal): Promise<void> {
    await this.#apply((t) => 'provider' in t && t.provider === provider && t.region === region, signal, `${provider}/${region}`)
  }

  /**
   * The hook the store layer `layer` runs before each of its commands, inside
   * its breaker; from now on store faults on `layer` are accepted. `signal`
   * is the command's deadline: a held command gives up as a timed-out one would.
   */
  storeHook (layer: 'local'): (signal: AbortSignal) => Promise<void> {
    this.#storeLayers.add(layer)
    return (signal) => this.#apply((t) => 'store' in t && t.store === layer, signal, `store ${layer}`)
  }

  async #apply (matches: (target: Target) => boolean, signal: AbortSignal, what: string): Promise<void> {
    for (const fault of this.#live()) {
      if (!matches(fault.target)) continue
      if (fault.kind === 'latency') await sleep(fault.latencyMs ?? 0, signal)
      if (fault.kind === 'blackhole') await sleep(fault.until - Date.now(), signal)
      if (fault.kind === 'error' || fault.kind === 'blackhole') {
        throw new UnderstudyError(fault.kind === 'error' ? 'US_ERR_UPSTREAM_HTTP' : 'US_ERR_UPSTREAM_TIMEOUT', `injected ${fault.kind} on ${what}`, { details: { status: fault.status, injected: true } })
      }
    }
  }

  #live (): Array<ActiveFault & { until: number }> {
    const now = Date.now()
    for (const [id, fault] of this.#faults) if (fault.until <= now) this.#faults.delete(id)
    return [...this.#faults.values()]
  }
}

/** A duration within (0, max] seconds (zero allowed for a latency), whichever form it was written in; undefined with a problem otherwise. */
function bounded (value: number | string, path: string, max: number, problems: FaultProblem[], zero = false): number | undefined {
  let seconds: number
  try {
    seconds = parseDuration(value)
  } catch {
    problems.push({ path, message: 'not a duration: a number of seconds, or a string like 500ms, 90s, 10m, 8h' })
    return undefined
  }
  if (!Number.isFinite(seconds) || seconds < 0 || (seconds === 0 && !zero)) {
    problems.push({ path, message: zero ? 'must not be negative' : 'must be positive' })
    return undefined
  }
  if (seconds > max) {
    problems.push({ path, message: `at most ${max} s` })
    return undefined
  }
  return seconds
}

function view ({ until: _until, ...fault }: ActiveFault & { until: number }): ActiveFault {
  return fault
}

/** Waits `ms`, or until `signal` aborts (then rejects, as a timed-out call would). */
function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'aborted'))
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, Math.max(0, ms))
    const onAbort = () => { clearTimeout(timer); reject(new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'aborted while a fault held the call')) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
