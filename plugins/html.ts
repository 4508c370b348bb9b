import type { FastifyReply } from 'fastify'

/** Headers every HTML page carries: no framing, no sniffing, no referrer, no external assets. */
export const HTML_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/**
 * The backup-login pages' variant (DESIGN §10): their passkey buttons need
 * the gateway's own scripts and fetches (`'self'`, never inline, never a
 * CDN). No form-action: their forms answer with redirects to the relying
 * party or to an upstream, and Chromium holds every redirect of a form
 * submission to form-action; the forms are all the gateway's own.
 */
export const BACKUP_PAGE_HEADERS: Record<string, string> = {
  ...HTML_SECURITY_HEADERS,
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}p.detail{color:#555}code{background:#f3f3f3;padding:0 .25rem}' +
  'button{font:inherit;padding:.4rem 1rem;margin:.25rem 0}form{margin:.5rem 0}li{margin:.4rem 0}li form{display:inline;margin-left:.5rem}.status{min-height:1.5em;color:#9a2a00}'

/** A form on a page: one button that POSTs `fields` (as hidden inputs) to `action`, an URL of the gateway's own origin. */
export interface PageForm {
  action: string
  fields: Record<string, string>
  button: string
  /** The form's element id (a script submits it). */
  id?: string
  /** The button's element id (what browser tests click). */
  buttonId?: string
  /** Not shown: a script submits it. */
  hidden?: boolean
  /**
   * Where the form's answer may redirect, outside the gateway: Chromium holds
   * every redirect of a form submission to the page's CSP form-action, so the
   * page allows this URL's origin (its scheme for an app's custom scheme) beside 'self'.
   */
  redirectsTo?: string
}

/** Options of a page: headers other than HTML_SECURITY_HEADERS (a variant's), and scripts of the gateway's own origin. */
export interface PageOptions { headers?: Record<string, string>, scripts?: string[] }

/** Sends a small, self-contained HTML page with the security headers, and at most one form. */
export function sendPage (reply: FastifyReply, status: number, title: string, paragraphs: string[], form?: PageForm): FastifyReply {
  const headers = form?.redirectsTo === undefined ? HTML_SECURITY_HEADERS : withFormAction(form.redirectsTo)
  return sendHtml(reply, status, title, paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('') + (form === undefined ? '' : formHtml(form)), { headers })
}

/** HTML_SECURITY_HEADERS whose form-action also allows the origin of `url` (a registered URI, so a valid URL). */
function withFormAction (url: string): Record<string, string> {
  const { origin, protocol } = new URL(url)
  const source = origin === 'null' ? protocol : origin
  return { ...HTML_SECURITY_HEADERS, 'content-security-policy': HTML_SECURITY_HEADERS['content-security-policy']!.replace("form-action 'self'", `form-action 'self' ${source}`) }
}

/** Sends a page whose `body` is markup built with escapeHtml and formHtml; its scripts load deferred, in order. */
export function sendHtml (reply: FastifyReply, status: number, title: string, body: string, options: PageOptions = {}): FastifyReply {
  const scripts = (options.scripts ?? []).map((src) => `<script src="${escapeHtml(src)}" defer></script>`).join('')
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style>${scripts}</head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`
  return reply.code(status).headers(options.headers ?? HTML_SECURITY_HEADERS).type('text/html; charset=utf-8').send(html)
}

/** The markup of one form. */
export function formHtml (form: PageForm): string {
  const inputs = Object.entries(form.fields).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('')
  const formId = form.id === undefined ? '' : ` id="${escapeHtml(form.id)}"`
  const buttonId = form.buttonId === undefined ? '' : ` id="${escapeHtml(form.buttonId)}"`
  return `<form method="post" action="${escapeHtml(form.action)}"${formId}${form.hidden === true ? ' hidden' : ''}>${inputs}<button type="submit"${buttonId}>${escapeHtml(form.button)}</button></form>`
}
