import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateConfig } from '../../src/config/load.js'
import { databaseName } from '../../src/directory/postgres.js'
import { startUpstreamIdp, type UpstreamIdp } from '../demo/upstream-idp.js'
import { writeKeySets } from '../../src/keys/generate.js'
import { startFaultProxy, type FaultProxy } from '../fault-proxy.js'
import { freePort } from '../free-port.js'
import { createSchema, schemaUrl, type Schema } from '../postgres-schema.js'
import { GatewayProcess } from './gateway-process.js'
import { LoadBalancer, type BackendTransition } from './load-balancer.js'
import { RedisServer } from '../redis-server.js'
import { RELYING_PARTIES, type GamedayPolicy } from './setup.js'
import { upstreamStorage } from './upstream-storage.js'

export type RegionName = 'a' | 'b'
export const REGIONS: RegionName[] = ['a', 'b']
export const UPSTREAM_REGIONS = ['primary', 'secondary'] as const
export type UpstreamRegionName = typeof UPSTREAM_REGIONS[number]

/** One gateway region: its process, its Redis, and the fault proxies on each of its links. */
export interface GatewayRegion {
  name: RegionName
  /** The gateway's `region` in its config (and in incident events). */
  region: string
  process: GatewayProcess
  url: string
  adminUrl: string
  redis: RedisServer
  links: {
    upstream: Record<UpstreamRegionName, FaultProxy>
    /** gateway → its own Redis */
    local: FaultProxy
    /** gateway → the other region's Redis */
    peer: FaultProxy
    /** gateway → the directory's PostgreSQL */
    directory: FaultProxy
  }
}

/** The whole game-day stack on 127.0.0.1 (see docs/gameday.md for the picture). */
export interface Topology {
  issuer: string
  adminToken: string
  upstream: UpstreamIdp
  lb: LoadBalancer
  regions: Record<RegionName, GatewayRegion>
  /** The directory every gateway shares (backup login): a fresh schema of the game day's PostgreSQL, dropped at the end. */
  directory: { database: string, schema: string }
  /** Every fault proxy, for the report. */
  proxies: FaultProxy[]
  /** What a host:port is, for samples and reports: `gateway` (the load balancer), or a link such as `a→upstream:primary`. */
  describe (hostPort: string): string | undefined
  close (): Promise<void>
}

/**
 * Starts the topology: an upstream IdP with two regions, two Redis servers,
 * a fresh schema in PostgreSQL for the directory, ten fault proxies (each
 * gateway to each upstream region, to its Redis, to its peer's Redis and to
 * the database), two gateway processes with backup login on, sharing keys,
 * issuer and directory, and the load balancer at the issuer's address
 * (`localhost`: WebAuthn needs a domain). Anything started is stopped again
 * if a later step fails; a PostgreSQL that does not answer stops it first.
 */
