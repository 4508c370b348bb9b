import { createHistogram, performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { CACHED, SHOP, ssoFlow, type BenchUser } from './flows.js'
import { cpuMs } from './lib/child.js'
import type { Http } from './lib/http.js'
import { closedLoop, type LoadResult, type MeasuredPhase } from './lib/load.js'
import { ROUNDS, TIMING, VUS, log, type Scenario } from './options.js'

/** One measured scenario: how to drive it, and which process serves it (for its CPU time). */
export interface Definition {
  key: Scenario
  name: string
  unit: 'flows' | 'requests'
  /** The process whose CPU time the row charges: a bench server or the CLI gateway. */
  server: () => { pid: number }
  /** A closed loop of flows; each user's state is made once, before the first slice. */
  flow?: { setup: (vu: number) => Promise<unknown>, run: (state: never, vu: number) => Promise<number> }
  /** autocannon against one URL (the ceilings, the diagnostics). */
  url?: () => string
  headers?: () => Record<string, string>
}

/** A scenario's result: its slices merged, with the CPU both sides spent per flow. */
export interface Row extends LoadResult {
  name: string
  unit: 'flows' | 'requests'
  /** Each slice's rate (flows/s, or req/s for request scenarios); the row's rate is their median. */
  slices: number[]
  serverCpuMsPerFlow: number
  /** Each slice's server CPU per flow, in the order of `slices`: a slice far above the others is a warm-up the slice did not cover. */
  sliceServerCpuMsPerFlow: number[]
  driverCpuMsPerFlow: number
}

interface Slice { phase: LoadResult, histogram?: MeasuredPhase['histogram'], cpuMs: number, driverCpuMs: number }

/** CPU share under which a server counts as quiet, and the longest wait for it. */
const QUIET_SHARE = 0.075
const QUIET_MAX_MS = 3_000

/**
 * Waits until `pid` has gone quiet (at most one 10 ms tick of CPU in 200 ms), at most 3 s. A server that
 * served a slice keeps its CPU busy for a while after the load stops (the peer, with every
 * session, code and grant in its heap, runs major collections for a second or more), and the next
 * slice's server is pinned to the same CPU: without this, the row after a peer row paid for it.
 */
async function quiet (pid: number): Promise<void> {
  const start = performance.now()
  let before = await cpuMs(pid).catch(() => NaN)
  while (performance.now() - start < QUIET_MAX_MS) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    const now = await cpuMs(pid).catch(() => NaN)
    if (!(now - before > 200 * QUIET_SHARE)) return
    before = now
  }
  log(`bench: process ${pid} still busy after ${QUIET_MAX_MS} ms; measuring anyway`)
}

/** Measures every definition in ROUNDS interleaved slices and merges each one's slices into a row. */
export async function measureInterleaved (definitions: Definition[]): Promise<Partial<Record<Scenario, Row>>> {
  const states = new Map<Scenario, unknown[]>()
  for (const d of definitions) {
    if (d.flow) states.set(d.key, await Promise.all(Array.from({ length: VUS }, async (_, vu) => d.flow!.setup(vu))))
  }
  const slices = new Map<Scenario, Slice[]>()
  let previous: number | undefined
  for (let round = 0; round < ROUNDS; round++) {
    for (const d of definitions) {
      log(`bench: round ${round + 1}/${ROUNDS}: ${d.name}`)
      const warmupMs = round === 0 ? TIMING.firstWarmupMs : TIMING.warmupMs
      const pid = d.server().pid
      // Every server shares one CPU: a slice must not pay for the previous server's collection after its load.
      if (previous !== undefined && previous !== pid) await quiet(previous)
      previous = pid
      let serverBefore: Promise<number> = Promise.resolve(0)
      let driverBefore = process.cpuUsage()
      // CPU is read from the end of the warm-up to the end of the slice.
      const onMeasure = () => {
        driverBefore = process.cpuUsage()
        serverBefore = cpuMs(pid)
      }
      let phase: LoadResult
      let histogram: MeasuredPhase['histogram'] | undefined
      if (d.url) {
        phase = await cannon(d.url(), warmupMs, onMeasure, d.headers?.())
      } else {
        const vuStates = states.get(d.key)!
        const measured = await closedLoop({ vus: VUS, warmupMs, durationMs: TIMING.sliceMs, onMeasure, setup: async (vu) => vuStates[vu], flow: d.flow!.run as (state: unknown, vu: number) => Promise<number> })
        histogram = measured.histogram
        phase = measured
      }
      const server = (await cpuMs(pid)) - (await serverBefore)
      const driver = process.cpuUsage(driverBefore)
      if (phase.errors > 0) log(`bench: ${d.name}: ${phase.errors} failed flows; first: ${phase.firstError ?? ''}`)
      slices.set(d.key, [...(slices.get(d.key) ?? []), { phase, ...(histogram ? { histogram } : {}), cpuMs: server, driverCpuMs: (driver.user + driver.system) / 1000 }])
    }
  }
  return Object.fromEntries(definitions.map((d) => [d.key, merge(d, slices.get(d.key)!)]))
}

