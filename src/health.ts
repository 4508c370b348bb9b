import type { Gateway } from './gateway.js'
import type { Lifecycle } from './lifecycle.js'
import type { BreakerState } from './resilience/breaker.js'
import type { StoreHealth } from './store/store.js'

type Status = 'ok' | 'degraded' | 'down'

/** The detailed health of this instance, for the admin port (`GET /admin/health`): breaker states as they are, peers by host. */
export interface HealthReport {
  status: Status
  region: string
  providers: Record<string, { status: 'ok' | 'degraded', regions: Record<string, { state: BreakerState, since: string, downSince?: string }> }>
  store: { kind: string } & StoreHealth
}

/**
 * The public `/healthz` answer: the same verdicts, but no host names or URLs
 * (peers are `peer1`, `peer2`… in config order), and each region as a user
 * would describe it: down from the moment its breaker opened until it closes
 * again (a failed half-open trial is not a recovery).
 */
export interface PublicHealthReport {
  status: Status
  region: string
  providers: Record<string, { status: 'ok' | 'degraded', regions: Record<string, { state: 'closed' | 'open', since: string }> }>
  store: { kind: string, status: StoreHealth['status'], peers?: Record<string, StoreHealth['status']> }
}

const STORE_PING_TIMEOUT_MS = 500

/**
 * The detailed health report: `down` only when this instance cannot serve
 * logins; an unreachable store or upstream makes it `degraded`, never `down`.
 */
export async function healthReport (gw: Gateway, lifecycle: Lifecycle): Promise<HealthReport> {
  const store = await storeHealth(gw)
  const storeOk = store.status === 'ok' && Object.values(store.peers ?? {}).every((p) => p === 'ok')
  const providers: HealthReport['providers'] = {}
  for (const router of gw.upstreams.values()) {
    const regions = Object.fromEntries(router.lanes.map(({ region, breaker }) => [region.name, {
      state: breaker.state,
      since: new Date(breaker.since).toISOString(),
      ...(breaker.downSince === undefined ? {} : { downSince: new Date(breaker.downSince).toISOString() }),
    }]))
    providers[router.id] = { status: router.lanes.every((lane) => lane.breaker.state === 'closed') ? 'ok' : 'degraded', regions }
  }
  const degraded = !storeOk || Object.values(providers).some((p) => p.status !== 'ok')
  return {
    status: lifecycle.ready || lifecycle.draining ? (degraded ? 'degraded' : 'ok') : 'down',
    region: gw.config.region,
    providers,
    store: { kind: gw.store.name, ...store },
  }
}

/** What the public may see of a health report (see PublicHealthReport). */
export function publicHealth (report: HealthReport): PublicHealthReport {
  const providers: PublicHealthReport['providers'] = {}
  for (const [id, provider] of Object.entries(report.providers)) {
    const regions = Object.fromEntries(Object.entries(provider.regions).map(([name, r]) => [name, r.state === 'closed'
      ? { state: 'closed' as const, since: r.since }
      : { state: 'open' as const, since: r.downSince ?? r.since }]))
    providers[id] = { status: provider.status, regions }
  }
  const { kind, status, peers } = report.store
  return {
    status: report.status,
    region: report.region,
    providers,
    store: { kind, status, ...(peers ? { peers: Object.fromEntries(Object.values(peers).map((state, i) => [`peer${i + 1}`, state])) } : {}) },
  }
}

async function storeHealth (gw: Gateway): Promise<StoreHealth> {
  let timer: NodeJS.Timeout | undefined
  const check = gw.store.health ? gw.store.health() : gw.store.ping().then(() => ({ status: 'ok' as const }))
  try {
    return await Promise.race([check, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), STORE_PING_TIMEOUT_MS) })])
  } catch {
    return { status: 'unreachable' }
  } finally {
    clearTimeout(timer)
  }
}
