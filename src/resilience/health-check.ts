import type { Logger } from '../log.js'
import { classifyUpstreamFailure } from '../upstream/failure.js'
import type { UpstreamRouter } from '../upstream/router.js'

/**
 * Active health checks: every `interval` each region is probed through its
 * breaker. A probe that fails transiently (classifyUpstreamFailure) opens a
 * closed breaker at once; an open breaker is left alone until opossum moves it
 * to half-open, when the next probe is the trial that closes (or re-opens) it.
 * A pinned (drill) breaker is not probed.
 */
export class HealthChecks {
  readonly #timers: NodeJS.Timeout[] = []
  readonly #inFlight = new Set<Promise<void>>()

  constructor (routers: Iterable<UpstreamRouter>, intervals: (provider: string) => number, log: Logger) {
    for (const router of routers) {
      const everyMs = Math.max(100, intervals(router.id) * 1000)
      for (const lane of router.lanes) {
        const tick = () => {
          if (lane.breaker.pinnedOpen || lane.breaker.state === 'open') return
          const wasClosed = lane.breaker.state === 'closed'
          const probe = router.probe(lane).catch((err) => {
            // A region that answers, even with a refusal, is up: only a transient failure is evidence of an outage.
            if (classifyUpstreamFailure(err) === 'fatal') {
              log.warn({ err, provider: router.id, region: lane.region.name }, 'health probe answered with a refusal; the region counts as up')
              return
            }
            log.warn({ err, provider: router.id, region: lane.region.name }, 'health probe failed')
            if (wasClosed) lane.breaker.probeFailed()
          }).finally(() => this.#inFlight.delete(probe))
          this.#inFlight.add(probe)
        }
        const timer = setInterval(tick, everyMs)
        timer.unref()
        this.#timers.push(timer)
        setImmediate(tick)
      }
    }
  }

  /** Stops probing and waits for probes in flight. */
  async stop (): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer)
    await Promise.allSettled([...this.#inFlight])
  }
}
