import type { BreakerPolicy } from '../config/resolve.js'
import type { Logger } from '../log.js'
import type { SharedDocuments } from '../store/store.js'
import type { BreakerRegistry } from './registry.js'

const DOCUMENT = 'breaker-policies'
const POLL_MS = 2_000

type Overrides = Record<string, { policy: BreakerPolicy, since: string }>

/**
 * Live breaker policy overrides, kept in the store's shared documents so that
 * a change made on one instance reaches every instance sharing the store
 * (each polls every two seconds) and survives restarts until it is reset.
 * With the memory store this is one instance's business only.
 */
export class PolicyOverrides {
  readonly #breakers: BreakerRegistry
  readonly #shared: SharedDocuments
  readonly #configured: (provider: string) => BreakerPolicy | undefined
  readonly #log: Logger
  readonly #timer: NodeJS.Timeout
  #applied = '{}'

  constructor (breakers: BreakerRegistry, shared: SharedDocuments, configured: (provider: string) => BreakerPolicy | undefined, log: Logger) {
    this.#breakers = breakers
    this.#shared = shared
    this.#configured = configured
    this.#log = log
    this.#timer = setInterval(() => { void this.sync() }, POLL_MS)
    this.#timer.unref()
  }

  /** Overrides `provider/region`'s policy everywhere; returns the policy it replaced. */
  async set (provider: string, region: string, policy: BreakerPolicy): Promise<BreakerPolicy> {
    const breaker = this.#breakers.get(provider, region)!
    const since = new Date().toISOString()
    const old = breaker.setPolicy(policy, { kind: 'override', since })
    await this.#update((overrides) => { overrides[key(provider, region)] = { policy, since } })
    return old
  }

  /** Returns `provider/region` to the config's policy everywhere; returns the policy it replaced. */
  async reset (provider: string, region: string): Promise<BreakerPolicy> {
    const breaker = this.#breakers.get(provider, region)!
    const old = breaker.setPolicy(this.#configured(provider)!, { kind: 'config' })
    await this.#update((overrides) => { delete overrides[key(provider, region)] })
    return old
  }

  /** Applies the shared overrides to this instance's breakers (at start, then every poll). */
  async sync (): Promise<void> {
    let text: string | undefined
    try {
      text = await this.#shared.get(DOCUMENT) ?? '{}'
    } catch (err) {
      this.#log.debug({ err }, 'breaker policy overrides unavailable; keeping the current ones')
      return
    }
    if (text === this.#applied) return
    this.#applied = text
    const overrides = parse(text)
    for (const breaker of this.#breakers.all()) {
      const override = overrides[key(breaker.provider, breaker.region)]
      const source = breaker.policySource
      if (override && (source.kind !== 'override' || source.since !== override.since)) {
        breaker.setPolicy(override.policy, { kind: 'override', since: override.since })
        this.#log.info({ provider: breaker.provider, region: breaker.region, policy: override.policy }, 'breaker policy override applied from the shared store')
      } else if (!override && source.kind === 'override') {
        breaker.setPolicy(this.#configured(breaker.provider)!, { kind: 'config' })
        this.#log.info({ provider: breaker.provider, region: breaker.region }, 'breaker policy override removed in the shared store')
      }
    }
  }

  /** Stops polling. */
  close (): void {
    clearInterval(this.#timer)
  }

  async #update (change: (overrides: Overrides) => void): Promise<void> {
    const overrides = parse(await this.#shared.get(DOCUMENT).catch(() => undefined) ?? '{}')
    change(overrides)
    const text = JSON.stringify(overrides)
    await this.#shared.set(DOCUMENT, text)
    this.#applied = text
  }
}

function key (provider: string, region: string): string {
  return `${provider}/${region}`
}

function parse (text: string): Overrides {
  try {
    const value = JSON.parse(text) as unknown
    return value !== null && typeof value === 'object' ? value as Overrides : {}
  } catch {
    return {}
  }
}
