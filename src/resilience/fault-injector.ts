import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseDuration } from '../config/duration.js'
import { UnderstudyError } from '../errors.js'
import { randomId } from '../sessions/random.js'

/** A fault request as the admin API takes it (only when `chaos.enabled`). */
export const FaultSpecSchema = Type.Object({
  target: Type.Union([
    Type.Object({ provider: Type.String({ minLength: 1 }), region: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    Type.Object({ store: Type.Literal('local') }, { additionalProperties: false }),
  ]),
  kind: Type.Union([Type.Literal('latency'), Type.Literal('error'), Type.Literal('blackhole')]),
  latency: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.String()])),
  status: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
  duration: Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 86400 }), Type.String()]),
}, { additionalProperties: false })

export type FaultSpec = Static<typeof FaultSpecSchema>

/** A fault in force: what it hits, what it does, until when. */
export interface ActiveFault {
  id: string
  target: { provider: string, region: string } | { store: 'local' }
  kind: 'latency' | 'error' | 'blackhole'
  latencyMs?: number
  status?: number
  createdAt: string
  expiresAt: string
}

/**
 * Run-time fault injection for game days: latency, errors or a blackhole on a
 * provider region's calls or on the store, each with an expiry. Calls consult
 * it just before they go out, inside the breaker, so breakers see the faults
 * exactly as they would see a real outage.
 */
export class FaultInjector {
  readonly #faults = new Map<string, ActiveFault & { until: number }>()

  /** Validates and adds a fault; throws with every problem when the spec is invalid. */
  add (spec: unknown): ActiveFault {
    const problems = [...Value.Errors(FaultSpecSchema, spec)].map((e) => `${e.path || '/'}: ${e.message}`)
    if (problems.length === 0) {
      const s = spec as FaultSpec
      try {
        const durationSec = parseDuration(s.duration)
        const latencyMs = s.latency === undefined ? undefined : parseDuration(s.latency) * 1000
        if (s.kind === 'latency' && latencyMs === undefined) problems.push('/latency: a latency fault needs latency')
        if (problems.length === 0) {
          const now = Date.now()
          const fault = {
            id: randomId(6),
            target: s.target,
            kind: s.kind,
            ...(latencyMs === undefined ? {} : { latencyMs }),
            ...(s.kind === 'error' ? { status: s.status ?? 503 } : {}),
            createdAt: new Date(now).toISOString(),
            expiresAt: new Date(now + durationSec * 1000).toISOString(),
            until: now + durationSec * 1000,
          }
          this.#faults.set(fault.id, fault)
          return view(fault)
        }
      } catch (err) {
        problems.push(`/: ${(err as Error).message}`)
      }
    }
    throw new UnderstudyError('US_ERR_CONFIG_INVALID', 'invalid fault', { details: { problems } })
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

  /** Applies the faults on the store before a store call. */
  async beforeStore (signal?: AbortSignal): Promise<void> {
    await this.#apply((t) => 'store' in t, signal, 'store')
  }

  async #apply (matches: (target: ActiveFault['target']) => boolean, signal: AbortSignal | undefined, what: string): Promise<void> {
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

function view ({ until: _until, ...fault }: ActiveFault & { until: number }): ActiveFault {
  return fault
}

/** Waits `ms`, or until `signal` aborts (then rejects, as a timed-out call would). */
function sleep (ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'aborted'))
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, Math.max(0, ms))
    const onAbort = () => { clearTimeout(timer); reject(new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT', 'aborted while a fault held the call')) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
