import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { createLogger } from '../../src/cli/logger.js'
import { freePort } from '../../harness/free-port.js'
import { startGateway, type RunningGateway } from '../../src/cli/start.js'
import { validateConfig } from '../../src/config/load.js'
import type { Directory } from '../../src/directory/directory.js'
import { startUpstreamIdp, type UpstreamIdp, type UpstreamIdpOptions } from '../../harness/demo/upstream-idp.js'
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'

export const DEV_KEYS = {
  signing: fileURLToPath(new URL('../../certs/dev/signing.jwks.json', import.meta.url)),
  sealing: fileURLToPath(new URL('../../certs/dev/sealing.jwks.json', import.meta.url)),
}

export { freePort }

/** The relying parties every e2e test can use; none of them listens: tests stop at the redirect. */
export const RP = 'http://127.0.0.1:1/rp'
export const CLIENTS = {
  shop: { clientId: 'shop', clientSecret: 'shop-secret', redirectUris: [`${RP}/shop/cb`], postLogoutRedirectUris: [`${RP}/shop/bye`] },
  news: { clientId: 'news', clientSecret: 'news-secret', redirectUris: [`${RP}/news/cb`], postLogoutRedirectUris: [`${RP}/news/bye`], idTokenSignedResponseAlg: 'RS256' },
  spa: { clientId: 'spa', redirectUris: [`${RP}/spa/cb`], postLogoutRedirectUris: [`${RP}/spa/bye`] },
}

/** Rate limits for tests: enabled, but high enough for the hostile-input corpus. */
export const TEST_RATE_LIMITS = { enabled: true, token: { max: 100_000 }, authorize: { max: 100_000 }, admin: { max: 100_000 } }

export interface Stack {
  issuer: string
  gateway: RunningGateway
  upstream: UpstreamIdp
  /** Every log line the gateway wrote. */
  logs: string[]
  /** With `proxied: true`, one fault proxy in front of each upstream region, in region order. */
  proxies: FaultProxy[]
  /** The admin port's base URL. */
  adminUrl: string
  close (): Promise<void>
}

/** The upstream IdP of a stack, with the gateway of `issuer` registered as its client. */
export async function startStackUpstream (issuer: string, options: Pick<UpstreamIdpOptions, 'loginClock' | 'rotateRefreshToken'> = {}): Promise<UpstreamIdp> {
  return startUpstreamIdp({
    clients: [{ client_id: 'understudy', client_secret: 'upstream-secret', redirect_uris: [`${issuer}/callback/idp`] }],
    ...options,
  })
}

/**
 * Starts an upstream IdP with two regions and a gateway in front of it, on
 * 127.0.0.1. With `issuer` and `upstream` the gateway is a second region of
 * another stack: same issuer and upstream, its own port (`gateway.url`); the
 * shared upstream is not closed with it. `extraProviders` are configured
 * after `idp` (their upstreams are the caller's to start and stop). `now` is
 * the gateway's clock (seconds), to make a login old without waiting;
 * `loginClock` the upstream's record of when a user signs in there;
 * `rotateRefreshToken` makes the upstream rotate refresh tokens, as Kakao does;
 * `directory` replaces the one `config.directory` configures (with `config.backupLogin`).
 */
export async function startStack (overrides: { config?: Record<string, unknown>, clientOverrides?: Record<string, unknown>, provider?: Record<string, unknown>, extraProviders?: Array<Record<string, unknown>>, proxied?: boolean, issuer?: string, upstream?: UpstreamIdp, now?: () => number, loginClock?: () => number, rotateRefreshToken?: boolean, directory?: Directory } = {}): Promise<Stack> {
  const port = await freePort()
  const issuer = overrides.issuer ?? `http://127.0.0.1:${port}`
  const upstream = overrides.upstream ?? await startStackUpstream(issuer, {
    ...(overrides.loginClock ? { loginClock: overrides.loginClock } : {}),
    ...(overrides.rotateRefreshToken === undefined ? {} : { rotateRefreshToken: overrides.rotateRefreshToken }),
  })
  const proxies = overrides.proxied
    ? await Promise.all(upstream.regions.map((r) => { const u = new URL(r.url); return startFaultProxy({ target: { host: u.hostname, port: Number(u.port) }, name: r.name }) }))
    : []
  const regionUrl = (i: number) => (proxies[i] ? `http://${proxies[i].address}` : upstream.regions[i]!.url)
  const config = validateConfig({
    issuer,
    region: 'test',
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: 0 },
    keys: DEV_KEYS,
    providers: [{
      id: 'idp',
      kind: 'oidc',
      issuer: upstream.issuer,
      clientId: 'understudy',
      clientSecret: 'upstream-secret',
      scopes: ['openid', 'profile', 'email'],
      regions: upstream.regions.map((r, i) => ({ name: r.name, url: regionUrl(i) })),
      ...overrides.provider,
    }, ...(overrides.extraProviders ?? [])],
    clients: Object.values(CLIENTS).map((c) => ({ ...c, providers: ['idp'], ...overrides.clientOverrides })),
    // Tests drive thousands of requests from 127.0.0.1: the limits stay on, raised far above what a test sends (test/e2e/rate-limit*.test.ts tests them).
    rateLimits: TEST_RATE_LIMITS,
    ...overrides.config,
  }, { env: {} })
  const logs: string[] = []
  const destination = new Writable({ write (chunk, _enc, done) { logs.push(...String(chunk).split('\n').filter(Boolean)); done() } })
  const gateway = await startGateway(config, { logger: createLogger({ level: 'debug', destination }), ...(overrides.now ? { now: overrides.now } : {}), ...(overrides.directory ? { directory: overrides.directory } : {}) })
  return {
    issuer,
    gateway,
    upstream,
    logs,
    proxies,
    adminUrl: gateway.adminUrl,
    async close () {
      await gateway.close()
      await Promise.all(proxies.map((p) => p.close()))
      if (!overrides.upstream) await upstream.close()
    },
  }
}

/** The authorization URL of one of the test clients. */
export function authorizeUrl (issuer: string, client: keyof typeof CLIENTS, params: Record<string, string> = {}): string {
  const url = new URL(`${issuer}/authorize`)
  url.search = new URLSearchParams({ client_id: client, redirect_uri: CLIENTS[client].redirectUris[0]!, response_type: 'code', scope: 'openid profile email', state: 'st-' + client, ...params }).toString()
  return url.href
}

/**
 * Drives a browser through a login that starts at `url`: through the upstream's
 * login form when it shows one (as `user`), back to the relying party's redirect URI.
 */
export async function browserLogin (browser: Browser, url: string, user = 'alice'): Promise<BrowserResponse> {
  const atRp = (u: URL) => u.href.startsWith(RP)
  const first = await browser.follow(url, { stopAt: atRp })
  if (first.location && atRp(new URL(first.location))) return first
  if (first.status !== 200) throw new Error(`unexpected ${first.status} at ${first.url}: ${first.text.slice(0, 300)}`)
  return browser.submitForm(first.text, first.url, { login: user }, { stopAt: atRp })
}

/** The query of the redirect to the relying party. */
export function redirectParams (response: BrowserResponse): URLSearchParams {
  if (!response.location) throw new Error(`no redirect: ${response.status} ${response.text.slice(0, 300)}`)
  return new URL(response.location).searchParams
}
