import type { TimelineEntry } from './monitor.js'
import { RELYING_PARTIES } from './setup.js'
import { REGIONS, UPSTREAM_REGIONS, type Topology } from './topology.js'

/** The topology as the report shows it. */
export function describeTopology (t: Topology): Record<string, unknown> {
  return {
    issuer: t.issuer,
    loadBalancer: `${t.lb.url}: prefers gateway-a, sends a request to gateway-b when gateway-a refuses or drops it`,
    gateways: REGIONS.map((name) => ({ name: `gateway-${name}`, region: t.regions[name].region, url: t.regions[name].url, adminUrl: t.regions[name].adminUrl, redis: `redis-${name}`, peer: `redis-${name === 'a' ? 'b' : 'a'}` })),
    upstream: { issuer: t.upstream.issuer, regions: UPSTREAM_REGIONS.map((name, i) => ({ name, url: t.upstream.regions[i]!.url })) },
    redis: REGIONS.map((name) => ({ name: `redis-${name}`, port: t.regions[name].redis.port, persistence: 'none (a restarted Redis is empty)' })),
    directory: { kind: 'postgres', database: t.directory.database, schema: t.directory.schema, sharedBy: REGIONS.map((name) => `gateway-${name}`), backupLogin: 'on (passkeys and linked providers, the offer after login)' },
    faultProxies: t.proxies.map((p) => ({ name: p.name, address: p.address, target: `127.0.0.1:${p.target.port}` })),
  }
}

/** The relying parties as the report shows them. */
export function describeRelyingParties (): Array<Record<string, unknown>> {
  return RELYING_PARTIES.map((rp) => ({
    clientId: rp.clientId,
    kind: rp.clientSecret ? 'confidential' : 'public (PKCE)',
    idTokenAlg: rp.alg ?? 'ES256',
    maxStaleness: rp.freshness?.maxStaleness ?? '8h',
    returningUsers: rp.sso ? 'SSO logins and refreshes' : 'refreshes (each revalidates with the upstream)',
  }))
}

/** The merged timeline, with offsets from the start of the run. */
export function timelineOf (entries: TimelineEntry[], startedAt: number): Array<{ at: string, offsetMs: number, source: string, kind: string, subject?: string, message: string }> {
  return entries.map((e) => ({ at: new Date(e.at).toISOString(), offsetMs: e.at - startedAt, source: e.source, kind: e.kind, ...(e.subject ? { subject: e.subject } : {}), message: e.message }))
}
