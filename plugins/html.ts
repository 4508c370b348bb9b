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

/** Sends a small, self-contained HTML page with the security headers. */
export function sendPage (reply: FastifyReply, status: number, title: string, paragraphs: string[]): FastifyReply {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('')
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`
  return reply.code(status).headers(HTML_SECURITY_HEADERS).type('text/html; charset=utf-8').send(html)
}
