import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import type { IncidentEvent } from '../../src/resilience/incidents.js'
import { sumMetric } from './metrics-text.js'
import { REGIONS, type RegionName, type Topology } from './topology.js'

/** Something the game day saw happen: a fault it injected, or a transition it observed. */
export interface TimelineEntry {
  at: number
  /** `gameday` (the fault log), `load-balancer`, `monitor` (admin API polls) or `gateway-a`/`gateway-b` (their incident timelines). */
  source: string
  kind: string
  /** What it concerns: `gateway-a`, `redis-b`, `upstream:primary`, ... */
  subject?: string
  /** True for a move away from health (a breaker opening, a store lost, a process gone). */
  bad?: boolean
  message: string
}

/** Counters from one gateway process's /metrics. */
interface MetricsSample { at: number, incarnation: number, upstreamCalls: number, logins: number }

interface Health {
  reachable: boolean
  breakers: Record<string, string>
  store: string
  peers: Record<string, string>
  /** Whether the gateway's directory answers: `ok`, or `unavailable` (its breaker open). */
  directory: string
}

const HEALTH_EVERY_MS = 200
const SLOW_EVERY_MS = 1_000
/** A gateway sub nobody has: the admin API's lookup of it reads the directory, answering 404 while the directory works and 503 while it does not. */
const NOBODY = 'gameday-monitor-nobody-'.padEnd(43, '0')

/**
 * Watches both gateways through their admin ports, as an operator's
 * dashboards would: `/admin/health` (breakers, store, peers) and the
 * directory (a lookup through `/admin/identities`) every 200 ms, `/metrics`
 * and `/admin/incidents` every second. State changes become timeline
 * entries; incident events are kept even after the gateway that recorded
 * them was killed.
 */
export class Monitor {
  readonly entries: TimelineEntry[] = []
  readonly #topology: Topology
  readonly #agent = new Agent({ keepAliveTimeout: 2_000, connect: { timeout: 1_000 }, headersTimeout: 2_000, bodyTimeout: 2_000 })
  readonly #health = new Map<RegionName, Health>()
  readonly #metrics = new Map<RegionName, MetricsSample[]>()
  readonly #seenEvents = new Set<string>()
  #running = false
  #loops: Array<Promise<void>> = []
  #stopped: Promise<void> | undefined

  constructor (topology: Topology) {
    this.#topology = topology
  }