/** SSO and cached logins measured at the same time, on the same gateway (the p99 comparison). */
export interface Mixed { sso: { flows: number, p50Ms: number, p99Ms: number }, cached: { flows: number, p50Ms: number, p99Ms: number }, seconds: number }

/**
 * Half the users in SSO flows, half in cached logins, at once: whatever else
 * the machine does then (a GC, another process) hits both paths alike, which
 * separate slices cannot promise for a tail percentile.
 */
export async function measureMixed (http: Http, users: BenchUser[], op: { token: string }): Promise<Mixed> {
  log('bench: SSO and cached logins at the same time (p99 comparison)')
  const histograms = { sso: createHistogram(), cached: createHistogram() }
  let recording = false
  const durationMs = ROUNDS * TIMING.sliceMs
  await closedLoop({
    vus: VUS,
    warmupMs: TIMING.firstWarmupMs,
    durationMs,
    onMeasure: () => { recording = true },
    setup: async (vu) => vu,
    flow: async (vu) => {
      const started = performance.now()
      const cached = vu % 2 === 1
      await ssoFlow(http, op, cached ? CACHED : SHOP, cached ? users[vu]!.outage : users[vu]!.shop)
      if (recording) histograms[cached ? 'cached' : 'sso'].record(Math.max(1, Math.round((performance.now() - started) * 1e6)))
      return 2
    },
  })
  const summary = (h: ReturnType<typeof createHistogram>) => ({ flows: h.count, p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6 })
  return { sso: summary(histograms.sso), cached: summary(histograms.cached), seconds: durationMs / 1000 }
}

/** One row from a scenario's slices: the median slice rate; latency from the merged histograms. */
function merge (d: Definition, slices: Slice[]): Row {
  const rates = slices.map((s) => (d.unit === 'flows' ? s.phase.flowsPerSec : s.phase.requestsPerSec))
  const flows = slices.reduce((n, s) => n + s.phase.flows, 0)
  const requests = slices.reduce((n, s) => n + s.phase.requests, 0)
  let p50Ms: number
  let p99Ms: number
  if (slices.every((s) => s.histogram)) {
    const all = createHistogram()
    for (const s of slices) all.add(s.histogram!)
    p50Ms = all.percentile(50) / 1e6
    p99Ms = all.percentile(99) / 1e6
  } else {
    // autocannon's slices: no histograms to merge.
    p50Ms = median(slices.map((s) => s.phase.p50Ms))
    p99Ms = Math.max(...slices.map((s) => s.phase.p99Ms))
  }
  const firstError = slices.find((s) => s.phase.firstError)?.phase.firstError
  const rate = median(rates)
  const requestsPerFlow = flows > 0 ? requests / flows : 1
  return {
    name: d.name,
    unit: d.unit,
    flows,
    requests,
    errors: slices.reduce((n, s) => n + s.phase.errors, 0),
    elapsedMs: slices.reduce((n, s) => n + s.phase.elapsedMs, 0),
    flowsPerSec: d.unit === 'flows' ? rate : rate / requestsPerFlow,
    requestsPerSec: d.unit === 'flows' ? rate * requestsPerFlow : rate,
    p50Ms,
    p99Ms,
    slices: rates,
    serverCpuMsPerFlow: slices.reduce((n, s) => n + s.cpuMs, 0) / Math.max(1, flows),
    sliceServerCpuMsPerFlow: slices.map((s) => s.cpuMs / Math.max(1, s.phase.flows)),
    driverCpuMsPerFlow: slices.reduce((n, s) => n + s.driverCpuMs, 0) / Math.max(1, flows),
    ...(firstError === undefined ? {} : { firstError }),
  }
}

/** The median; NaN for no values. */
export function median (values: number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** autocannon against one URL: a warm-up, then the measured slice. */
async function cannon (url: string, warmupMs: number, onMeasure: () => void, headers: Record<string, string> = {}): Promise<LoadResult> {
  await autocannon({ url, headers, connections: VUS, duration: warmupMs / 1000 })
  onMeasure()
  const r = await autocannon({ url, headers, connections: VUS, duration: TIMING.sliceMs / 1000 })
  // The ceilings answer 200; the /authorize diagnostic answers 302 with a code.
  const ok = r['2xx'] + r['3xx']
  return { flows: ok, requests: ok, errors: r.errors + r['4xx'] + r['5xx'], elapsedMs: r.duration * 1000, flowsPerSec: ok / r.duration, requestsPerSec: ok / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 }
}
