import { Type, type Static } from '@sinclair/typebox'
import { parseDocument, type OnDocumentRejected } from '../store/documents.js'
import type { SharedDocuments } from '../store/store.js'

/**
 * The incident timeline. Every instance appends small events (breaker
 * transitions, failovers, faults, login impact) to an event log — shared
 * through the store when it is Redis — and incidents are derived from the log
 * when read, so every instance tells the same story.
 */

const EventFields = {
  /** ISO time. */
  at: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}' }),
  /** The gateway instance (its region) that saw it. */
  instance: Type.String(),
  provider: Type.Optional(Type.String({ minLength: 1 })),
  region: Type.Optional(Type.String({ minLength: 1 })),
  message: Type.String(),
}
// backup is absent from the events of gateways that predate backup login (a fleet mid-upgrade shares one log).
const ImpactCounts = Type.Object({ cached: Type.Integer({ minimum: 0 }), unavailable: Type.Integer({ minimum: 0 }), backup: Type.Optional(Type.Integer({ minimum: 0 })) })
/** One client's logins an outage touched, in one impact event: served cached, refused, or served by a backup method. */
export type ImpactCounts = Static<typeof ImpactCounts>
const OtherKind = Type.Union([Type.Literal('breaker'), Type.Literal('failover'), Type.Literal('fault'), Type.Literal('drain'), Type.Literal('policy')])

/** An event as it is written to the log and checked when read back: impact events carry login counts per client. */
export const IncidentEventSchema = Type.Union([
  Type.Object({ ...EventFields, kind: Type.Literal('impact'), data: Type.Optional(Type.Record(Type.String(), ImpactCounts)) }),
  Type.Object({ ...EventFields, kind: OtherKind, data: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }),
])

export type IncidentEvent = Static<typeof IncidentEventSchema>
export type IncidentEventKind = IncidentEvent['kind']
/** An event as a recorder is given it: the recorder stamps the time and instance. */
export type NewIncidentEvent = IncidentEvent extends infer E ? E extends IncidentEvent ? Omit<E, 'at' | 'instance'> : never : never

export interface Incident {
  id: string
  provider: string
  status: 'ongoing' | 'resolved'
  startedAt: string
  endedAt?: string
  /** Intervals during which some instance had every region of the provider open: logins served cached or refused. */
  degraded: Array<{ start: string, end?: string, instance: string }>
  /** Logins the outage touched: served from the cached session, refused, or served by a backup method (passkey, linked provider). */
  impact: { cachedLogins: number, unavailableLogins: number, backupLogins: number, failovers: number, affectedClients: string[] }
  timeline: IncidentEvent[]
}

/** Where events go: memory for one instance, the shared store for a fleet. */
export interface EventLog {
  append (event: IncidentEvent): Promise<void>
  /** The most recent `limit` events, oldest first. */
  read (limit: number): Promise<IncidentEvent[]>
}

const STREAM = 'incident-events'

// Bad lines stay in the stream until newer events push them out: each is reported once, not at every read.
const REPORTED_LIMIT = 1000

/** The event log in the store's shared stream: Redis for a fleet, memory for one instance. Lines that fail the event schema are reported and skipped. */
export class SharedEventLog implements EventLog {
  readonly #reported = new Set<string>()

  readonly shared: SharedDocuments
  readonly onRejected: OnDocumentRejected
  readonly capacity: number
  constructor (shared: SharedDocuments, onRejected: OnDocumentRejected, capacity = 5000) {
    this.shared = shared
    this.onRejected = onRejected
    this.capacity = capacity
  }

  async append (event: IncidentEvent): Promise<void> {
    await this.shared.append(STREAM, JSON.stringify(event), this.capacity)
  }

  async read (limit: number): Promise<IncidentEvent[]> {
    return (await this.shared.tail(STREAM, limit)).flatMap((line) => {
      const parsed = parseDocument(IncidentEventSchema, line)
      if (parsed.ok) return [parsed.value]
      if (!this.#reported.has(line)) {
        if (this.#reported.size >= REPORTED_LIMIT) this.#reported.clear()
        this.#reported.add(line)
        this.onRejected({ kind: 'incident-event', key: STREAM, problem: parsed.problem })
      }
      return []
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
        impact: { cachedLogins: 0, unavailableLogins: 0, backupLogins: 0, failovers: 0, affectedClients: [] },
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

function addImpact (incident: Incident, data: Record<string, ImpactCounts>): void {
  for (const [client, { cached, unavailable, backup = 0 }] of Object.entries(data)) {
    incident.impact.cachedLogins += cached
    incident.impact.unavailableLogins += unavailable
    incident.impact.backupLogins += backup
    if ((cached > 0 || unavailable > 0 || backup > 0) && !incident.impact.affectedClients.includes(client)) incident.impact.affectedClients.push(client)
  }
}