  /** Starts polling both gateways. */
  start (): void {
    this.#running = true
    this.#loops = REGIONS.flatMap((name) => [
      this.#every(HEALTH_EVERY_MS, () => this.#pollHealth(name)),
      this.#every(SLOW_EVERY_MS, () => this.#pollSlow(name)),
    ])
  }

  /** Stops polling after one last look at the incident timelines; safe to call more than once. */
  stop (): Promise<void> {
    this.#stopped ??= (async () => {
      this.#running = false
      await Promise.allSettled(this.#loops)
      await Promise.allSettled(REGIONS.map((name) => this.#pollSlow(name)))
      await this.#agent.close()
    })()
    return this.#stopped
  }

  /** True when both gateways answer with every breaker closed, every store reachable and the directory answering. */
  healthy (): boolean {
    return REGIONS.every((name) => {
      const h = this.#health.get(name)
      return h !== undefined && h.reachable && h.store === 'ok' && h.directory === 'ok' && Object.values(h.breakers).every((s) => s === 'closed') && Object.values(h.peers).every((s) => s === 'ok')
    })
  }

  /** True when every gateway that answers has every upstream breaker away from closed: it knows the whole upstream is down. */
  upstreamDown (): boolean {
    const answering = REGIONS.map((name) => this.#health.get(name)).filter((h) => h?.reachable === true)
    return answering.length > 0 && answering.every((h) => Object.values(h!.breakers).length > 0 && Object.values(h!.breakers).every((s) => s !== 'closed'))
  }

  /** Upstream calls (health probes excluded) and logins counted by the gateways within [from, to). */
  counted (from: number, to: number): { upstreamCalls: number, logins: number } {
    const total = { upstreamCalls: 0, logins: 0 }
    for (const samples of this.#metrics.values()) {
      for (const incarnation of new Set(samples.map((s) => s.incarnation))) {
        const mine = samples.filter((s) => s.incarnation === incarnation)
        const at = (t: number) => mine.filter((s) => s.at <= t).at(-1) ?? { upstreamCalls: 0, logins: 0 }
        total.upstreamCalls += at(to).upstreamCalls - at(from).upstreamCalls
        total.logins += at(to).logins - at(from).logins
      }
    }
    return total
  }

  async #every (ms: number, poll: () => Promise<void>): Promise<void> {
    while (this.#running) {
      const started = Date.now()
      await poll().catch(() => {})
      await sleep(Math.max(0, ms - (Date.now() - started)))
    }
  }

  async #get (name: RegionName, path: string): Promise<string> {
    const { status, text } = await this.#ask(name, path)
    if (status >= 400) throw new Error(`${path}: ${status}`)
    return text
  }

  async #ask (name: RegionName, path: string): Promise<{ status: number, text: string }> {
    const answer = await request(`${this.#topology.regions[name].adminUrl}${path}`, { headers: { authorization: `Bearer ${this.#topology.adminToken}` }, dispatcher: this.#agent })
    return { status: answer.statusCode, text: await answer.body.text() }
  }

  /** The directory as this gateway sees it: a 503 directory_unavailable to a lookup means it cannot answer. */
  async #directory (name: RegionName): Promise<string> {
    const { status, text } = await this.#ask(name, `/admin/identities/${NOBODY}`)
    if (status === 503 && text.includes('directory_unavailable')) return 'unavailable'
    if (status >= 500) throw new Error(`/admin/identities: ${status}`)
    return 'ok'
  }

  async #pollHealth (name: RegionName): Promise<void> {
    let now: Health
    try {
      const [health, directory] = await Promise.all([this.#get(name, '/admin/health'), this.#directory(name)])
      const report = JSON.parse(health) as { providers: Record<string, { regions: Record<string, { state: string }> }>, store: { status: string, peers?: Record<string, string> } }
      const breakers = Object.fromEntries(Object.values(report.providers).flatMap((p) => Object.entries(p.regions).map(([region, r]) => [region, r.state])))
      const peers = Object.fromEntries(Object.entries(report.store.peers ?? {}).map(([endpoint, state]) => [this.#redisBehind(endpoint), state]))
      now = { reachable: true, breakers, store: report.store.status, peers, directory }
    } catch {
      const before = this.#health.get(name)
      now = { reachable: false, breakers: before?.breakers ?? {}, store: before?.store ?? 'ok', peers: before?.peers ?? {}, directory: before?.directory ?? 'ok' }
    }
    this.#compare(name, this.#health.get(name), now)
    this.#health.set(name, now)
  }

  #compare (name: RegionName, before: Health | undefined, now: Health): void {
    const at = Date.now()
    const gateway = `gateway-${name}`
    const add = (subject: string, bad: boolean, message: string) => this.entries.push({ at, source: 'monitor', kind: 'observed', subject, bad, message })
    if (before === undefined) return
    if (before.reachable !== now.reachable) add(gateway, !now.reachable, `${gateway} admin port ${now.reachable ? 'answers again' : 'does not answer'}`)
    if (!now.reachable) return
    for (const [region, state] of Object.entries(now.breakers)) {
      if (before.breakers[region] !== undefined && before.breakers[region] !== state) add(`upstream:${region}`, state === 'open', `${gateway}: breaker idp/${region} ${before.breakers[region]} → ${state}`)
    }
    if (before.store !== now.store) add(`redis-${name}`, now.store !== 'ok', `${gateway}: its own Redis is ${now.store === 'ok' ? 'reachable again' : 'unreachable'}`)
    if (before.directory !== now.directory) add('directory', now.directory !== 'ok', `${gateway}: the directory ${now.directory === 'ok' ? 'answers again' : 'does not answer (admin API: directory_unavailable)'}`)
    for (const [peer, state] of Object.entries(now.peers)) {
      if (before.peers[peer] !== undefined && before.peers[peer] !== state) add(peer, state !== 'ok', `${gateway}: peer ${peer} is ${state === 'ok' ? 'reachable again' : 'unreachable'}`)
    }
  }

  async #pollSlow (name: RegionName): Promise<void> {
    const incarnation = this.#topology.regions[name].process.incarnation
    const [metrics, incidents] = await Promise.allSettled([this.#get(name, '/metrics'), this.#get(name, '/admin/incidents')])
    if (metrics.status === 'fulfilled') {
      const samples = this.#metrics.get(name) ?? []
      samples.push({
        at: Date.now(),
        incarnation,
        upstreamCalls: sumMetric(metrics.value, 'understudy_upstream_request_duration_seconds_count', (l) => l.operation !== 'probe'),
        logins: sumMetric(metrics.value, 'understudy_logins_total'),
      })
      this.#metrics.set(name, samples)
    }
    if (incidents.status === 'fulfilled') {
      const { incidents: list } = JSON.parse(incidents.value) as { incidents: Array<{ timeline: IncidentEvent[] }> }
      for (const event of list.flatMap((i) => i.timeline)) this.#noteEvent(event)
    }
  }

  #noteEvent (event: IncidentEvent): void {
    const key = `${event.at}|${event.instance}|${event.kind}|${event.message}`
    if (this.#seenEvents.has(key)) return
    this.#seenEvents.add(key)
    const bad = (event.kind === 'breaker' && event.data?.to === 'open') || event.kind === 'failover'
    const gateway = event.instance.replace(/^region-/, 'gateway-')
    const message = `${event.kind === 'breaker' ? `breaker ${event.provider}/` : ''}${event.message}`
    this.entries.push({ at: Date.parse(event.at), source: gateway, kind: event.kind, ...(event.region ? { subject: `upstream:${event.region}` } : {}), bad, message })
  }

  /** The Redis a peer endpoint (a fault proxy's address) leads to. */
  #redisBehind (endpoint: string): string {
    return this.#topology.describe(endpoint)?.split('→')[1] ?? endpoint
  }
}
