import { request, type Dispatcher } from 'undici'
import { CookieJar } from '../cookie-jar.js'

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

/**
 * A minimal browser for synthetic users: one cookie jar per host:port,
 * redirects not followed (the flows look at each hop), a bounded wait for
 * every answer. Every exchange is recorded with its latency and outcome.
 */
export class Browser {
  readonly #jar = new CookieJar()
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
      this.#jar.store(target, answer.headers['set-cookie'])
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
    return this.#jar.get(new URL(url), name)
  }

  /** Sets a cookie by hand: a stolen or kept copy of a session cookie. */
  setCookie (url: string, name: string, value: string): void {
    this.#jar.set(new URL(url), name, value)
  }

  /** The Cookie header this browser sends to `url`. */
  cookieHeader (url: URL): string {
    return this.#jar.header(url)
  }
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
