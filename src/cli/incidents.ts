import { parseArgs } from 'node:util'
import type { Incident, IncidentEvent } from '../resilience/incidents.js'

const USAGE = 'usage: understudy incidents --admin-url URL [--token T] [--format md|json] [--incident ID]\n'
const FETCH_TIMEOUT_MS = 10_000

/** The post-mortem draft: what `understudy incidents` prints. */
export interface PostMortemDraft {
  generatedAt: string
  source: string
  summary: { incidents: number, ongoing: number, providers: string[], firstStartedAt: string | null, lastEndedAt: string | null }
  impact: { cachedLogins: number, unavailableLogins: number, backupLogins: number, failovers: number, affectedClients: string[], degradedMs: number }
  incidents: Incident[]
  rootCause: string
  actionItems: Array<{ action: string, owner: string, due: string }>
}

/**
 * `understudy incidents`: reads GET /admin/incidents from a gateway and
 * prints a post-mortem draft (summary, impact figures, timeline, and blank
 * sections for the root cause and action items), as Markdown or JSON.
 */
export async function incidentsCommand (args: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  let adminUrl: string
  let token: string | undefined
  let format: 'md' | 'json'
  let only: string | undefined
  try {
    const { values } = parseArgs({ args, strict: true, options: { 'admin-url': { type: 'string' }, token: { type: 'string' }, format: { type: 'string', default: 'md' }, incident: { type: 'string' } } })
    if (!values['admin-url']) throw new Error('--admin-url is required (the gateway\'s admin listener, e.g. http://127.0.0.1:9090)')
    adminUrl = new URL(values['admin-url']).href.replace(/\/+$/, '')
    token = values.token ?? process.env.UNDERSTUDY_ADMIN_TOKEN
    if (values.format !== 'md' && values.format !== 'json') throw new Error(`--format must be md or json, not ${JSON.stringify(values.format)}`)
    format = values.format
    only = values.incident
  } catch (err) {
    stderr.write(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  let incidents: Incident[]
  try {
    incidents = await fetchIncidents(adminUrl, token)
  } catch (err) {
    stderr.write(`cannot read ${adminUrl}/admin/incidents: ${(err as Error).message}\n`)
    return 1
  }
  if (only !== undefined) {
    incidents = incidents.filter((i) => i.id === only)
    if (incidents.length === 0) {
      stderr.write(`no incident ${JSON.stringify(only)} at ${adminUrl}\n`)
      return 1
    }
  }
  const draft = postMortemDraft(incidents, adminUrl)
  stdout.write(format === 'json' ? JSON.stringify(draft, null, 2) + '\n' : renderPostMortem(draft))
  return 0
}

async function fetchIncidents (adminUrl: string, token: string | undefined): Promise<Incident[]> {
  const response = await fetch(`${adminUrl}/admin/incidents`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  })
  if (response.status === 401) throw new Error('401: the admin token is missing or wrong (--token or $UNDERSTUDY_ADMIN_TOKEN)')
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  const body = await response.json() as { incidents?: Incident[] }
  if (!Array.isArray(body.incidents)) throw new Error('the answer has no incidents list')
  return body.incidents
}

/** Summary and impact over `incidents` (newest first, as the admin API lists them). */
export function postMortemDraft (incidents: Incident[], source: string, now = new Date()): PostMortemDraft {
  const starts = incidents.map((i) => i.startedAt).sort()
  const ends = incidents.map((i) => i.endedAt).filter((e): e is string => e !== undefined).sort()
  const clients = new Set(incidents.flatMap((i) => i.impact.affectedClients))
  const degradedMs = incidents.flatMap((i) => i.degraded).reduce((sum, d) => sum + ((d.end ? Date.parse(d.end) : now.getTime()) - Date.parse(d.start)), 0)
  return {
    generatedAt: now.toISOString(),
    source,
    summary: {
      incidents: incidents.length,
      ongoing: incidents.filter((i) => i.status === 'ongoing').length,
      providers: [...new Set(incidents.map((i) => i.provider))],
      firstStartedAt: starts[0] ?? null,
      lastEndedAt: incidents.some((i) => i.status === 'ongoing') ? null : ends.at(-1) ?? null,
    },
    impact: {
      cachedLogins: sum(incidents, (i) => i.impact.cachedLogins),
      unavailableLogins: sum(incidents, (i) => i.impact.unavailableLogins),
      // Incidents read from a gateway that predates backup login have no such figure.
      backupLogins: sum(incidents, (i) => i.impact.backupLogins ?? 0),
      failovers: sum(incidents, (i) => i.impact.failovers),
      affectedClients: [...clients].sort(),
      degradedMs,
    },
    incidents,
    rootCause: '',
    actionItems: [],
  }
}

/** The draft as Markdown, ready to be completed by the people who handled the incident. */
export function renderPostMortem (d: PostMortemDraft): string {
  const s = d.summary
  const lines = [
    `# Post-mortem (draft): ${s.providers.length > 0 ? s.providers.join(', ') : 'no'} upstream incident${s.incidents === 1 ? '' : 's'}`,
    '',
    `_Generated ${d.generatedAt} from ${d.source}/admin/incidents. Figures are what the gateways recorded; complete the sections marked TODO._`,
    '',
    '## Summary',
    '',
  ]
  if (s.incidents === 0) {
    lines.push('No incidents recorded.', '')
  } else {
    lines.push(
      `- Incidents: ${s.incidents} (${s.ongoing} ongoing)`,
      `- Started: ${s.firstStartedAt}`,
      `- Ended: ${s.lastEndedAt ?? 'still ongoing'}`,
      `- Time degraded (every region of a provider open on an instance, summed over instances): ${(d.impact.degradedMs / 1000).toFixed(1)} s`,
      '',
    )
  }
  lines.push(
    '## Impact',
    '',
    '| logins served from the cached session | logins served by a backup method (passkey, linked provider) | logins refused (temporarily_unavailable) | region failovers | affected clients |',
    '|---|---|---|---|---|',
    `| ${d.impact.cachedLogins} | ${d.impact.backupLogins} | ${d.impact.unavailableLogins} | ${d.impact.failovers} | ${d.impact.affectedClients.join(', ') || 'none'} |`,
    '',
    '## Timeline',
    '',
  )
  for (const incident of [...d.incidents].reverse()) {
    lines.push(`### ${incident.id} (${incident.provider}, ${incident.status})`, '')
    for (const interval of incident.degraded) lines.push(`- Degraded on ${interval.instance}: ${interval.start} to ${interval.end ?? 'ongoing'}`)
    if (incident.degraded.length > 0) lines.push('')
    lines.push('| time (UTC) | instance | event |', '|---|---|---|', ...incident.timeline.map(row), '')
  }
  lines.push(
    '## Root cause',
    '',
    'TODO: what failed, and why the failure reached users (or did not).',
    '',
    '## What went well, what went badly',
    '',
    'TODO',
    '',
    '## Action items',
    '',
    '| action | owner | due |',
    '|---|---|---|',
    '| TODO | | |',
    '',
  )
  return lines.join('\n')
}

function row (e: IncidentEvent): string {
  return `| ${e.at} | ${e.instance} | ${e.kind}: ${e.message.replace(/\|/g, '\\|')} |`
}

function sum (incidents: Incident[], value: (i: Incident) => number): number {
  return incidents.reduce((total, i) => total + value(i), 0)
}
