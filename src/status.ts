import type { PublicHealthReport } from './health.js'
import type { Incident } from './resilience/incidents.js'

/** The public status document (DESIGN §9): what relying sites and their users may know. */
export interface StatusDocument {
  status: 'ok' | 'degraded' | 'down'
  updatedAt: string
  providers: Array<{ id: string, status: 'ok' | 'degraded' | 'unavailable', regions: Array<{ name: string, state: 'closed' | 'open', since: string }> }>
  incidents: Array<{ id: string, provider: string, status: 'ongoing' | 'resolved', startedAt: string, endedAt?: string, summary: string }>
}

const PUBLIC_INCIDENTS = 10

/**
 * Builds the status document from the public health report (a region is down
 * from when it went down until it closes) and the incidents; incident details
 * stay on the admin port, only summaries are public.
 */
export function statusDocument (health: PublicHealthReport, incidents: Incident[], updatedAt: Date): StatusDocument {
  const providers = Object.entries(health.providers).map(([id, provider]) => {
    const regions = Object.entries(provider.regions).map(([name, { state, since }]) => ({ name, state, since }))
    const status = regions.every((r) => r.state === 'open') ? 'unavailable' as const : regions.every((r) => r.state === 'closed') ? 'ok' as const : 'degraded' as const
    return { id, status, regions }
  })
  return {
    status: health.status,
    updatedAt: updatedAt.toISOString(),
    providers,
    incidents: incidents.slice(0, PUBLIC_INCIDENTS).map((incident) => ({
      id: incident.id,
      provider: incident.provider,
      status: incident.status,
      startedAt: incident.startedAt,
      ...(incident.endedAt ? { endedAt: incident.endedAt } : {}),
      summary: summary(incident),
    })),
  }
}

/** One sentence on what users saw, with the backup logins that kept people in when there were any. */
function summary (incident: Incident): string {
  const what = incident.degraded.length > 0
    ? `${incident.provider} was unavailable; returning users kept logging in from cached sessions`
    : `${incident.provider} lost a region; logins moved to another region`
  const backup = incident.impact.backupLogins
  return backup === 0 ? what : `${what}; ${backup} backup login${backup === 1 ? '' : 's'} (a passkey or another provider)`
}
