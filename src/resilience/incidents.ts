import type { SharedDocuments } from '../store/store.js'

/**
 * The incident timeline. Every instance appends small events (breaker
 * transitions, failovers, faults, login impact) to an event log — shared
 * through the store when it is Redis — and incidents are derived from the log
 * when read, so every instance tells the same story.
 */

export type IncidentEventKind = 'breaker' | 'failover' | 'impact' | 'fault' | 'drain' | 'policy'

export interface IncidentEvent {
  /** ISO time. */
  at: string
  kind: IncidentEventKind
  /** The gateway instance (its region) that saw it. */
  instance: string
  provider?: string
  region?: string
  message: string
  data?: Record<string, unknown>
}

export interface Incident {
  id: string
  provider: string
  status: 'ongoing' | 'resolved'
  startedAt: string
  endedAt?: string
  /** Intervals during which some instance had every region of the provider open: logins served cached or refused. */
  degraded: Array<{ start: string, end?: string, instance: string }>
  impact: { cachedLogins: number, unavailableLogins: number, failovers: number, affectedClients: string[] }
  timeline: IncidentEvent[]
}

/** Where events go: memory for one instance, the shared store for a fleet. */
export interface EventLog {
  append (event: IncidentEvent): Promise<void>
  /** The most recent `limit` events, oldest first. */
  read (limit: number): Promise<IncidentEvent[]>
}

const STREAM = 'incident-events'

/** The event log in the store's shared stream: Redis for a fleet, memory for one instance. */
export class SharedEventLog implements EventLog {
  constructor (readonly shared: SharedDocuments, readonly capacity = 5000) {}

  async append (event: IncidentEvent): Promise<void> {
    await this.shared.append(STREAM, JSON.stringify(event), this.capacity)
  }

  async read (limit: number): Promise<IncidentEvent[]> {
    return (await this.shared.tail(STREAM, limit)).flatMap((line) => {
      try {
        return [JSON.parse(line) as IncidentEvent]
      } catch {
        return []
      }
    })
  }
}

interface ProviderTrack { incident: Incident, states: Map<string, string>, degradedSince: Map<string, number> }

/**
 * Derives incidents from events, oldest first. An incident opens when any
 * region of a provider leaves `closed` on any instance and resolves when every
 * region is `closed` again everywhere. Events outside an incident that name no
 * provider (drains, store faults) stand alone in the timeline of any incident they fall in.
 */
export function deriveIncidents (events: IncidentEvent[], regionsOf: (provider: string) => string[]): Incident[] {
  const incidents: Incident[] = []
  const tracks = new Map<string, ProviderTrack>()
  const ongoing = () => [...tracks.values()].map((t) => t.incident)
  for (const event of events) {
    if (!event.provider) {
      for (const incident of ongoing()) incident.timeline.push(event)
      continue
    }
    let track = tracks.get(event.provider)
    if (event.kind === 'breaker' && !track && event.data?.to !== 'closed') {
      const incident: Incident = {
        id: `${event.provider}-${event.at.replace(/[^0-9]/g, '').slice(0, 14)}`,
        provider: event.provider,
        status: 'ongoing',
        startedAt: event.at,
        degraded: [],
        impact: { cachedLogins: 0, unavailableLogins: 0, failovers: 0, affectedClients: [] },
        timeline: [],
      }
      track = { incident, states: new Map(), degradedSince: new Map() }
      tracks.set(event.provider, track)
      incidents.push(incident)
    }
    if (!track) continue
    const { incident } = track
    incident.timeline.push(event)
    if (event.kind === 'failover') incident.impact.failovers++
    if (event.kind === 'impact') addImpact(incident, event.data ?? {})
    if (event.kind !== 'breaker' || !event.region) continue
    track.states.set(`${event.instance}\u0000${event.region}`, String(event.data?.to))
    const regions = regionsOf(event.provider)
    const allOpen = regions.length > 0 && regions.every((r) => track!.states.get(`${event.instance}\u0000${r}`) === 'open')
    const degraded = incident.degraded.find((d) => d.instance === event.instance && d.end === undefined)
    if (allOpen && !degraded) incident.degraded.push({ start: event.at, instance: event.instance })
    if (!allOpen && degraded) degraded.end = event.at
    if ([...track.states.values()].every((s) => s === 'closed')) {
      incident.status = 'resolved'
      incident.endedAt = event.at
      tracks.delete(event.provider)
    }
  }
  return incidents.reverse()
}

function addImpact (incident: Incident, data: Record<string, unknown>): void {
  for (const [client, counts] of Object.entries(data)) {
    const { cached = 0, unavailable = 0 } = counts as { cached?: number, unavailable?: number }
    incident.impact.cachedLogins += cached
    incident.impact.unavailableLogins += unavailable
    if ((cached > 0 || unavailable > 0) && !incident.impact.affectedClients.includes(client)) incident.impact.affectedClients.push(client)
  }
}
