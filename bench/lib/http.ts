import { Pool } from 'undici'
import { CookieJar as HarnessCookieJar } from '../../harness/cookie-jar.js'

/** An answer with its body read (undici needs every body consumed before the connection is reused). */
export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface SendInit {
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>
}

/**
 * One keep-alive undici Pool per origin, shared by every virtual user: the
 * load driver must stay light, so there is no fetch(), no redirect following
 * and no URL object per request beyond the one that splits origin and path.
 */
export class Http {
  readonly #pools = new Map<string, Pool>()
  readonly #connections: number

  constructor (connections: number) {
    this.#connections = connections
  }

  async send (url: string, init: SendInit = {}): Promise<Reply> {
    const { origin, path } = split(url)
    const headers: Record<string, string> = { ...init.headers }
    let body: string | undefined
    if (init.form !== undefined) {
      body = new URLSearchParams(init.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const response = await this.#pool(origin).request({ path, method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body })
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() }
  }

  async close (): Promise<void> {
    await Promise.all([...this.#pools.values()].map(async (pool) => pool.close()))
    this.#pools.clear()
  }

  #pool (origin: string): Pool {
    let pool = this.#pools.get(origin)
    if (pool === undefined) {
      pool = new Pool(origin, { connections: this.#connections, pipelining: 1, keepAliveTimeout: 60_000 })
      this.#pools.set(origin, pool)
    }
    return pool
  }
}

/** `http://host:port/path?q` → origin and path, without a URL object. */
export function split (url: string): { origin: string, path: string } {
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  return slash < 0 ? { origin: url, path: '/' } : { origin: url.slice(0, slash), path: url.slice(slash) }
}

/** The Location header resolved against the request URL. */
export function location (reply: Reply, from: string): string {
  const value = reply.headers.location
  if (typeof value !== 'string') throw new Error(`expected a redirect from ${from.split('?')[0]}, got ${reply.status}: ${reply.body.slice(0, 200)}`)
  return value.startsWith('http') ? value : new URL(value, from).href
}

/** Throws unless the answer has the expected status. */
export function expectStatus (reply: Reply, status: number | number[], what: string): void {
  const ok = Array.isArray(status) ? status.includes(reply.status) : reply.status === status
  if (!ok) throw new Error(`${what}: expected ${String(status)}, got ${reply.status}: ${reply.body.slice(0, 300)}`)
}

/** The harness's cookie jar, sending through `Http` with its cookies and keeping the ones each answer sets. */
export class CookieJar extends HarnessCookieJar {
  /** The Cookie header for `url` as a header record (empty when there is none). */
  headers (url: string): Record<string, string> {
    const cookie = this.header(new URL(url))
    return cookie === '' ? {} : { cookie }
  }

  /** Sends a request with this jar's cookies and keeps the cookies it sets. */
  async send (http: Http, url: string, init: SendInit = {}): Promise<Reply> {
    const reply = await http.send(url, { ...init, headers: { ...init.headers, ...this.headers(url) } })
    this.store(new URL(url), reply.headers['set-cookie'])
    return reply
  }
}
