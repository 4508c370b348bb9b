import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { validateConfig } from '../../src/config/load.js'
import { startUpstreamIdp } from './upstream-idp.js'
import { startDemoRelyingParty } from './relying-party.js'
import { writeKeySets } from '../../src/keys/generate.js'
import { startGateway } from '../../src/cli/start.js'

/** Where the demo stack listens (all on 127.0.0.1). */
export interface DemoPorts { gateway: number, admin: number, site: number, upstream: number }
export const DEMO_PORTS: DemoPorts = { gateway: 8080, admin: 9090, site: 3000, upstream: 4001 }

/** The running demo stack: the URLs a newcomer needs, and a stop. */
export interface DemoStack {
  siteUrl: string
  issuer: string
  adminUrl: string
  upstreamRegions: Array<{ name: string, url: string }>
  close (drainDelayMs?: number): Promise<void>
}

/**
 * `npm start` with no config: a demo upstream with two regions, the gateway
 * (memory store, fresh dev keys) and a demo site that logs in through it.
 */
export async function startDemo (logger: Logger, ports: DemoPorts = DEMO_PORTS, out: NodeJS.WritableStream = process.stdout): Promise<DemoStack> {
  const host = '127.0.0.1'
  const issuer = `http://${host}:${ports.gateway}`
  const site = `http://${host}:${ports.site}`
  const keyDir = await mkdtemp(join(tmpdir(), 'understudy-demo-keys-'))
  const keys = await writeKeySets(keyDir)
  const upstream = await startUpstreamIdp({
    port: ports.upstream,
    clients: [{ client_id: 'understudy', client_secret: 'demo-upstream-secret', redirect_uris: [`${issuer}/callback/demo`] }],
  })
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
  }, { source: 'demo config', env: {} })
  const gateway = await startGateway(config, { logger })
  const down = new Set<string>()
  const rp = await startDemoRelyingParty({
    issuer,
    clientId: 'demo-site',
    clientSecret: 'demo-site-secret',
    port: ports.site,
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
  })
  out.write([
    '',
    'understudy demo stack is running:',
    `  demo site (log in here):  ${rp.url}`,
    `  gateway discovery:        ${issuer}/.well-known/openid-configuration`,
    `  login status page:        ${issuer}/status`,
    `  gateway health, metrics:  ${gateway.adminUrl}/healthz  ${gateway.adminUrl}/metrics`,
    ...upstream.regions.map((r) => `  upstream ${r.name.padEnd(16)} ${r.url}`),
    '  Any user name logs in at the demo upstream. Stop an upstream region from the demo site.',
    '',
  ].join('\n') + '\n')
  return {
    siteUrl: rp.url,
    issuer,
    adminUrl: gateway.adminUrl,
    upstreamRegions: [...upstream.regions],
    async close (drainDelayMs = 0) {
      await rp.close()
      await gateway.close(drainDelayMs)
      await upstream.close()
      await rm(keyDir, { recursive: true, force: true })
    },
  }
}
