import type { Gateway } from './gateway.js'
import type { Lifecycle } from './lifecycle.js'

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down'
  region: string
  providers: Record<string, { status: 'ok' | 'degraded', regions: Record<string, { state: string }> }>
  store: { kind: string, status: 'ok' | 'unreachable' }
}

const STORE_PING_TIMEOUT_MS = 500

/**
 * The `/healthz` report: `down` only when this instance cannot serve logins;
 * an unreachable store or upstream makes it `degraded`, never `down`.
 */
export async function healthReport (gw: Gateway, lifecycle: Lifecycle): Promise<HealthReport> {
  const storeOk = await pingWithin(gw, STORE_PING_TIMEOUT_MS)
  const providers: HealthReport['providers'] = {}
  for (const connector of gw.connectors.values()) {
    providers[connector.id] = { status: 'ok', regions: Object.fromEntries(connector.regions.map((r) => [r.name, { state: 'closed' }])) }
  }
  const degraded = !storeOk || Object.values(providers).some((p) => p.status !== 'ok')
  return {
    status: lifecycle.ready || lifecycle.draining ? (degraded ? 'degraded' : 'ok') : 'down',
    region: gw.config.region,
    providers,
    store: { kind: gw.store.name, status: storeOk ? 'ok' : 'unreachable' },
  }
}

async function pingWithin (gw: Gateway, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([gw.store.ping(), new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms) })])
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
