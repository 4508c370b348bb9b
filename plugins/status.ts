import type { FastifyPluginAsync } from 'fastify'
import type { StatusDocument } from '../src/status.js'
import { HTML_SECURITY_HEADERS, escapeHtml } from './html.js'

export const STATUS_REFRESH_SECONDS = 10

/** The public status page (`/status`, HTML, refreshing itself) and its JSON (`/status.json`), both from one snapshot (PublicStatus). */
const status: FastifyPluginAsync = async (app) => {
  app.get('/status.json', async (_request, reply) => {
    return reply.header('cache-control', 'no-store').send(await app.publicStatus.status())
  })
  // `?refresh=N` (2–300 s) lets a wallboard refresh faster or slower than the default.
  // A person reads it: its errors (a 429 included) are a page too.
  app.get<{ Querystring: { refresh?: string } }>('/status', { config: { html: true } }, async (request, reply) => {
    const asked = Number(request.query.refresh)
    const refresh = Number.isInteger(asked) && asked >= 2 && asked <= 300 ? asked : STATUS_REFRESH_SECONDS
    const doc = await app.publicStatus.status()
    return reply.headers(HTML_SECURITY_HEADERS).type('text/html; charset=utf-8').send(renderStatus(doc, app.gateway.config.issuer, refresh))
  })
}

const LABEL: Record<string, string> = { ok: 'Operational', degraded: 'Degraded', down: 'Down', unavailable: 'Unavailable', closed: 'Up', open: 'Down', ongoing: 'Ongoing', resolved: 'Resolved' }
const TONE: Record<string, string> = { ok: 'good', closed: 'good', resolved: 'good', degraded: 'warn', ongoing: 'warn', open: 'bad', unavailable: 'bad', down: 'bad' }

const STYLE = [
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}',
  'main{max-width:46rem;margin:0 auto;padding:1rem}',
  'h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}',
  '.banner{padding:1rem;border-radius:.5rem;font-weight:600;margin:1rem 0}',
  '.card{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:.75rem 1rem;margin:.75rem 0}',
  'table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.35rem .25rem;border-top:1px solid #eee}',
  '.pill{display:inline-block;padding:0 .6rem;border-radius:1rem;font-weight:600;font-size:.9rem}',
  '.good{background:#dff3e4;color:#0b5d1e}.warn{background:#fff1cc;color:#6b4e00}.bad{background:#fde0df;color:#8a1410}',
  'small{color:#555}',
  '@media (max-width:30rem){body{font-size:15px}th:nth-child(3),td:nth-child(3){display:none}}',
].join('')

function pill (state: string): string {
  return `<span class="pill ${TONE[state] ?? 'warn'}">${escapeHtml(LABEL[state] ?? state)}</span>`
}

function time (iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.replace('T', ' ').slice(0, 19))} UTC</time>`
}

/** Server-rendered, self-contained, readable on a phone; refreshes itself every few seconds. */
export function renderStatus (doc: StatusDocument, issuer: string, refresh = STATUS_REFRESH_SECONDS): string {
  const headline = doc.status === 'ok' ? 'All logins are working' : doc.status === 'degraded' ? 'Logins are working; a login provider is having trouble' : 'Logins are not available'
  const providers = doc.providers.map((p) => `
<section class="card" aria-labelledby="p-${escapeHtml(p.id)}">
<h2 id="p-${escapeHtml(p.id)}">${escapeHtml(p.id)} ${pill(p.status)}</h2>
<table>
<thead><tr><th scope="col">Region</th><th scope="col">State</th><th scope="col">Since</th></tr></thead>
<tbody>${p.regions.map((r) => `<tr data-region="${escapeHtml(r.name)}" data-state="${escapeHtml(r.state)}"><th scope="row">${escapeHtml(r.name)}</th><td>${pill(r.state)}</td><td>${time(r.since)}</td></tr>`).join('')}</tbody></table>
${p.status === 'unavailable' ? '<p>New logins with this provider are paused. People who logged in recently keep logging in.</p>' : ''}
</section>`).join('')
  const incidents = doc.incidents.length === 0
    ? '<p>No recent incidents.</p>'
    : `<ul>${doc.incidents.map((i) => `<li>${pill(i.status)} <strong>${escapeHtml(i.provider)}</strong>: ${escapeHtml(i.summary)}<br><small>${time(i.startedAt)}${i.endedAt ? ` – ${time(i.endedAt)}` : ''}</small></li>`).join('')}</ul>`
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="${refresh}"><title>Login status</title><style>${STYLE}</style></head>
<body><main><h1>Login status</h1><p><small>${escapeHtml(issuer)}</small></p>
<div class="banner ${TONE[doc.status]}" role="status" aria-live="polite" data-status="${doc.status}">${escapeHtml(headline)}</div>
${providers}
<h2>Recent incidents</h2>${incidents}
<p><small>Updated ${time(doc.updatedAt)}; this page refreshes every ${refresh} seconds. Machine-readable: <a href="status.json">status.json</a>.</small></p>
</main></body></html>`
}

export default status
