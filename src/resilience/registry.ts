import { EventEmitter } from 'node:events'
import type { ProviderConfig } from '../config/resolve.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { RegionBreaker, type BreakerTransition } from './breaker.js'

/** Every provider region's breaker, and the stream of their transitions. */
export class BreakerRegistry extends EventEmitter<{ transition: [BreakerTransition] }> {
  readonly #breakers = new Map<string, RegionBreaker>()

  constructor (providers: ProviderConfig[], deps: { metrics: Metrics, log: Logger }) {
    super()
    for (const provider of providers) {
      for (const region of provider.regions) {
        const breaker = new RegionBreaker(provider.id, region.name, provider.breaker, {
          metrics: deps.metrics,
          onTransition: (transition) => {
            const level = transition.to === 'open' ? 'warn' : 'info'
            deps.log[level]({ provider: transition.provider, region: transition.region, from: transition.from, to: transition.to, reason: transition.reason }, 'breaker state changed')
            this.emit('transition', transition)
          },
        })
        this.#breakers.set(key(provider.id, region.name), breaker)
      }
    }
  }

  /** The breaker of one provider region. */
  get (provider: string, region: string): RegionBreaker | undefined {
    return this.#breakers.get(key(provider, region))
  }

  /** A provider's breakers, in config (region) order. */
  forProvider (provider: string): RegionBreaker[] {
    return [...this.#breakers.values()].filter((b) => b.provider === provider)
  }

  /** Every breaker, in config order. */
  all (): RegionBreaker[] {
    return [...this.#breakers.values()]
  }

  /** Stops every breaker's timers. */
  shutdown (): void {
    for (const breaker of this.#breakers.values()) breaker.shutdown()
  }
}

function key (provider: string, region: string): string {
  return `${provider}\u0000${region}`
}
