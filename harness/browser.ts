import { CookieJar } from './cookie-jar.js'

/**
 * The one cookie-jar browser of the tests and the game day: a jar per
 * host:port, redirects not followed unless asked (a flow may look at each
 * hop), simple form submission. The game day's synthetic users extend it to
 * send through their own dispatcher and record every exchange.
 */

export interface BrowserResponse {
  status: number
  url: string
  headers: Headers
  text: string
  location?: string
}

/** One request as a caller asks for it; a URLSearchParams body is sent form-encoded. */
export interface BrowserRequest {
  method?: string
  body?: URLSearchParams | string
  headers?: Record<string, string>
}

/** One request on the wire: the cookies are already in `headers`. */
export interface WireRequest {
  method: string
  headers: Record<string, string>
  body?: string
}

/** One answer on the wire, body read, before its cookies and redirect are looked at. */
export interface WireAnswer {
  status: number
  headers: Headers
  text: string
}

/** A form found in a page: where it goes, how, and its inputs with their values (entities decoded). */
export interface PageForm {
  action: string
  method: string
  fields: URLSearchParams
}

export class Browser {
  readonly #jar = new CookieJar()

  /** One request, no redirect following; cookies sent and stored. */
  async fetch (url: string, init: BrowserRequest = {}): Promise<BrowserResponse> {
    const target = new URL(url)
    const headers: Record<string, string> = { ...init.headers }
    const cookie = this.cookieHeader(target)
    if (cookie) headers.cookie = cookie
    if (init.body instanceof URLSearchParams) headers['content-type'] ??= 'application/x-www-form-urlencoded'
    const answer = await this.send(target, { method: init.method ?? 'GET', headers, ...(init.body === undefined ? {} : { body: init.body.toString() }) })
    this.#jar.store(target, answer.headers.getSetCookie())
    const location = answer.headers.get('location')
    return {
      status: answer.status,
      url: target.href,
      headers: answer.headers,
      text: answer.text,
      ...(location ? { location: new URL(location, target).href } : {}),
    }
  }

  /**
   * Follows redirects from `url` until a non-redirect answer, or until a
   * redirect to a URL `stopAt` accepts (e.g. the relying party's callback).
   */
  async follow (url: string, options: { method?: string, body?: URLSearchParams, stopAt?: (url: URL) => boolean, maxHops?: number } = {}): Promise<BrowserResponse> {
    let response = await this.fetch(url, { ...(options.method ? { method: options.method } : {}), ...(options.body ? { body: options.body } : {}) })
    for (let hop = 0; hop < (options.maxHops ?? 20); hop++) {
      if (!response.location || response.status < 300 || response.status >= 400) return response
      if (options.stopAt?.(new URL(response.location))) return response
      response = await this.fetch(response.location)
    }
    throw new Error(`too many redirects from ${url}`)
  }

  /** Submits the first form in `html` (relative to `baseUrl`) with its hidden inputs plus `fields`, and follows redirects. */
  async submitForm (html: string, baseUrl: string, fields: Record<string, string>, options: { stopAt?: (url: URL) => boolean } = {}): Promise<BrowserResponse> {
    const form = readForm(html, baseUrl)
    if (!form) throw new Error(`no form in page: ${html.slice(0, 200)}`)
    for (const [name, value] of Object.entries(fields)) form.fields.set(name, value)
    if (form.method === 'GET') return this.follow(`${form.action}${form.action.includes('?') ? '&' : '?'}${form.fields}`, options)
    return this.follow(form.action, { method: form.method, body: form.fields, ...options })
  }

  /** The value of a cookie for `url`'s host, if set. */
  cookie (url: string, name: string): string | undefined {
    return this.#jar.get(new URL(url), name)
  }

  /** All cookies for `url`'s host and path. */
  cookies (url: string): Array<{ name: string, value: string }> {
    return this.#jar.list(new URL(url))
  }

  /** Sets a cookie by hand (tests of forged, stolen or kept cookies). */
  setCookie (url: string, name: string, value: string): void {
    this.#jar.set(new URL(url), name, value)
  }

  /** The Cookie header this browser would send to `url`. */
  cookieHeader (url: URL): string {
    return this.#jar.header(url)
  }

  /** The exchange itself, by the platform's fetch; a subclass may send it another way or record it. */
  protected async send (url: URL, request: WireRequest): Promise<WireAnswer> {
    const response = await fetch(url, { ...request, redirect: 'manual' })
    return { status: response.status, headers: response.headers, text: await response.text() }
  }
}

/** The first form in `html` (its action relative to `baseUrl`), or undefined when the page has none. */
export function readForm (html: string, baseUrl: string): PageForm | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) return undefined
  const action = /action="([^"]*)"/i.exec(form[1]!)?.[1]
  const method = (/method="([^"]*)"/i.exec(form[1]!)?.[1] ?? 'GET').toUpperCase()
  const fields = new URLSearchParams()
  for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = /name="([^"]*)"/i.exec(input[0])?.[1]
    const value = /value="([^"]*)"/i.exec(input[0])?.[1] ?? ''
    if (name) fields.set(name, decodeEntities(value))
  }
  return { action: new URL(decodeEntities(action ?? baseUrl), baseUrl).href, method, fields }
}

function decodeEntities (value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}
