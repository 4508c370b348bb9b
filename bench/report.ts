import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { machine, table } from './lib/format.js'
import { writeFlameGraph } from './lib/flame.js'
import type { ProfileSummary } from './lib/profile.js'
import { median, type Mixed, type Row } from './measure.js'
import { RESULTS, ROUNDS, SCENARIOS, SIGNATURES_PER_FLOW, SOAK_WARMUP_SEC, TIMING, VUS, args, custom, only, type Scenario } from './options.js'
import type { Soak } from './soak.js'

/** The gateway's own account of its memory at the end (MB): see bench/servers/gateway.ts. */
export interface GatewayMemory { usage: Record<string, number>, heapSpaces: Record<string, number>, residentMb: Record<string, number> }

export interface Outcome {
  rows: Partial<Record<Scenario, Row>>
  mixed?: Mixed | undefined
  /** Peak RSS of the gateway over the measured scenarios (the soak reports its own). */
  rssMb: number
  soak?: Soak | undefined
  memory: GatewayMemory
  profile?: { file: string, summary: ProfileSummary } | undefined
  pinned: string | undefined
}

/** Prints the table, the ratios against their targets and the details; writes bench/results/<date>[-soak][-quick][-custom][-profile].json (and, profiled, a -flame.svg beside it). */
export async function report (outcome: Outcome): Promise<void> {
  const { rows, mixed, soak, memory, profile, rssMb: rss } = outcome
  const out = (line = '') => process.stdout.write(`${line}\n`)
  out()
  out(table(['scenario', 'flows/s', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU ms/flow', 'driver CPU ms/flow'], SCENARIOS.flatMap((key) => {
    const r = rows[key]
    if (r === undefined) return []
    return [[r.name, r.unit === 'flows' ? r.flowsPerSec : '–', r.requestsPerSec, r.p50Ms, r.p99Ms, r.errors, r.serverCpuMsPerFlow, r.driverCpuMsPerFlow]]
  })))
  const sso = rows.sso
  const peerSso = rows['peer-sso']
  const es256 = rows.es256
  // Both measured at once in the outage phase: the same conditions, the cached path against the SSO path.
  const cached = mixed?.cached
  const ssoOutage = mixed?.sso
  // Each round measures the ceiling, the SSO flow and the peer back to back; a ratio is the median of the
  // rounds' own ratios, so a slow spell of this shared machine moves both sides of a ratio alike.
  const ssoVsPeer = sso && peerSso ? roundRatios(sso, peerSso, 1) : []
  const ssoVsEs256 = sso && es256 ? roundRatios(sso, es256, 1 / SIGNATURES_PER_FLOW) : []
  const ratioSsoVsPeer = median(ssoVsPeer)
  const ratioSsoVsEs256Ceiling = median(ssoVsEs256)
  const es256Jose = rows['es256-jose']
  const ratioSsoVsJoseCeiling = sso && es256Jose ? sso.flowsPerSec / (es256Jose.requestsPerSec / SIGNATURES_PER_FLOW) : NaN
  const ratioCachedP99VsSsoP99 = ssoOutage && cached ? cached.p99Ms / ssoOutage.p99Ms : NaN
  const targets = [
    { name: 'SSO flows/s ÷ peer SSO flows/s', value: ratioSsoVsPeer, target: '≥ 2.5', met: ratioSsoVsPeer >= 2.5 },
    { name: `SSO flows/s ÷ (ES256 ceiling ÷ ${SIGNATURES_PER_FLOW})`, value: ratioSsoVsEs256Ceiling, target: '≥ 0.5', met: ratioSsoVsEs256Ceiling >= 0.5 },
    { name: 'cached-login p99 ÷ SSO p99 (upstream blackholed)', value: ratioCachedP99VsSsoP99, target: '≤ 1.5', met: ratioCachedP99VsSsoP99 <= 1.5 },
    { name: 'gateway peak RSS under load, MB', value: rss, target: '≤ 150', met: rss > 0 && rss <= 150 },
    ...(soak ? [{ name: `soak (${(soak.requests / 1e6).toFixed(2)}M requests): live heap end ÷ half-way`, value: soak.liveHeapEnd.heapUsedMb / soak.liveHeapMid.heapUsedMb, target: 'flat', met: soak.flat && soak.requests >= 1_000_000 }] : []),
  ]
  out()
  out(table(['ratio', 'value', 'target', 'met'], targets.map((t) => [t.name, t.value, t.target, Number.isNaN(t.value) ? 'not run' : t.met ? 'yes' : 'NO'])))
  out(`\ngateway memory at the end (MB): ${JSON.stringify(memory.usage)}; resident by mapping ${JSON.stringify(memory.residentMb)}`)
  if (mixed) out(`\nupstream blackholed, SSO and cached logins at the same time (${mixed.seconds} s, half the users each): SSO p50 ${mixed.sso.p50Ms.toFixed(2)} ms, p99 ${mixed.sso.p99Ms.toFixed(2)} ms (${mixed.sso.flows} flows); cached p50 ${mixed.cached.p50Ms.toFixed(2)} ms, p99 ${mixed.cached.p99Ms.toFixed(2)} ms (${mixed.cached.flows} flows)`)
  if (ssoVsPeer.length > 0) out(`\nper round: SSO ÷ peer ${ssoVsPeer.map((r) => r.toFixed(2)).join(', ')}; of the medians ${(sso!.flowsPerSec / peerSso!.flowsPerSec).toFixed(2)}`)
  if (ssoVsEs256.length > 0) out(`per round: SSO ÷ (ES256 ceiling ÷ ${SIGNATURES_PER_FLOW}) ${ssoVsEs256.map((r) => r.toFixed(3)).join(', ')}; of the medians ${(sso!.flowsPerSec / (es256!.requestsPerSec / SIGNATURES_PER_FLOW)).toFixed(3)}`)
  if (sso && peerSso) out(`\nserver CPU per SSO flow: peer ${peerSso.serverCpuMsPerFlow.toFixed(2)} ms, understudy ${sso.serverCpuMsPerFlow.toFixed(2)} ms (${(peerSso.serverCpuMsPerFlow / sso.serverCpuMsPerFlow).toFixed(2)}×)`)
  if (sso && es256) out(`server CPU per SSO flow ÷ per ES256 ceiling request: ${(sso.serverCpuMsPerFlow / es256.serverCpuMsPerFlow).toFixed(2)} (the target allows ${2 * SIGNATURES_PER_FLOW})`)
  if (sso && es256Jose) out(`SSO flows/s ÷ (jose SignJWT ceiling ÷ ${SIGNATURES_PER_FLOW}), of the medians: ${ratioSsoVsJoseCeiling.toFixed(3)} (the ceiling with the stack's JWT library; the target is judged on the gateway's faster signer)`)
  if (soak) {
    out(`\nsoak: ${soak.requests} requests (${soak.errors} failed flows) in ${soak.minutes.toFixed(1)} min; gateway RSS ${soak.rssStartMb.toFixed(1)} → ${soak.rssEndMb.toFixed(1)} MB, peak ${soak.rssPeakMb.toFixed(1)}`)
    out(`  after ${SOAK_WARMUP_SEC} s: RSS slope ${soak.slopeMbPerMin.toFixed(2)} MB/min (${soak.slopeMbPer100kRequests.toFixed(2)} MB per 100k requests); per-minute RSS peaks ${soak.windows.map((w) => w.maxMb.toFixed(0)).join(', ')} MB, troughs ${soak.windows.map((w) => w.minMb.toFixed(0)).join(', ')} MB (peak slope ${soak.peakSlopeMbPerMin.toFixed(2)} MB/min)`)
    out(`  live heap after a full GC: ${soak.liveHeapMid.heapUsedMb.toFixed(1)} MB half-way, ${soak.liveHeapEnd.heapUsedMb.toFixed(1)} MB at the end (RSS then ${soak.liveHeapMid.rssMb.toFixed(0)} and ${soak.liveHeapEnd.rssMb.toFixed(0)} MB)`)
  }
  if (profile) {
    const p = profile.summary
    out(`\ngateway CPU profile ${profile.file}: ${p.busyMs} ms busy, ${p.idleMs} ms idle`)
    out(table(['self time by function', 'ms', '% busy'], p.functions.map((f) => [f.name, f.ms, f.percent])))
    out()
    out(table(['self time by module', 'ms', '% busy'], p.modules.map((f) => [f.name, f.ms, f.percent])))
  }
  const results = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    vus: VUS,
    rounds: ROUNDS,
    sliceSeconds: TIMING.sliceMs / 1000,
    gatewayNodeOptions: args['gateway-node-options'] ?? null,
    pinned: outcome.pinned === undefined ? false : { servers: `CPU ${outcome.pinned}`, driver: 'the other CPUs' },
    machine: await machine(),
    ssoFlowsPerSec: sso?.flowsPerSec ?? null,
    peerSsoFlowsPerSec: peerSso?.flowsPerSec ?? null,
    ratioSsoVsPeer: nullable(ratioSsoVsPeer),
    es256CeilingPerSec: es256?.requestsPerSec ?? null,
    signaturesPerFlow: SIGNATURES_PER_FLOW,
    ratioSsoVsEs256Ceiling: nullable(ratioSsoVsEs256Ceiling),
    perRound: { ssoVsPeer, ssoVsEs256Ceiling: ssoVsEs256 },
    ratioSsoVsJoseCeiling: nullable(ratioSsoVsJoseCeiling),
    serverCpuPerSsoFlowInCeilingRequests: sso && es256 ? sso.serverCpuMsPerFlow / es256.serverCpuMsPerFlow : null,
    cachedP99Ms: cached?.p99Ms ?? null,
    ssoP99Ms: ssoOutage?.p99Ms ?? null,
    ratioCachedP99VsSsoP99: nullable(ratioCachedP99VsSsoP99),
    rssMb: rss > 0 ? rss : null,
    gatewayMemoryAtEndMb: memory,
    targets: targets.map(({ name, value, target, met }) => ({ name, value: nullable(value), target, met })),
    scenarios: rows,
    ...(mixed ? { outageMixed: mixed } : {}),
    ...(soak ? { soak } : {}),
    ...(profile ? { profile: profile.summary } : {}),
  }
  await mkdir(RESULTS, { recursive: true })
  const suffix = `${soak ? '-soak' : ''}${args.quick ? '-quick' : ''}${custom ? '-custom' : ''}${profile ? '-profile' : ''}`
  const file = join(RESULTS, `${new Date().toISOString().slice(0, 10)}${suffix}.json`)
  await writeFile(file, JSON.stringify(results, null, 2) + '\n')
  out(`\nresults: ${file}`)
  if (profile) {
    const flame = file.replace(/\.json$/, '-flame.svg')
    await writeFlameGraph(profile.file, flame, { title: `understudy gateway, ${[...only].join(' + ')}, V8 CPU profile (main thread)` })
    out(`flame graph: ${flame}`)
  }
}

/** `a`'s rate ÷ `b`'s rate × `scale`, round by round (slices of one round were measured back to back). */
function roundRatios (a: Row, b: Row, scale: number): number[] {
  return a.slices.map((rate, i) => rate / (b.slices[i]! * scale)).filter((r) => Number.isFinite(r))
}

function nullable (value: number): number | null {
  return Number.isFinite(value) ? value : null
}
