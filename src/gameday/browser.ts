import { request, type Dispatcher } from 'undici'

/** One HTTP exchange as the game day records it. */
export interface HttpSample {
  /** When the request started (ms since the epoch). */
  at: number
  ms: number
  /** `gateway` (through the load balancer) or `upstream:<region>`. */
  target: string
  method: string
  path: string
  status?: number
  /** The network error, when there was no answer. */
  error?: string
  /** Which gateway region answered (the load balancer says). */
  backend?: string
  /** The request was dropped by a region after it may have been sent (and answered by the next). */
  dropped?: string
}

export interface BrowserAnswer {
  status: number
  url: string
  location?: string
  text: string
  backend?: string
}

/** Thrown when a request got no HTTP answer at all. */
export class NoAnswerError extends Error {
  constructor (readonly target: string, readonly code: string) {
    super(`no answer from ${target}: ${code}`)
  }
}

export interface BrowserDeps {
  dispatcher: Dispatcher
  /** Names the far end of a URL for the samples (`gateway`, `upstream:primary`, ...). */
  targetOf: (url: URL) => string
  record: (sample: HttpSample) => void
  timeoutMs: number
}

interface Cookie { value: string, path: string, expiresAt?: number }

/**
 * A minimal browser for synthetic users: one cookie jar per host:port,
 * redirects not followed (the flows look at each hop), a bounded wait for
 * every answer. Every exchange is recorded with its latency and outcome.
 */
export class Browser {
  readonly #jar = new Map<string, Map<string, Cookie>>()
  readonly #deps: BrowserDeps
  /** Requests of this browser that a gateway process dropped when it died (see the load balancer). */
  dropped = 0

  constructor (deps: BrowserDeps) {
    this.#deps = deps
  }

  /** One request; throws NoAnswerError when nothing answered in time. */
  async fetch (url: string, init: { method?: string, form?: Record<string, string>, headers?: Record<string, string> } = {}): Promise<BrowserAnswer> {
    const target = new URL(url)
    const method = init.method ?? (init.form ? 'POST' : 'GET')
    const headers: Record<string, string> = { ...init.headers }
    const cookie = this.cookieHeader(target)
    if (cookie) headers.cookie = cookie
    const body = init.form ? new URLSearchParams(init.form).toString() : undefined
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const sample: HttpSample = { at: Date.now(), ms: 0, target: this.#deps.targetOf(target), method, path: target.pathname }
    try {
      const answer = await request(target, {
        method: method as 'GET',
        headers,
        ...(body === undefined ? {} : { body }),
        dispatcher: this.#deps.dispatcher,
        headersTimeout: this.#deps.timeoutMs,
        bodyTimeout: this.#deps.timeoutMs,
      })
      const text = await answer.body.text()
      const setCookie = answer.headers['set-cookie']
      this.#store(target, setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie])
      const location = header(answer.headers.location)
      const backend = header(answer.headers['x-gameday-backend'])
      const dropped = header(answer.headers['x-gameday-dropped'])
      sample.status = answer.statusCode
      if (backend) sample.backend = backend
      if (dropped) {
        sample.dropped = dropped
        this.dropped++
      }
      return { status: answer.statusCode, url: target.href, text, ...(location ? { location: new URL(location, target).href } : {}), ...(backend ? { backend } : {}) }
    } catch (err) {
      sample.error = (err as { code?: string }).code ?? (err as Error).name
      throw new NoAnswerError(sample.target, sample.error)
    } finally {
      sample.ms = Date.now() - sample.at
      this.#deps.record(sample)
    }
  }

  /** The value of cookie `name` for `url`'s host:port. */
  cookie (url: string, name: string): string | undefined {
    return this.#live(new URL(url)).find(([n]) => n === name)?.[1].value
  }

  /** Sets a cookie by hand: a stolen or kept copy of a session cookie. */
  setCookie (url: string, name: string, value: string): void {
    this.#hostJar(new URL(url)).set(name, { value, path: '/' })
  }

  /** The Cookie header this browser sends to `url`. */
  cookieHeader (url: URL): string {
    return this.#live(url).map(([name, c]) => `${name}=${c.value}`).join('; ')
  }

  #live (url: URL): Array<[string, Cookie]> {
    const jar = this.#hostJar(url)
    const now = Date.now()
    for (const [name, c] of jar) if (c.expiresAt !== undefined && c.expiresAt <= now) jar.delete(name)
    return [...jar].filter(([, c]) => url.pathname.startsWith(c.path))
  }

  #hostJar (url: URL): Map<string, Cookie> {
    let jar = this.#jar.get(url.host)
    if (!jar) this.#jar.set(url.host, (jar = new Map()))
    return jar
  }

  #store (url: URL, setCookies: string[]): void {
    const jar = this.#hostJar(url)
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const cookie: Cookie = { value: pair.slice(eq + 1), path: '/' }
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=')
        if (key.toLowerCase() === 'path') cookie.path = val
        if (key.toLowerCase() === 'max-age') cookie.expiresAt = Date.now() + Number(val) * 1000
        if (key.toLowerCase() === 'expires' && cookie.expiresAt === undefined) cookie.expiresAt = Date.parse(val)
      }
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) jar.delete(pair.slice(0, eq))
      else jar.set(pair.slice(0, eq), cookie)
    }
  }
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
