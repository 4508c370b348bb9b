import { CACHED, SHOP, refreshOnce, ssoFlow, type BenchUser } from './flows.js'
import { RssSampler } from './lib/child.js'
import type { GatewayCli } from './lib/gateway-cli.js'
import { slope } from './lib/format.js'
import type { Http } from './lib/http.js'
import { closedLoop } from './lib/load.js'
import { SOAK_WARMUP_SEC, VUS, args, log } from './options.js'

/** Memory after a full GC (MB): what the gateway really holds, without the garbage V8 has not collected yet. */
export interface LiveHeap { heapUsedMb: number, rssMb: number }

export interface Soak {
  requests: number
  errors: number
  minutes: number
  rssStartMb: number
  rssEndMb: number
  rssPeakMb: number
  /** Least-squares slope of every RSS sample after the warm-up. */
  slopeMbPerMin: number
  slopeMbPer100kRequests: number
  /** Per minute after the warm-up: the highest and lowest RSS (V8 collects the old generation in a sawtooth). */
  windows: Array<{ fromSec: number, maxMb: number, minMb: number }>
  peakSlopeMbPerMin: number
  liveHeapMid: LiveHeap
  liveHeapEnd: LiveHeap
  flat: boolean
  samples: Array<[number, number]>
}

/**
 * ≥ 1M requests while the upstream blackholes: a third of the users in SSO
 * flows, a third in cached logins, a third in refresh chains. RSS is sampled
 * every 2 s. V8 lets the old generation grow between full collections, so RSS
 * is a sawtooth: the verdict rests on the live heap after a forced full GC at
 * the half-way point and at the end (for this the gateway runs with
 * --expose-gc and a probe that answers over IPC: servers/gc-probe.ts), and
 * on the per-minute RSS peaks after the warm-up.
 */
export async function runSoak (http: Http, gateway: GatewayCli, users: BenchUser[], chains: Array<{ token: string }>, op: { token: string }): Promise<Soak> {
  const target = Number(args['soak-requests'])
  log(`bench: soak, ${target} requests…`)
  let served = 0
  let lastLog = Date.now()
  let liveHeapMid: Promise<LiveHeap> | undefined
  const sampler = new RssSampler(gateway.pid, 2000, () => served)
  const result = await closedLoop({
    vus: VUS,
    warmupMs: 0,
    requests: target,
    setup: async (vu) => vu,
    flow: async (vu) => {
      const user = users[vu]!
      if (vu % 3 === 0) await ssoFlow(http, op, SHOP, user.shop)
      else if (vu % 3 === 1) await ssoFlow(http, op, CACHED, user.outage)
      else chains[vu]!.token = await refreshOnce(http, op.token, SHOP, chains[vu]!.token)
      const made = vu % 3 === 2 ? 1 : 2
      served += made
      return made
    },
    onTick: ({ requests }) => {
      if (liveHeapMid === undefined && requests >= target / 2) liveHeapMid = liveHeap(gateway)
      if (Date.now() - lastLog < 30_000) return
      lastLog = Date.now()
      log(`bench: soak: ${requests} requests, gateway RSS ${sampler.samples.at(-1)?.[1].toFixed(1) ?? '?'} MB`)
    },
  })
  sampler.stop()
  const liveHeapEnd = await liveHeap(gateway)
  if (result.errors > 0) log(`bench: soak: ${result.errors} failed flows; first: ${result.firstError ?? ''}`)
  const samples = sampler.samples
  const judged = samples.map((sample, i) => ({ sample, requests: sampler.requestsAt[i]! })).filter(({ sample }) => sample[0] >= SOAK_WARMUP_SEC)
  const windows: Soak['windows'] = []
  for (const { sample: [t, mb] } of judged) {
    const fromSec = SOAK_WARMUP_SEC + Math.floor((t - SOAK_WARMUP_SEC) / 60) * 60
    const window = windows.at(-1)
    if (window?.fromSec === fromSec) {
      window.maxMb = Math.max(window.maxMb, mb)
      window.minMb = Math.min(window.minMb, mb)
    } else {
      windows.push({ fromSec, maxMb: mb, minMb: mb })
    }
  }
  const mid = await (liveHeapMid ?? Promise.resolve(liveHeapEnd))
  const peakSlope = slope(windows.map((w) => [w.fromSec / 60, w.maxMb]))
  return {
    requests: result.requests,
    errors: result.errors,
    minutes: result.elapsedMs / 60_000,
    rssStartMb: samples[0]?.[1] ?? NaN,
    rssEndMb: samples.at(-1)?.[1] ?? NaN,
    rssPeakMb: sampler.peak,
    slopeMbPerMin: slope(judged.map(({ sample }) => sample)) * 60,
    slopeMbPer100kRequests: slope(judged.map(({ sample, requests }) => [requests, sample[1]])) * 100_000,
    windows,
    peakSlopeMbPerMin: peakSlope,
    liveHeapMid: mid,
    liveHeapEnd,
    // Flat: no more live heap at the end than half-way (within 10 %), and per-minute RSS peaks that do not climb.
    flat: liveHeapEnd.heapUsedMb <= mid.heapUsedMb * 1.1 && (windows.length < 3 || peakSlope * (windows.length - 1) < 0.1 * windows[0]!.maxMb),
    samples,
  }
}

async function liveHeap (gateway: GatewayCli): Promise<LiveHeap> {
  const { after } = await gateway.call<{ after: NodeJS.MemoryUsage }>('gcMemory')
  return { heapUsedMb: after.heapUsed / 2 ** 20, rssMb: after.rss / 2 ** 20 }
}
