import type { BreakerState, BreakerTransition } from '../resilience/breaker.js'
import type { BreakerRegistry } from '../resilience/registry.js'
import type { OutageChange, OutageEventIds } from './event-id.js'
import type { NewOutageEvent } from './webhooks.js'

/**
 * Turns breaker transitions into outage events: `region.open` / `region.closed`
 * for each region, and `provider.degraded` / `provider.recovered` when the
 * provider as a whole becomes unavailable (every region open: new logins are
 * refused, returning users are served cached) and available again. Each is
 * emitted once its id is known: the one every pod gives that change (`ids`).
 */
export function watchOutages (breakers: BreakerRegistry, instance: string, ids: OutageEventIds, emit: (event: NewOutageEvent) => void): void {
  const unavailable = new Set<string>()
  const withId = (event: Omit<NewOutageEvent, 'id'> & OutageChange) => {
    void ids.idOf(event).then((id) => { emit({ id, ...event }) })
  }
  breakers.on('transition', (t: BreakerTransition) => {
    const siblings = breakers.forProvider(t.provider)
    const regions = Object.fromEntries(siblings.map((b) => [b.region, b.state]))
    const base = { instance, provider: t.provider, regions }
    // Only leaving closed is news: a failed half-open trial of a long outage would repeat it every reset timeout.
    if (t.to === 'open' && t.from === 'closed') withId({ ...base, type: 'region.open', region: t.region, message: `${t.provider}/${t.region} is open: ${t.reason}` })
    if (t.to === 'closed' && t.from !== 'closed') withId({ ...base, type: 'region.closed', region: t.region, message: `${t.provider}/${t.region} is closed again` })
    const allOpen = siblings.every((b) => b.state === ('open' as BreakerState))
    if (allOpen && !unavailable.has(t.provider)) {
      unavailable.add(t.provider)
      withId({ ...base, type: 'provider.degraded', message: `${t.provider} is unavailable: every region is open; returning users are served cached logins` })
    }
    if (!allOpen && t.to === 'closed' && unavailable.has(t.provider)) {
      unavailable.delete(t.provider)
      withId({ ...base, type: 'provider.recovered', message: `${t.provider} is available again through ${t.region}` })
    }
  })
}
