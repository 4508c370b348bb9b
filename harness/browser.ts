import { CookieJar } from './cookie-jar.js'

/** A minimal browser for tests: a cookie jar per host:port, manual redirects, simple form submission. */

export interface BrowserResponse {
  status: number
  url: string
  headers: Headers
  text: string
  location?: string
}

export class Browser {
  readonly #jar = new CookieJar()

  /** One request, no redirect following; cookies sent and stored. */
  async fetch (url: string, init: { method?: string, body?: URLSearchParams | string, headers?: Record<string, string> } = {}): Promise<BrowserResponse> {
    const target = new URL(url)
    const headers: Record<string, string> = { ...init.headers }
    const cookie = this.cookieHeader(target)
    if (cookie) headers.cookie = cookie
    if (init.body instanceof URLSearchParams) headers['content-type'] ??= 'application/x-www-form-urlencoded'
    const response = await fetch(target, { method: init.method ?? 'GET', headers, body: init.body?.toString(), redirect: 'manual' })
    this.#jar.store(target, response.headers.getSetCookie())
    const location = response.headers.get('location')
    return {
      status: response.status,
      url: target.href,
      headers: response.headers,
      text: await response.text(),
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
    const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
    if (!form) throw new Error(`no form in page: ${html.slice(0, 200)}`)
    const action = /action="([^"]*)"/i.exec(form[1]!)?.[1] ?? baseUrl
    const method = (/method="([^"]*)"/i.exec(form[1]!)?.[1] ?? 'GET').toUpperCase()
    const body = new URLSearchParams()
    for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[0])?.[1]
      const value = /value="([^"]*)"/i.exec(input[0])?.[1] ?? ''
      if (name) body.set(name, decodeEntities(value))
    }
    for (const [name, value] of Object.entries(fields)) body.set(name, value)
    const target = new URL(decodeEntities(action), baseUrl).href
    if (method === 'GET') return this.follow(`${target}${target.includes('?') ? '&' : '?'}${body}`, options)
    return this.follow(target, { method, body, ...options })
  }

  /** The value of a cookie for `url`'s host, if set. */
  cookie (url: string, name: string): string | undefined {
    return this.#jar.get(new URL(url), name)
  }

  /** All cookies for `url`'s host and path. */
  cookies (url: string): Array<{ name: string, value: string }> {
    return this.#jar.list(new URL(url))
  }

  /** Sets a cookie by hand (tests of forged or stolen cookies). */
  setCookie (url: string, name: string, value: string): void {
    this.#jar.set(new URL(url), name, value)
  }

  /** The Cookie header this browser would send to `url`. */
  cookieHeader (url: URL): string {
    return this.#jar.header(url)
  }
}

function decodeEntities (value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}
