import type { Fault as ProxyFault } from '../fault-proxy.js'
import type { OpRecord } from './records.js'
import { REGIONS, UPSTREAM_REGIONS, type RegionName, type Topology, type UpstreamRegionName } from './topology.js'

/** One fault a game day injects and later clears. */
export interface Fault {
  /** What is done, for the report: "SIGKILL gateway-a". */
  description: string
  /** Whose unhealthy transitions count as the fault's detection (`gateway-a`, `redis-b`, `upstream:primary`). */
  subjects: string[]
  /** The whole upstream is unreachable while it holds: new logins can only be refused. */
  upstreamDown?: boolean
  /** It hits the upstream: logins sent there before it was detected may fail (DESIGN §9, Detection). */
  upstream?: boolean
  /** The directory cannot answer while it holds: passkey logins can only be refused (DESIGN §10, Static stability). */
  directoryDown?: boolean
  /** Whether an operation succeeded through the path that survives this fault. */
  survivingPath: (op: OpRecord) => boolean
  inject (t: Topology): Promise<void>
  clear (t: Topology): Promise<void>
}

const other = (name: RegionName): RegionName => (name === 'a' ? 'b' : 'a')

/** SIGKILL a gateway process; cleared by starting it again (what a supervisor such as the kubelet does). */
export function killGateway (name: RegionName): Fault {
  return {
    description: `SIGKILL gateway-${name}`,
    subjects: [`gateway-${name}`],
    survivingPath: (op) => op.backend === other(name),
    inject: (t) => t.regions[name].process.kill(),
    clear: async (t) => { await t.regions[name].process.start() },
  }
}

/** SIGKILL a Redis; cleared by starting it again, empty (no persistence). */
export function killRedis (name: RegionName): Fault {
  return {
    description: `SIGKILL redis-${name} (restarts empty)`,
    subjects: [`redis-${name}`],
    survivingPath: () => true,
    inject: (t) => t.regions[name].redis.kill(),
    clear: (t) => t.regions[name].redis.restart(),
  }
}

/** SIGSTOP a Redis: it hangs with its connections open; cleared by SIGCONT. */
export function hangRedis (name: RegionName): Fault {
  return {
    description: `SIGSTOP redis-${name} (hung, connections open)`,
    subjects: [`redis-${name}`],
    survivingPath: () => true,
    inject: async (t) => t.regions[name].redis.pause(),
    clear: async (t) => t.regions[name].redis.resume(),
  }
}

/** The same fault on every gateway's link to the upstream `regions`. */
function onUpstream (regions: readonly UpstreamRegionName[], fault: ProxyFault, description: string): Fault {
  const links = (t: Topology) => REGIONS.flatMap((g) => regions.map((r) => t.regions[g].links.upstream[r]))
  const whole = UPSTREAM_REGIONS.every((r) => regions.includes(r))
  return {
    description,
    subjects: regions.map((r) => `upstream:${r}`),
    upstream: true,
    ...(whole ? { upstreamDown: true } : {}),
    // With every region down the surviving path is the cached login; otherwise another region.
    survivingPath: whole ? (op) => op.acr === 'urn:understudy:acr:cached' : (op) => op.upstreamRegion === undefined || !regions.includes(op.upstreamRegion as UpstreamRegionName),
    inject: async (t) => { await Promise.all(links(t).map((link) => link.setFault(fault))) },
    clear: async (t) => { await Promise.all(links(t).map((link) => link.clearFault())) },
  }
}

/** Latency on every link to an upstream region, above the breaker timeout: a region that is slow, not dead. */
export function upstreamLatency (region: UpstreamRegionName, ms: number): Fault {
  return onUpstream([region], { kind: 'latency', ms, jitterMs: ms / 5 }, `${ms} ms latency on upstream ${region}`)
}

/** Every connection to an upstream region reset (TCP RST). */
export function upstreamResets (region: UpstreamRegionName): Fault {
  return onUpstream([region], { kind: 'reset' }, `connection resets on upstream ${region}`)
}

/** Upstream regions unreachable: connections refused. */
export function upstreamDown (regions: readonly UpstreamRegionName[]): Fault {
  const what = regions.length === UPSTREAM_REGIONS.length ? 'the whole upstream (every region)' : `upstream ${regions.join(', ')}`
  return onUpstream(regions, { kind: 'refuse' }, `${what} down (connections refused)`)
}

/**
 * The directory's database unreachable from every gateway: connections
 * refused, open ones cut. No upstream, SSO or cached login needs it; a new
 * user's upstream login goes on without the offer.
 */
export function directoryDown (): Fault {
  const links = (t: Topology) => REGIONS.map((g) => t.regions[g].links.directory)
  return {
    description: 'the directory\'s database unreachable from every gateway (connections refused)',
    subjects: ['directory'],
    directoryDown: true,
    survivingPath: () => true,
    inject: async (t) => { await Promise.all(links(t).map((link) => link.setFault({ kind: 'refuse' }))) },
    clear: async (t) => { await Promise.all(links(t).map((link) => link.clearFault())) },
  }
}

/** A whole gateway region down: its process and its Redis; cleared by starting both again. */
export function regionDown (name: RegionName): Fault {
  const gateway = killGateway(name)
  const redis = killRedis(name)
  return {
    description: `gateway region ${name} down (SIGKILL gateway-${name} and redis-${name})`,
    subjects: [...gateway.subjects, ...redis.subjects],
    survivingPath: gateway.survivingPath,
    inject: async (t) => { await Promise.all([gateway.inject(t), redis.inject(t)]) },
    clear: async (t) => {
      await redis.clear(t)
      await gateway.clear(t)
    },
  }
}

/** Several faults at once, as one. */
export function together (...faults: Fault[]): Fault {
  return {
    description: faults.map((f) => f.description).join(' + '),
    subjects: faults.flatMap((f) => f.subjects),
    ...(faults.some((f) => f.upstream) ? { upstream: true } : {}),
    ...(faults.some((f) => f.upstreamDown) ? { upstreamDown: true } : {}),
    ...(faults.some((f) => f.directoryDown) ? { directoryDown: true } : {}),
    survivingPath: (op) => faults.every((f) => f.survivingPath(op)),
    inject: async (t) => { await Promise.all(faults.map((f) => f.inject(t))) },
    clear: async (t) => { await Promise.all(faults.map((f) => f.clear(t))) },
  }
}
