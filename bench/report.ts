import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Deviation } from './config.js'
import { machine, table } from './lib/format.js'
import { writeFlameGraph } from './lib/flame.js'
import type { GatewayMemory } from './lib/memory.js'
import type { ProfileSummary } from './lib/profile.js'
import type { LoggingCheck } from './logging-check.js'
import { median, type Mixed, type Row } from './measure.js'
import { RESULTS, ROUNDS, SCENARIOS, SIGNATURES_PER_FLOW, SOAK_WARMUP_SEC, TIMING, VUS, args, custom, only, type Scenario } from './options.js'
import type { RedisPerFlow } from './redis-count.js'
import type { Soak } from './soak.js'

/** How the gateway under test ran: its command, its logging as observed, and every way its config differs from the defaults. */
export interface GatewayRun {
  command: string
  logging: LoggingCheck
  deviations: Deviation[]
  /** The Redis rows' gateway differs in these too. */
  redisDeviations?: Deviation[]
}

export interface Outcome {
  rows: Partial<Record<Scenario, Row>>
  mixed?: Mixed | undefined
  /** Peak RSS of the gateway over the measured scenarios (the soak reports its own). */
  rssMb: number
  soak?: Soak | undefined
  memory: GatewayMemory
  profile?: { file: string, summary: ProfileSummary } | undefined
  pinned: string | undefined
  /** Whether dist/ had to be rebuilt (lib/build.ts). */
  build: string
  gateway: GatewayRun
  redisCounts?: Record<string, RedisPerFlow>
}

/** A ratio of two rows' rates, judged against a target or shown for reference. */
interface Ratio { key: string, name: string, a: Scenario, b: Scenario, scale: number, target?: { text: string, met: (v: number) => boolean } }

/** The rate ratios; `scale` divides b's rate (the ES256 ceiling's requests per flow's signatures). */
const RATIOS: Ratio[] = [
  { key: 'ssoOpaqueVsPeerOpaque', name: 'SSO ÷ peer SSO, both opaque access tokens (like for like)', a: 'sso-opaque', b: 'peer-sso-opaque', scale: 1, target: { text: '≥ 2.5', met: (v) => v >= 2.5 } },
  { key: 'ssoVsEs256Ceiling', name: `SSO (JWT) ÷ (ES256 ceiling ÷ ${SIGNATURES_PER_FLOW})`, a: 'sso', b: 'es256', scale: 1 / SIGNATURES_PER_FLOW, target: { text: '≥ 0.5', met: (v) => v >= 0.5 } },
  { key: 'ssoRedisVsMemory', name: 'SSO (JWT), Redis store ÷ memory store', a: 'sso-redis', b: 'sso', scale: 1, target: { text: '≥ 0.8', met: (v) => v >= 0.8 } },
  { key: 'ssoVsPeer', name: 'SSO ÷ peer SSO, both JWT access tokens', a: 'sso', b: 'peer-sso', scale: 1 },
  { key: 'ssoOpaqueRedisVsMemory', name: 'SSO (opaque), Redis store ÷ memory store', a: 'sso-opaque-redis', b: 'sso-opaque', scale: 1 },
  { key: 'ssoOpaqueRedisVsPeerRedis', name: 'SSO ÷ peer SSO, opaque, both on Redis (like for like)', a: 'sso-opaque-redis', b: 'peer-sso-opaque-redis', scale: 1 },
  { key: 'ssoOpaqueVsJwt', name: 'SSO opaque ÷ SSO JWT', a: 'sso-opaque', b: 'sso', scale: 1 },
]

