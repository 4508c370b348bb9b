import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { validateConfig } from '../../src/config/load.js'
import { startUpstreamIdp } from './upstream-idp.js'
import { startDemoRelyingParty } from './relying-party.js'
import { writeKeySets } from '../../src/keys/generate.js'
import { startGateway } from '../../src/cli/start.js'
import { freePort } from '../free-port.js'

/** Where the demo stack listens (all on 127.0.0.1); the upstream takes `upstream` and the next port for its two regions. */
export interface DemoPorts { gateway: number, admin: number, site: number, upstream: number, linked: number }
export const DEMO_PORTS: DemoPorts = { gateway: 8080, admin: 9090, site: 3000, upstream: 4001, linked: 4003 }

/** Free ports for a demo stack in tests: all distinct, and the upstream's next port (its second region) free too. */
export async function freeDemoPorts (): Promise<DemoPorts> {
  const upstream = await freePort({ next: true })
  const taken = new Set([upstream, upstream + 1])
  const pick = async (): Promise<number> => {
    for (;;) {
      const port = await freePort()
      if (!taken.has(port)) return taken.add(port) && port
    }
  }
  return { upstream, gateway: await pick(), admin: await pick(), site: await pick(), linked: await pick() }
}

/** The id of the demo's second provider, the one a user may link. */
export const LINKED_PROVIDER = 'naver-demo'

/** The running demo stack: the URLs a newcomer needs, and a stop. */
export interface DemoStack {
  siteUrl: string
  issuer: string
  adminUrl: string
  /** The gateway's account page: passkeys and linked providers. */
  accountUrl: string
  upstreamRegions: Array<{ name: string, url: string }>
  /** The second provider's sign-in, reached when a user links it. */
  linkedProviderUrl: string
  close (drainDelayMs?: number): Promise<void>
}

/**
 * `npm start` with no config: a demo upstream with two regions, the gateway
 * (memory store, fresh dev keys, backup login on with an embedded
 * directory), a second, Naver-style provider to link, and a demo site that
 * logs in through the gateway.
 *
 * Everything listens on 127.0.0.1, but the gateway and the site are named
 * `localhost`: browsers refuse WebAuthn (passkeys) on an IP address, and one
 * host name keeps the site and the gateway same-site, as a site and its login
 * domain usually are. The upstreams stay at 127.0.0.1, another site, as a
 * social-login provider is.
 *
 * `seedDirectory` fills the embedded directory's `directory.path` before the
 * gateway opens it (tests: a copy of a database that exists, as creating one
 * costs seconds of CPU); without it, the gateway creates the database.
 */
