import type { Gateway } from './gateway.js'
import { healthReport } from './health.js'
import type { Lifecycle } from './lifecycle.js'
import type { BreakerState } from './resilience/breaker.js'

/** The public status document (DESIGN §9): what relying sites and their users may know. */
export interface StatusDocument {
  status: 'ok' | 'degraded' | 'down'
  updatedAt: string
  providers: Array<{ id: string, status: 'ok' | 'degraded' | 'unavailable', regions: Array<{ name: string, state: BreakerState, since: string }> }>
  incidents: Array<{ id: string, provider: string, status: 'ongoing' | 'resolved', startedAt: string, endedAt?: string, summary: string }>
}

const PUBLIC_INCIDENTS = 10

/** Builds the status document; incident details stay on the admin port, only summaries are public. */
export async function statusDocument (gw: Gateway, lifecycle: Lifecycle): Promise<StatusDocument> {
  const health = await healthReport(gw, lifecycle)
  const providers = [...gw.upstreams.values()].map((router) => {
    const regions = router.lanes.map((lane) => ({ name: lane.region.name, state: lane.breaker.state, since: new Date(lane.breaker.since).toISOString() }))
    const status = regions.every((r) => r.state === 'open') ? 'unavailable' as const : regions.every((r) => r.state === 'closed') ? 'ok' as const : 'degraded' as const
    return { id: router.id, status, regions }
  })
  const incidents = (await gw.incidents.incidents()).slice(0, PUBLIC_INCIDENTS).map((incident) => ({
    id: incident.id,
    provider: incident.provider,
    status: incident.status,
    startedAt: incident.startedAt,
    ...(incident.endedAt ? { endedAt: incident.endedAt } : {}),
    summary: incident.degraded.length > 0
      ? `${incident.provider} was unavailable; returning users kept logging in from cached sessions`
      : `${incident.provider} lost a region; logins moved to another region`,
  }))
  return { status: health.status, updatedAt: new Date().toISOString(), providers, incidents }
}
