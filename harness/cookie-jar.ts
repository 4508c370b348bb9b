interface Cookie { value: string, path: string, expiresAt?: number }

/**
 * Cookies per host:port as a browser keeps them (Path, Max-Age and Expires
 * honoured; Domain and Secure ignored: every peer is on 127.0.0.1). The one
 * jar of the test browser, the game day's synthetic users and the benchmark.
 */
export class CookieJar {
  readonly #byHost = new Map<string, Map<string, Cookie>>()

  /** Keeps the cookies `url` set (Set-Cookie header values); one that has expired is deleted. */
  store (url: URL, setCookies: string | readonly string[] | undefined): void {
    if (setCookies === undefined) return
    const jar = this.#hostJar(url)
    const now = Date.now()
    for (const line of typeof setCookies === 'string' ? [setCookies] : setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq)
      const cookie: Cookie = { value: pair.slice(eq + 1), path: '/' }
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=')
        const lower = key.toLowerCase()
        if (lower === 'path') cookie.path = val
        if (lower === 'max-age') cookie.expiresAt = now + Number(val) * 1000
        if (lower === 'expires' && cookie.expiresAt === undefined) cookie.expiresAt = Date.parse(val)
      }
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= now) jar.delete(name)
      else jar.set(name, cookie)
    }
  }

  /** The Cookie header value for `url` ('' when there is none). */
  header (url: URL): string {
    return this.list(url).map((c) => `${c.name}=${c.value}`).join('; ')
  }

  /** The value of cookie `name` for `url`, if set. */
  get (url: URL, name: string): string | undefined {
    return this.list(url).find((c) => c.name === name)?.value
  }

  /** Sets a cookie by hand (a forged, stolen or kept copy), for every path of `url`'s host. */
  set (url: URL, name: string, value: string): void {
    this.#hostJar(url).set(name, { value, path: '/' })
  }

  /** The live cookies for `url`'s host and path. */
  list (url: URL): Array<{ name: string, value: string }> {
    const jar = this.#hostJar(url)
    const now = Date.now()
    const live: Array<{ name: string, value: string }> = []
    for (const [name, c] of jar) {
      if (c.expiresAt !== undefined && c.expiresAt <= now) jar.delete(name)
      else if (url.pathname.startsWith(c.path)) live.push({ name, value: c.value })
    }
    return live
  }

  #hostJar (url: URL): Map<string, Cookie> {
    let jar = this.#byHost.get(url.host)
    if (!jar) this.#byHost.set(url.host, (jar = new Map()))
    return jar
  }
}