export async function startDemo (logger: Logger, ports: DemoPorts = DEMO_PORTS, out: NodeJS.WritableStream = process.stdout, seedDirectory?: (path: string) => Promise<void>): Promise<DemoStack> {
  const host = '127.0.0.1'
  const issuer = `http://localhost:${ports.gateway}`
  const site = `http://localhost:${ports.site}`
  // What has started so far, undone in reverse when a later part fails (a port taken, say), so that a failed
  // start ends with an error instead of leaving servers that keep the process alive.
  const undo: Array<() => Promise<unknown>> = []
  const step = async <T>(start: () => Promise<T>, stop: (started: T) => Promise<unknown>): Promise<T> => {
    let started: T
    try {
      started = await start()
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => undefined)
      throw err
    }
    undo.push(() => stop(started))
    return started
  }
  const removeDir = async (dir: string) => rm(dir, { recursive: true, force: true })
  const keyDir = await step(() => mkdtemp(join(tmpdir(), 'understudy-demo-keys-')), removeDir)
  const directoryDir = await step(() => mkdtemp(join(tmpdir(), 'understudy-demo-directory-')), removeDir)
  const keys = await step(async () => {
    await seedDirectory?.(directoryDir)
    return writeKeySets(keyDir)
  }, async () => undefined)
  const upstream = await step(() => startUpstreamIdp({
    port: ports.upstream,
    clients: [{ client_id: 'understudy', client_secret: 'demo-upstream-secret', redirect_uris: [`${issuer}/callback/demo`] }],
  }), (idp) => idp.close())
  // The second provider is another demo upstream (one region), reached as plain OAuth 2.0 as Naver is: the
  // gateway reads no ID token, only its userinfo endpoint. Its cookies are named apart: cookies ignore the port.
  const linked = await step(() => startUpstreamIdp({
    port: ports.linked,
    regions: 1,
    title: 'Naver-style demo provider',
    cookiePrefix: 'naver_demo',
    clients: [{ client_id: 'understudy', client_secret: 'demo-naver-secret', redirect_uris: [`${issuer}/callback/${LINKED_PROVIDER}`], token_endpoint_auth_method: 'client_secret_post' }],
  }), (idp) => idp.close())
  const linkedUrl = linked.regions[0]!.url
  const config = validateConfig({
    issuer,
    region: 'demo',
    listen: { host, port: ports.gateway },
    admin: { host, port: ports.admin },
    keys,
    store: { kind: 'memory' },
    providers: [{
      id: 'demo',
      kind: 'oidc',
      issuer: upstream.issuer,
      clientId: 'understudy',
      clientSecret: 'demo-upstream-secret',
      scopes: ['openid', 'profile', 'email'],
      regions: upstream.regions.map((r) => ({ name: r.name, url: r.url })),
      breaker: { timeout: '2s', resetTimeout: '5s' },
      healthCheck: { interval: '1s' },
    }, {
      id: LINKED_PROVIDER,
      kind: 'oauth2',
      clientId: 'understudy',
      clientSecret: 'demo-naver-secret',
      scopes: ['openid', 'profile'],
      regions: [{ name: 'only', authorizationEndpoint: `${linkedUrl}/auth`, tokenEndpoint: `${linkedUrl}/token`, userinfoEndpoint: `${linkedUrl}/me` }],
      claims: { sub: 'sub', name: 'name' },
      // The demo upstream is oidc-provider: prompt=login asks for a new login, which linking needs.
      reauthenticate: { prompt: 'login' },
      breaker: { timeout: '2s', resetTimeout: '5s' },
      healthCheck: { interval: '1s' },
    }],
    clients: [{
      clientId: 'demo-site',
      clientSecret: 'demo-site-secret',
      redirectUris: [`${site}/callback`],
      postLogoutRedirectUris: [`${site}/`],
      providers: ['demo'],
      freshness: { maxStaleness: '2m', outageMaxStaleness: '1d' },
    }],
    tokens: { degraded: '2m' },
    backupLogin: {},
    directory: { kind: 'embedded', path: directoryDir },
  }, { source: 'demo config', env: {} })
  const gateway = await step(() => startGateway(config, { logger }), (g) => g.close(0))
  const down = new Set<string>()
  const accountUrl = `${issuer}/account`
  const rp = await step(() => startDemoRelyingParty({
    issuer,
    clientId: 'demo-site',
    clientSecret: 'demo-site-secret',
    port: ports.site,
    hostname: 'localhost',
    accountUrl,
    controls: {
      list: () => upstream.regions.map((r) => ({ ...r, up: !down.has(r.name) })),
      async toggle (name) {
        if (down.has(name)) {
          await upstream.startRegion(name)
          down.delete(name)
        } else {
          await upstream.stopRegion(name)
          down.add(name)
        }
        logger.info({ region: name, up: !down.has(name) }, 'demo upstream region toggled')
      },
    },
  }), (site) => site.close())
  out.write([
    '',
    'understudy demo stack is running:',
    `  demo site (log in here):  ${rp.url}`,
    `  how you log in (account): ${accountUrl}`,
    `  gateway discovery:        ${issuer}/.well-known/openid-configuration`,
    `  login status page:        ${issuer}/status`,
    `  gateway health, metrics:  ${gateway.adminUrl}/healthz  ${gateway.adminUrl}/metrics`,
    ...upstream.regions.map((r) => `  upstream ${r.name.padEnd(16)} ${r.url}`),
    `  ${`${LINKED_PROVIDER} (to link)`.padEnd(25)} ${linkedUrl}`,
    '  Any user name logs in at the demo upstream. Stop an upstream region from the demo site.',
    '',
    'Try backup login (a passkey: use a browser that has passkeys, at these localhost URLs):',
    `  1. Log in at ${rp.url} with any name. The gateway offers "Add a passkey": add one.`,
    '  2. Back on the demo site, note sub and acr, then stop both upstream regions (primary and secondary).',
    `  3. Open a private window (new cookies, a new device to the gateway) at ${rp.url} and log in:`,
    '     the gateway says demo is not answering. Choose "Log in with a passkey".',
    '  4. The demo site shows the same sub, and acr urn:understudy:acr:backup.',
    `  Or link ${LINKED_PROVIDER} at ${accountUrl} (any name logs in there) while demo is up:`,
    `  during the outage "Log in with ${LINKED_PROVIDER}" gives the same sub too.`,
    '',
  ].join('\n') + '\n')
  return {
    siteUrl: rp.url,
    issuer,
    adminUrl: gateway.adminUrl,
    accountUrl,
    upstreamRegions: [...upstream.regions],
    linkedProviderUrl: linkedUrl,
    async close (drainDelayMs = 0) {
      await rp.close()
      await gateway.close(drainDelayMs)
      await Promise.all([upstream.close(), linked.close()])
      await Promise.all([keyDir, directoryDir].map(removeDir))
    },
  }
}