export async function startTopology (policy: GamedayPolicy, databaseUrl: string, logDir: string, onBackend: (t: BackendTransition) => void): Promise<Topology> {
  const closers: Array<() => Promise<void>> = []
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {})
  }
  try {
    const dir = await mkdtemp(join(tmpdir(), 'understudy-gameday-'))
    closers.push(() => rm(dir, { recursive: true, force: true }))
    await mkdir(logDir, { recursive: true })
    const keys = await writeKeySets(join(dir, 'keys'))
    const schema = await directorySchema(databaseUrl)
    closers.push(() => schema.drop())
    const lbPort = await freePort()
    const issuer = `http://localhost:${lbPort}`
    const upstreamSecret = randomBytes(16).toString('base64url')
    const upstream = await startUpstreamIdp({ clients: [{ client_id: 'understudy', client_secret: upstreamSecret, redirect_uris: [`${issuer}/callback/idp`] }], adapter: upstreamStorage() })
    closers.push(() => upstream.close())
    const redis = { a: await RedisServer.start({ name: 'redis-a' }), b: await RedisServer.start({ name: 'redis-b' }) }
    closers.push(() => redis.a.close(), () => redis.b.close())
    const names = new Map<string, string>([[`localhost:${lbPort}`, 'gateway'], [`127.0.0.1:${lbPort}`, 'gateway']])
    const database = new URL(databaseUrl)
    const proxy = async (name: string, port: number, host = '127.0.0.1') => {
      const p = await startFaultProxy({ target: { host, port }, name, onError: () => {} })
      closers.push(() => p.close())
      names.set(p.address, name)
      return p
    }
    const adminToken = randomBytes(24).toString('base64url')
    const regions = {} as Record<RegionName, GatewayRegion>
    for (const name of REGIONS) {
      const other = name === 'a' ? 'b' : 'a'
      const upstreamLinks = {} as Record<UpstreamRegionName, FaultProxy>
      for (const [i, region] of UPSTREAM_REGIONS.entries()) {
        const link = await proxy(`${name}→upstream:${region}`, Number(new URL(upstream.regions[i]!.url).port))
        upstreamLinks[region] = link
      }
      const local = await proxy(`${name}→redis-${name}`, redis[name].port)
      const peer = await proxy(`${name}→redis-${other}`, redis[other].port)
      const directory = await proxy(`${name}→postgres`, Number(database.port || 5432), database.hostname)
      const [port, adminPort] = [await freePort(), await freePort()]
      const directoryUrl = schemaUrl(databaseUrl, schema.name, directory.address)
      const config = gatewayConfig({ name, issuer, port, adminPort, adminToken, keys, upstream, upstreamSecret, upstreamLinks, local, peer, directoryUrl, policy })
      const configFile = join(dir, `gateway-${name}.json`)
      await writeFile(configFile, JSON.stringify(config, null, 2))
      // Fail here, with every problem, rather than in a child process's log.
      validateConfig(config, { source: configFile, env: {} })
      const gateway = new GatewayProcess(`gateway-${name}`, configFile, join(logDir, `gateway-${name}.log`))
      closers.push(() => gateway.close())
      regions[name] = { name, region: config.region, process: gateway, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`, redis: redis[name], links: { upstream: upstreamLinks, local, peer, directory } }
    }
    await Promise.all(REGIONS.map((name) => regions[name].process.start()))
    const lb = new LoadBalancer(REGIONS.map((name) => ({ name, url: regions[name].url })), onBackend)
    await lb.listen(lbPort)
    closers.push(() => lb.close())
    return {
      issuer,
      adminToken,
      upstream,
      lb,
      regions,
      directory: { database: databaseName(databaseUrl), schema: schema.name },
      proxies: REGIONS.flatMap((n) => [...Object.values(regions[n].links.upstream), regions[n].links.local, regions[n].links.peer, regions[n].links.directory]),
      describe: (hostPort) => names.get(hostPort),
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

interface GatewayConfigParts {
  name: RegionName
  issuer: string
  port: number
  adminPort: number
  adminToken: string
  keys: { signing: string, sealing: string }
  upstream: UpstreamIdp
  upstreamSecret: string
  upstreamLinks: Record<UpstreamRegionName, FaultProxy>
  local: FaultProxy
  peer: FaultProxy
  directoryUrl: string
  policy: GamedayPolicy
}

/** The directory's schema for this run; a PostgreSQL that does not answer is named, with what to do. */
async function directorySchema (databaseUrl: string): Promise<Schema> {
  try {
    return await createSchema(databaseUrl, 'understudy_gameday')
  } catch (err) {
    throw new Error(`the game day's gateways share their directory (backup login) in PostgreSQL, and PostgreSQL at ${databaseName(databaseUrl)} cannot be used: ${(err as Error).message}. Start it (.ci/run does), or name another with --database URL`, { cause: err })
  }
}

/** One gateway region's config: every outbound link goes through its fault proxy; backup login on, its directory shared. */
function gatewayConfig (p: GatewayConfigParts) {
  return {
    issuer: p.issuer,
    region: `region-${p.name}`,
    listen: { host: '127.0.0.1', port: p.port },
    admin: { host: '127.0.0.1', port: p.adminPort, token: p.adminToken },
    keys: p.keys,
    store: {
      kind: 'redis',
      redis: { url: `redis://${p.local.address}`, peers: [`redis://${p.peer.address}`], ...p.policy.redis },
    },
    providers: [{
      id: 'idp',
      kind: 'oidc',
      issuer: p.upstream.issuer,
      clientId: 'understudy',
      clientSecret: p.upstreamSecret,
      scopes: ['openid', 'profile', 'email'],
      regions: UPSTREAM_REGIONS.map((region) => ({ name: region, url: `http://${p.upstreamLinks[region].address}` })),
      breaker: p.policy.breaker,
      healthCheck: p.policy.healthCheck,
    }],
    clients: RELYING_PARTIES.map((rp) => ({
      clientId: rp.clientId,
      ...(rp.clientSecret ? { clientSecret: rp.clientSecret } : {}),
      redirectUris: [rp.redirectUri],
      postLogoutRedirectUris: [rp.postLogoutRedirectUri],
      providers: ['idp'],
      ...(rp.freshness ? { freshness: rp.freshness } : {}),
      ...(rp.alg ? { idTokenSignedResponseAlg: rp.alg } : {}),
    })),
    sessions: { maxStaleness: '8h', outageMaxStaleness: '1d' },
    tokens: { degraded: '2m' },
    directory: { kind: 'postgres', url: p.directoryUrl, ...p.policy.directory },
    backupLogin: {},
    shutdown: { drainDelay: 0 },
    chaos: { enabled: true },
    // The monitor polls /admin/health five times a second (and the incidents every second), far above the per-address default.
    rateLimits: { admin: { max: 1_000 } },
  }
}
