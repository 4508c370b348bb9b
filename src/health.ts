import type { Gateway } from './gateway.js'
import type { Lifecycle } from './lifecycle.js'
import type { BreakerState } from './resilience/breaker.js'
import type { StoreHealth } from './store/store.js'

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down'
  region: string
  providers: Record<string, { status: 'ok' | 'degraded', regions: Record<string, { state: BreakerState, since: string }> }>
  store: { kind: string } & StoreHealth
}

const STORE_PING_TIMEOUT_MS = 500

/**
 * The `/healthz` report: `down` only when this instance cannot serve logins;
 * an unreachable store or upstream makes it `degraded`, never `down`.
 */
export async function healthReport (gw: Gateway, lifecycle: Lifecycle): Promise<HealthReport> {
  const store = await storeHealth(gw)
  const storeOk = store.status === 'ok' && Object.values(store.peers ?? {}).every((p) => p === 'ok')
  const providers: HealthReport['providers'] = {}
  for (const router of gw.upstreams.values()) {
    const regions = Object.fromEntries(router.lanes.map((lane) => [lane.region.name, { state: lane.breaker.state, since: new Date(lane.breaker.since).toISOString() }]))
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
