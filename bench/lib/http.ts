import { Pool } from 'undici'

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

interface Cookie { value: string, path: string }

/** A cookie jar per origin (name, value and path only: all the flows need). */
export class CookieJar {
  readonly #byOrigin = new Map<string, Map<string, Cookie>>()

  header (url: string): Record<string, string> {
    const { origin, path } = split(url)
    const jar = this.#byOrigin.get(origin)
    if (jar === undefined || jar.size === 0) return {}
    const pairs: string[] = []
    for (const [name, cookie] of jar) if (path.startsWith(cookie.path)) pairs.push(`${name}=${cookie.value}`)
    return pairs.length === 0 ? {} : { cookie: pairs.join('; ') }
  }

  store (url: string, reply: Reply): void {
    const raw = reply.headers['set-cookie']
    if (raw === undefined) return
    const { origin } = split(url)
    let jar = this.#byOrigin.get(origin)
    if (jar === undefined) this.#byOrigin.set(origin, (jar = new Map()))
    for (const line of Array.isArray(raw) ? raw : [raw]) {
      const parts = line.split(';')
      const pair = parts[0]!
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      let path = '/'
      let expired = value === ''
      for (const attribute of parts.slice(1)) {
        const [key = '', val = ''] = attribute.trim().split('=')
        const lower = key.toLowerCase()
        if (lower === 'path') path = val
        else if (lower === 'max-age' && Number(val) <= 0) expired = true
        else if (lower === 'expires' && Date.parse(val) <= Date.now()) expired = true
      }
      if (expired) jar.delete(name)
      else jar.set(name, { value, path })
    }
  }

  /** A cookie's value for `url`'s origin, if set. */
  get (url: string, name: string): string | undefined {
    return this.#byOrigin.get(split(url).origin)?.get(name)?.value
  }

  /** Sends a request with this jar's cookies and keeps the cookies it sets. */
  async send (http: Http, url: string, init: SendInit = {}): Promise<Reply> {
    const reply = await http.send(url, { ...init, headers: { ...init.headers, ...this.header(url) } })
    this.store(url, reply)
    return reply
  }
}
