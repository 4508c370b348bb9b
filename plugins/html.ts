import type { FastifyReply } from 'fastify'

/** Headers every HTML page carries: no framing, no sniffing, no referrer, no external assets. */
export const HTML_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}h1{font-size:1.4rem}p.detail{color:#555}code{background:#f3f3f3;padding:0 .25rem}'

/** A form on a page: one button that POSTs `fields` (as hidden inputs) to `action`, an URL of the gateway's own origin. */
export interface PageForm { action: string, fields: Record<string, string>, button: string }

/** Sends a small, self-contained HTML page with the security headers, and at most one form. */
export function sendPage (reply: FastifyReply, status: number, title: string, paragraphs: string[], form?: PageForm): FastifyReply {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('') + (form === undefined ? '' : formHtml(form))
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`
  return reply.code(status).headers(HTML_SECURITY_HEADERS).type('text/html; charset=utf-8').send(html)
}

function formHtml (form: PageForm): string {
  const inputs = Object.entries(form.fields).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('')
  return `<form method="post" action="${escapeHtml(form.action)}">${inputs}<button type="submit">${escapeHtml(form.button)}</button></form>`
}