/** Prints the run's setup, the table, the ratios against their targets and the details; writes bench/results/<date>[-soak][-quick][-custom][-profile].json (and, profiled, a -flame.svg beside it). */
export async function report (outcome: Outcome): Promise<void> {
  const { rows, mixed, soak, memory, profile, rssMb: rss, gateway } = outcome
  const out = (line = '') => process.stdout.write(`${line}\n`)
  const { logging } = gateway
  out()
  out(`gateway under test: ${gateway.command} (npm start's command${args['gateway-node-options'] === undefined ? '' : ', with --gateway-node-options'}), ${outcome.pinned === undefined ? 'unpinned' : `pinned to CPU ${outcome.pinned}`}; ${outcome.build}`)
  out(`gateway logging: level ${logging.level}, access log ${logging.requests ? 'on' : 'off'} (logging.level and logging.requests${gateway.deviations.some((d) => d.path.startsWith('/logging/')) ? '' : ', both the defaults'}); seen in its log: ${logging.sent} requests → ${logging.accessLines} access lines (${(logging.accessLines / logging.sent).toFixed(2)} per request) and ${logging.otherLines} other lines`)
  out()
  out('the gateway\'s config, everywhere it differs from the defaults (bench value; default: why):')
  for (const d of gateway.deviations) out(`  ${d.path} ${shown(d.bench)}; ${shown(d.default)}: ${d.why}`)
  for (const d of gateway.redisDeviations ?? []) out(`  ${d.path} ${shown(d.bench)}; ${shown(d.default)}: ${d.why} (the Redis rows' gateway only)`)
  out()
  out(table(['scenario', 'flows/s', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU ms/flow', 'driver CPU ms/flow'], SCENARIOS.flatMap((key) => {
    const r = rows[key]
    if (r === undefined) return []
    return [[r.name, r.unit === 'flows' ? r.flowsPerSec : '–', r.requestsPerSec, r.p50Ms, r.p99Ms, r.errors, r.serverCpuMsPerFlow, r.driverCpuMsPerFlow]]
  })))
  // Each round measures the ceiling, the SSO flows and the peer's back to back; a ratio is the median of the
  // rounds' own ratios, so a slow spell of this shared machine moves both sides of a ratio alike.
  const ratios = RATIOS.filter((r) => rows[r.a] && rows[r.b]).map((r) => {
    const perRound = roundRatios(rows[r.a]!, rows[r.b]!, r.scale)
    return { ...r, perRound, value: median(perRound), ofMedians: rows[r.a]!.flowsPerSec / (rate(rows[r.b]!) * r.scale) }
  })
  const ratio = (key: string) => ratios.find((r) => r.key === key)?.value ?? NaN
  // Both measured at once in the outage phase: the same conditions, the cached path against the SSO path.
  const ratioCachedP99VsSsoP99 = mixed ? mixed.cached.p99Ms / mixed.sso.p99Ms : NaN
  const targets = [
    ...ratios.filter((r) => r.target).map((r) => ({ name: r.name, value: r.value, target: r.target!.text, met: r.target!.met(r.value) })),
    { name: 'cached-login p99 ÷ SSO p99 (upstream blackholed)', value: ratioCachedP99VsSsoP99, target: '≤ 1.5', met: ratioCachedP99VsSsoP99 <= 1.5 },
    { name: 'gateway peak RSS under load, MB', value: rss, target: '≤ 150', met: rss > 0 && rss <= 150 },
    ...(soak ? [{ name: `soak (${(soak.requests / 1e6).toFixed(2)}M requests): live heap end ÷ half-way`, value: soak.liveHeapEnd.heapUsedMb / soak.liveHeapMid.heapUsedMb, target: 'flat', met: soak.flat && soak.requests >= 1_000_000 }] : []),
    ...ratios.filter((r) => !r.target).map((r) => ({ name: r.name, value: r.value, target: '–', met: undefined })),
  ]
  out()
  out(table(['ratio (median of the rounds\' ratios)', 'value', 'target', 'met'], targets.map((t) => [t.name, t.value, t.target, Number.isNaN(t.value) ? 'not run' : t.met === undefined ? '' : t.met ? 'yes' : 'NO'])))
  out()
  for (const r of ratios) out(`per round: ${r.name}: ${r.perRound.map((v) => v.toFixed(2)).join(', ')}; of the medians ${r.ofMedians.toFixed(2)}`)
  if (outcome.redisCounts) {
    out()
    const counts = Object.entries(outcome.redisCounts)
    out(table(['Redis per SSO flow (one flow at a time; commands as redis-server counts them, a script\'s own included)', 'commands', 'round trips'], counts.map(([name, c]) => [name, c.commands, c.roundTrips])))
    for (const [name, c] of counts) out(`  ${name}: ${Object.entries(c.byCommand).map(([cmd, n]) => `${cmd} ${n}`).join(', ')} (idle: ${c.idleCommandsPerSec} commands/s, taken out)`)
  }
  out(`\ngateway memory at the end (MB): ${JSON.stringify(memory.usage)}; resident by mapping ${JSON.stringify(memory.residentMb)}`)
  if (mixed) out(`\nupstream blackholed, SSO and cached logins at the same time (${mixed.seconds} s, half the users each): SSO p50 ${mixed.sso.p50Ms.toFixed(2)} ms, p99 ${mixed.sso.p99Ms.toFixed(2)} ms (${mixed.sso.flows} flows); cached p50 ${mixed.cached.p50Ms.toFixed(2)} ms, p99 ${mixed.cached.p99Ms.toFixed(2)} ms (${mixed.cached.flows} flows)`)
  const cpu = (key: Scenario) => rows[key]?.serverCpuMsPerFlow
  const cpuPairs: Array<[string, Scenario, Scenario]> = [['opaque', 'sso-opaque', 'peer-sso-opaque'], ['JWT', 'sso', 'peer-sso'], ['opaque, Redis', 'sso-opaque-redis', 'peer-sso-opaque-redis']]
  out()
  for (const [what, ours, theirs] of cpuPairs) {
    if (cpu(ours) !== undefined && cpu(theirs) !== undefined) out(`server CPU per SSO flow (${what}): peer ${cpu(theirs)!.toFixed(2)} ms, understudy ${cpu(ours)!.toFixed(2)} ms (${(cpu(theirs)! / cpu(ours)!).toFixed(2)}×)`)
  }
  if (rows.sso && rows.es256) out(`server CPU per SSO flow (JWT) ÷ per ES256 ceiling request: ${(rows.sso.serverCpuMsPerFlow / rows.es256.serverCpuMsPerFlow).toFixed(2)} (the target allows ${2 * SIGNATURES_PER_FLOW})`)
  if (rows.sso && rows.es256 && rows.hello && rows.livez) {
    // The JWT target's arithmetic: the flow is two requests and two signatures; what is left for everything else.
    const floor = rows.livez.serverCpuMsPerFlow
    const signature = rows.es256.serverCpuMsPerFlow - rows.hello.serverCpuMsPerFlow
    const rest = rows.sso.serverCpuMsPerFlow - 2 * floor - SIGNATURES_PER_FLOW * signature
    out(`server CPU per SSO flow (JWT), where it goes: 2 × the gateway's request floor (GET /livez) ${(2 * floor).toFixed(3)} + ${SIGNATURES_PER_FLOW} × one ID token signed (ES256 ceiling − hello) ${(SIGNATURES_PER_FLOW * signature).toFixed(3)} + the rest (the OIDC work of /authorize and /token) ${rest.toFixed(3)} = ${rows.sso.serverCpuMsPerFlow.toFixed(3)} ms; the target allows ${(2 * SIGNATURES_PER_FLOW * rows.es256.serverCpuMsPerFlow).toFixed(3)} ms, so ${(2 * SIGNATURES_PER_FLOW * rows.es256.serverCpuMsPerFlow - 2 * floor - SIGNATURES_PER_FLOW * signature).toFixed(3)} ms for the rest`)
  }
  if (rows.sso && rows['sso-redis']) out(`server CPU per SSO flow (JWT), Redis ÷ memory: ${(rows['sso-redis'].serverCpuMsPerFlow / rows.sso.serverCpuMsPerFlow).toFixed(2)}`)
  const es256Jose = rows['es256-jose']
  const ratioSsoVsJoseCeiling = rows.sso && es256Jose ? rows.sso.flowsPerSec / (es256Jose.requestsPerSec / SIGNATURES_PER_FLOW) : NaN
  if (rows.sso && es256Jose) out(`SSO (JWT) flows/s ÷ (jose SignJWT ceiling ÷ ${SIGNATURES_PER_FLOW}), of the medians: ${ratioSsoVsJoseCeiling.toFixed(3)} (the ceiling with the stack's JWT library; the target is judged on the gateway's faster signer)`)
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
    build: outcome.build,
    gateway,
    ssoFlowsPerSec: rows.sso?.flowsPerSec ?? null,
    ssoOpaqueFlowsPerSec: rows['sso-opaque']?.flowsPerSec ?? null,
    peerSsoFlowsPerSec: rows['peer-sso']?.flowsPerSec ?? null,
    peerSsoOpaqueFlowsPerSec: rows['peer-sso-opaque']?.flowsPerSec ?? null,
    ssoRedisFlowsPerSec: rows['sso-redis']?.flowsPerSec ?? null,
    es256CeilingPerSec: rows.es256?.requestsPerSec ?? null,
    signaturesPerFlow: SIGNATURES_PER_FLOW,
    ...Object.fromEntries(ratios.map((r) => [`ratio${r.key[0]!.toUpperCase()}${r.key.slice(1)}`, nullable(r.value)])),
    perRound: Object.fromEntries(ratios.map((r) => [r.key, r.perRound])),
    ratioSsoVsJoseCeiling: nullable(ratioSsoVsJoseCeiling),
    serverCpuPerSsoFlowInCeilingRequests: rows.sso && rows.es256 ? rows.sso.serverCpuMsPerFlow / rows.es256.serverCpuMsPerFlow : null,
    cachedP99Ms: mixed?.cached.p99Ms ?? null,
    ssoP99Ms: mixed?.sso.p99Ms ?? null,
    ratioCachedP99VsSsoP99: nullable(ratioCachedP99VsSsoP99),
    rssMb: rss > 0 ? rss : null,
    gatewayMemoryAtEndMb: memory,
    redisPerSsoFlow: outcome.redisCounts ?? null,
    targets: targets.map(({ name, value, target, met }) => ({ name, value: nullable(value), target, met: met ?? null })),
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

/** A row's rate: flows/s, or requests/s for the single-request ceilings. */
function rate (row: Row): number {
  return row.unit === 'flows' ? row.flowsPerSec : row.requestsPerSec
}

/** `a`'s rate ÷ (`b`'s rate × `scale`), round by round (slices of one round were measured back to back). */
function roundRatios (a: Row, b: Row, scale: number): number[] {
  return a.slices.map((r, i) => r / (b.slices[i]! * scale)).filter((r) => Number.isFinite(r))
}

/** A config value in a table cell (long ones cut). */
function shown (value: unknown): string {
  const text = value === undefined ? '(none)' : typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

function nullable (value: number): number | null {
  return Number.isFinite(value) ? value : null
}
