// `npm run bench [-- --quick] [-- --soak] [-- --profile] [-- --diag] [-- --only sso,cached] [-- --vus N]`
//
// One run, side by side, against processes it starts itself: the Fastify
// ceilings, the peer (node-oidc-provider 9), and understudy in front of an
// oidc-provider upstream behind TCP fault proxies. Prints a table and the
// ratios, writes bench/results/<date>[-quick|-soak].json. See bench/README.md.
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHistogram, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { CACHED, SHOP, claimsOf, parseTokens, peerFullFlow, pkcePair, refreshOnce, ssoFlow, ssoUser, understudyFullFlow, type BenchClient, type Pkce, type SsoUser } from './flows.js'
import { RssSampler, ServerProcess, canPin, compileServers, cpuMs, pinSelf } from './lib/child.js'
import { CookieJar, Http } from './lib/http.js'
import { closedLoop, type LoadResult, type MeasuredPhase } from './lib/load.js'
import { summarizeProfile, type ProfileSummary } from './lib/profile.js'
import { machine, slope, table } from './lib/report.js'

const SCENARIOS = ['hello', 'es256', 'es256-jose', 'livez', 'authorize', 'peer-sso', 'peer-full', 'sso', 'full', 'refresh', 'sso-outage', 'cached'] as const
type Scenario = typeof SCENARIOS[number]
/** Diagnostics (the gateway's own HTTP floor, and /authorize alone): measured only with --diag or --only. */
const DIAGNOSTICS: readonly Scenario[] = ['livez', 'authorize']

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    diag: { type: 'boolean', default: false },
    vus: { type: 'string', default: '32' },
    rounds: { type: 'string' },
    'soak-requests': { type: 'string', default: '2000000' },
    /** Node/V8 flags for the gateway process only (experiments: --max-semi-space-size=8). */
    'gateway-node-options': { type: 'string' },
    /** Let the scheduler place the processes (default: servers on the last CPU, the load driver on the others). */
    'no-pin': { type: 'boolean', default: false },
  },
})
const only = new Set((args.only?.split(',') ?? SCENARIOS.filter((s) => args.diag || !DIAGNOSTICS.includes(s))) as Scenario[])
const VUS = Number(args.vus)
// Each scenario is measured in slices, interleaved round by round (A B C A B C …): on a shared
// 2-core machine, load from elsewhere then hits every scenario alike instead of whichever ran at that moment.
const TIMING = args.quick
  ? { rounds: 2, firstWarmupMs: 1000, warmupMs: 300, sliceMs: 2500 }
  : { rounds: 3, firstWarmupMs: 2000, warmupMs: 500, sliceMs: 5000 }
const ROUNDS = args.rounds === undefined ? TIMING.rounds : Number(args.rounds)
const SIGNING_JWKS = fileURLToPath(new URL('../certs/dev/signing.jwks.json', import.meta.url))
const SEALING_JWKS = fileURLToPath(new URL('../certs/dev/sealing.jwks.json', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))
const ADMIN_TOKEN = 'bench-admin-token'
/** Seconds before the soak's memory is judged: the memory store keeps each code's single-use guard 60 s, swept every 30 s. */
const SOAK_WARMUP_SEC = 120

/** Signatures in one SSO flow: the ID token and the JWT access token. */
const SIGNATURES_PER_FLOW = 2

/** One measured scenario: how to drive it, and which process serves it (for its CPU time). */
interface Definition {
  key: Scenario
  name: string
  unit: 'flows' | 'requests'
  server: () => ServerProcess
  /** A closed loop of flows; `states` are made once, before the first slice. */
  flow?: { setup: (vu: number) => Promise<unknown>, run: (state: never, vu: number) => Promise<number> }
  /** autocannon against one URL (the ceilings). */
  url?: () => string
  headers?: () => Record<string, string>
}

interface Row extends LoadResult { name: string, unit: 'flows' | 'requests', slices: number[], serverCpuMsPerFlow: number, driverCpuMsPerFlow: number }
type Slice = { phase: LoadResult, histogram?: MeasuredPhase['histogram'], cpuMs: number, driverCpuMs: number }
const rows: Partial<Record<Scenario, Row>> = {}
/** SSO and cached logins measured at the same time, on the same gateway (the p99 comparison). */
interface Mixed { sso: { flows: number, p50Ms: number, p99Ms: number }, cached: { flows: number, p50Ms: number, p99Ms: number }, seconds: number }
let mixed: Mixed | undefined
const log = (line: string) => process.stderr.write(`${line}\n`)

const workDir = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
const profileDir = join(workDir, 'profiles')
const logFile = (name: string) => join(workDir, `${name}.log`)
log(`bench: ${args.quick ? 'quick' : 'full'} run, ${VUS} virtual users, ${ROUNDS} rounds of ${TIMING.sliceMs / 1000} s slices; server logs in ${workDir}`)
log('bench: compiling the servers into dist/…')
compileServers()
// Each server gets a CPU of its own and the driver the rest: a server's capacity on one core (a
// Node process is one event loop), not whatever share the scheduler happens to leave it.
const lastCpu = cpus().length - 1
const pin = !args['no-pin'] && canPin()
const SERVER_CPUS = pin ? String(lastCpu) : undefined
if (pin) {
  pinSelf(lastCpu === 1 ? '0' : `0-${lastCpu - 1}`)
  log(`bench: servers pinned to CPU ${lastCpu}, the load driver to the others`)
}
const serverPlacement = SERVER_CPUS === undefined ? {} : { cpus: SERVER_CPUS }

const http = new Http(VUS)
const servers: ServerProcess[] = []
const started = (s: ServerProcess) => { servers.push(s); return s }
let gatewayRss: RssSampler | undefined

try {
  // Every server in its own process; the bench's event loop only drives load.
  const ceiling = started(ServerProcess.start('ceiling', { logFile: logFile('ceiling'), ...serverPlacement }))
  const peer = started(ServerProcess.start('peer', { logFile: logFile('peer'), ...serverPlacement }))
  // The upstream serves only the full federated flow, beside the gateway: it shares the driver's CPUs.
  const upstream = started(ServerProcess.start('upstream', { logFile: logFile('upstream') }))
  const gatewayProcess = started(ServerProcess.start('gateway', {
    logFile: logFile('gateway'),
    ...serverPlacement,
    ...(args.profile ? { cpuProfDir: profileDir } : {}),
    // The soak forces a full GC twice to read the live heap.
    nodeOptions: [...(args['gateway-node-options']?.split(' ') ?? []), ...(args.soak ? ['--expose-gc'] : [])],
  }))
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const [ceilingUrl, peerIssuer, idp] = await Promise.all([
    ceiling.call<{ url: string }>('start', { signing: SIGNING_JWKS, sealing: SEALING_JWKS }).then((r) => r.url),
    peer.call<{ issuer: string }>('start', { signingJwks: SIGNING_JWKS, client: { client_id: SHOP.clientId, client_secret: SHOP.clientSecret, redirect_uris: [SHOP.redirectUri] } }).then((r) => r.issuer),
    upstream.call<{ issuer: string, regions: Array<{ name: string, url: string }> }>('start', {
      regions: 2,
      clients: [{ client_id: 'understudy', client_secret: 'upstream-secret', redirect_uris: [`${issuer}/callback/idp`] }],
    }),
  ])
  const gateway = await gatewayProcess.call<{ url: string, adminUrl: string }>('start', gatewayConfig(port, idp))
  gatewayRss = new RssSampler(gatewayProcess.pid, 250)
  const op = { authorize: `${gateway.url}/authorize`, token: `${gateway.url}/token` }
  const peerOp = { authorize: `${peerIssuer}/auth`, token: `${peerIssuer}/token` }

  // Returning users: one federated login each; their session cookies serve SSO and, later, cached logins.
  let logins = 0
  const newLogin = () => `user-${++logins}`
  const users: Array<{ shop: SsoUser, outage: SsoUser, refreshToken: string, loggedInAt: number }> = []
  for (let vu = 0; vu < VUS; vu++) {
    const jar = new CookieJar()
    const pkce = pkcePair()
    const tokens = await understudyFullFlow(http, gateway.url, SHOP, pkce, jar, newLogin())
    const cookie = jar.header(op.authorize)
    users.push({ shop: ssoUser(op, SHOP, pkce, cookie), outage: ssoUser(op, CACHED, pkce, cookie), refreshToken: tokens.refresh_token, loggedInAt: Date.now() })
  }
  const chains = users.map((u) => ({ token: u.refreshToken }))
  let notCached = 0

  const upstreamUp: Definition[] = [
    { key: 'hello', name: 'ceiling: Fastify hello world', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/hello` },
    { key: 'es256', name: 'ceiling: Fastify + 1 ES256 ID token (gateway signer)', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/es256` },
    { key: 'livez', name: 'diagnostic: gateway GET /livez', unit: 'requests', server: () => gatewayProcess, url: () => `${gateway.url}/livez` },
    { key: 'authorize', name: 'diagnostic: gateway GET /authorize, SSO (302)', unit: 'requests', server: () => gatewayProcess, url: () => users[0]!.shop.url, headers: () => users[0]!.shop.cookie },
    { key: 'es256-jose', name: 'ceiling: Fastify + 1 ES256 JWT (jose SignJWT)', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/es256-jose` },
    {
      key: 'peer-sso',
      name: 'peer: SSO flow',
      unit: 'flows',
      server: () => peer,
      flow: {
        setup: async () => {
          const pkce = pkcePair()
          const jar = new CookieJar()
          await peerFullFlow(http, peerIssuer, SHOP, pkce, jar)
          // The peer's session cookies do not change between SSO requests: sent as they are, like the gateway's.
          return ssoUser(peerOp, SHOP, pkce, jar.header(peerOp.authorize))
        },
        run: async (user: SsoUser) => { await ssoFlow(http, peerOp, SHOP, user); return 2 },
      },
    },
    {
      key: 'peer-full',
      name: 'peer: full code flow, auto interaction (4 req)',
      unit: 'flows',
      server: () => peer,
      flow: { setup: async () => pkcePair(), run: async (pkce: Pkce) => { await peerFullFlow(http, peerIssuer, SHOP, pkce, new CookieJar()); return 4 } },
    },
    {
      key: 'sso',
      name: 'understudy: SSO flow',
      unit: 'flows',
      server: () => gatewayProcess,
      flow: { setup: async (vu) => users[vu], run: async (user: typeof users[number]) => { await ssoFlow(http, op, SHOP, user.shop); return 2 } },
    },
    {
      key: 'full',
      name: 'understudy: full federated flow (7 req)',
      unit: 'flows',
      server: () => gatewayProcess,
      flow: { setup: async () => pkcePair(), run: async (pkce: Pkce) => { await understudyFullFlow(http, gateway.url, SHOP, pkce, new CookieJar(), newLogin()); return 7 } },
    },
    {
      key: 'refresh',
      name: 'understudy: refresh grant, rotating chains',
      unit: 'requests',
      server: () => gatewayProcess,
      // Independent chains: each answer's refresh token is that chain's next request.
      flow: { setup: async (vu) => chains[vu], run: async (chain: { token: string }) => { chain.token = await refreshOnce(http, op.token, SHOP, chain.token); return 1 } },
    },
  ]
  const upstreamDown: Definition[] = [
    {
      key: 'sso-outage',
      name: 'understudy: SSO flow, upstream blackholed',
      unit: 'flows',
      server: () => gatewayProcess,
      flow: { setup: async (vu) => users[vu], run: async (user: typeof users[number]) => { await ssoFlow(http, op, SHOP, user.shop); return 2 } },
    },
    {
      key: 'cached',
      name: 'understudy: cached login, upstream blackholed',
      unit: 'flows',
      server: () => gatewayProcess,
      flow: {
        setup: async (vu) => users[vu],
        run: async (user: typeof users[number]) => {
          const tokens = parseTokens(await ssoFlow(http, op, CACHED, user.outage))
          if (claimsOf(tokens.id_token).acr !== 'urn:understudy:acr:cached') notCached++
          return 2
        },
      },
    },
  ]

  await measureInterleaved(upstreamUp.filter((d) => only.has(d.key)))
  await ceiling.stop()
  await peer.stop()

  // The outage: every upstream region blackholed; measured only once every breaker is open.
  const outage = upstreamDown.filter((d) => only.has(d.key))
  if (outage.length > 0 || args.soak) {
    await upstream.call('fault', { kind: 'blackhole' })
    await waitForOpenBreakers(gateway.adminUrl)
    // The sessions must be past the `outage` client's maxStaleness (1 s, whole seconds).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.max(...users.map((u) => u.loggedInAt)) + 2100 - Date.now())))
    await measureInterleaved(outage)
    if (only.has('sso-outage') && only.has('cached')) mixed = await measureMixed(users, op)
    await assertBreakersOpen(gateway.adminUrl, 'after the outage measurements')
    if (notCached > 0) throw new Error(`${notCached} cached-login flows were not served from the cached session`)
  }

  // RSS under load is judged on the measured scenarios; the soak reports its own (a sawtooth, see runSoak).
  const rssPeak = gatewayRss.peak
  const soak = args.soak ? await runSoak(gatewayProcess, users, chains, op) : undefined
  const memory = await gatewayProcess.call<GatewayMemory>('memory')
  gatewayRss.stop()
  await Promise.all(servers.map(async (s) => s.stop()))
  const profile = args.profile ? await latestProfile() : undefined

  await report(rssPeak, soak, memory, profile)
} finally {
  gatewayRss?.stop()
  await http.close()
  await Promise.all(servers.map(async (s) => s.stop()))
}

/** The gateway's config: one upstream with two regions (through the fault proxies), the two bench clients. */
function gatewayConfig (port: number, idp: { issuer: string, regions: Array<{ name: string, url: string }> }): object {
  const client = (c: BenchClient) => ({ clientId: c.clientId, clientSecret: c.clientSecret, redirectUris: [c.redirectUri], providers: ['idp'] })
  return {
    issuer: `http://127.0.0.1:${port}`,
    region: 'bench',
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    keys: { signing: SIGNING_JWKS, sealing: SEALING_JWKS },
    store: { kind: 'memory' },
    providers: [{
      id: 'idp',
      kind: 'oidc',
      issuer: idp.issuer,
      clientId: 'understudy',
      clientSecret: 'upstream-secret',
      scopes: ['openid', 'profile', 'email'],
      regions: idp.regions,
      // Probes every second open a blackholed region's breaker within interval + timeout; a long
      // reset keeps it open (no half-open trials) for the whole cached-login measurement.
      breaker: { timeout: '2s', resetTimeout: '1h' },
      healthCheck: { interval: '1s' },
    }],
    clients: [client(SHOP), { ...client(CACHED), freshness: { maxStaleness: 1, outageMaxStaleness: '1d' } }],
    // All load comes from one address and two clients: the limits stay on (their cost is part of
    // every request in production) but far above what the bench sends.
    rateLimits: { token: { max: 1_000_000_000 }, authorize: { max: 1_000_000_000 } },
  }
}

/** Measures every definition in ROUNDS interleaved slices and merges each one's slices into a row. */
async function measureInterleaved (definitions: Definition[]): Promise<void> {
  const states = new Map<Scenario, unknown[]>()
  for (const d of definitions) {
    if (d.flow) states.set(d.key, await Promise.all(Array.from({ length: VUS }, async (_, vu) => d.flow!.setup(vu))))
  }
  const slices = new Map<Scenario, Slice[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const d of definitions) {
      log(`bench: round ${round + 1}/${ROUNDS}: ${d.name}`)
      const warmupMs = round === 0 ? TIMING.firstWarmupMs : TIMING.warmupMs
      const pid = d.server().pid
      let cpuBefore = 0
      let driverBefore = process.cpuUsage()
      const startCpu = async () => {
        driverBefore = process.cpuUsage()
        cpuBefore = await cpuMs(pid)
      }
      let phase: LoadResult
      let histogram: MeasuredPhase['histogram'] | undefined
      if (d.url) {
        phase = await cannon(d.url(), warmupMs, startCpu, d.headers?.())
      } else {
        const vuStates = states.get(d.key)!
        const measuring = closedLoop({ vus: VUS, warmupMs, durationMs: TIMING.sliceMs, setup: async (vu) => vuStates[vu], flow: d.flow!.run as (state: unknown, vu: number) => Promise<number> })
        // The CPU reading starts when the warm-up ends.
        setTimeout(() => { startCpu().catch(() => {}) }, warmupMs)
        const measured = await measuring
        histogram = measured.histogram
        phase = measured
      }
      const cpu = (await cpuMs(pid)) - cpuBefore
      const driver = process.cpuUsage(driverBefore)
      if (phase.errors > 0) log(`bench: ${d.name}: ${phase.errors} failed flows; first: ${phase.firstError ?? ''}`)
      slices.set(d.key, [...(slices.get(d.key) ?? []), { phase, ...(histogram ? { histogram } : {}), cpuMs: cpu, driverCpuMs: (driver.user + driver.system) / 1000 }])
    }
  }
  for (const d of definitions) rows[d.key] = merge(d, slices.get(d.key)!)
}

/**
 * Half the users in SSO flows, half in cached logins, at once: whatever else
 * the machine does then (a GC, another process) hits both paths alike, which
 * separate slices cannot promise for a tail percentile.
 */
async function measureMixed (users: Array<{ shop: SsoUser, outage: SsoUser }>, op: { token: string }): Promise<Mixed> {
  log('bench: SSO and cached logins at the same time (p99 comparison)')
  const histograms = { sso: createHistogram(), cached: createHistogram() }
  let recording = false
  const warmupMs = TIMING.firstWarmupMs
  setTimeout(() => { recording = true }, warmupMs)
  const durationMs = ROUNDS * TIMING.sliceMs
  await closedLoop({
    vus: VUS,
    warmupMs,
    durationMs,
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
  const median = (values: number[]) => { const v = [...values].sort((a, b) => a - b); const m = Math.floor(v.length / 2); return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2 }
  const flows = slices.reduce((n, s) => n + s.phase.flows, 0)
  const requests = slices.reduce((n, s) => n + s.phase.requests, 0)
  const elapsedMs = slices.reduce((n, s) => n + s.phase.elapsedMs, 0)
  let p50Ms: number
  let p99Ms: number
  if (slices.every((s) => s.histogram)) {
    const all = createHistogram()
    for (const s of slices) all.add(s.histogram!)
    p50Ms = all.percentile(50) / 1e6
    p99Ms = all.percentile(99) / 1e6
  } else {
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
    elapsedMs,
    flowsPerSec: d.unit === 'flows' ? rate : rate / requestsPerFlow,
    requestsPerSec: d.unit === 'flows' ? rate * requestsPerFlow : rate,
    p50Ms,
    p99Ms,
    slices: rates,
    serverCpuMsPerFlow: slices.reduce((n, s) => n + s.cpuMs, 0) / Math.max(1, flows),
    driverCpuMsPerFlow: slices.reduce((n, s) => n + s.driverCpuMs, 0) / Math.max(1, flows),
    ...(firstError === undefined ? {} : { firstError }),
  }
}

/** autocannon against one URL (the ceilings): a warm-up, then the measured slice. */
async function cannon (url: string, warmupMs: number, measuring: () => Promise<void>, headers: Record<string, string> = {}): Promise<LoadResult> {
  await autocannon({ url, headers, connections: VUS, duration: warmupMs / 1000 })
  await measuring()
  const r = await autocannon({ url, headers, connections: VUS, duration: TIMING.sliceMs / 1000 })
  const ok = r['2xx'] + r['3xx']
  return { flows: ok, requests: ok, errors: r.errors + r['4xx'] + r['5xx'], elapsedMs: r.duration * 1000, flowsPerSec: ok / r.duration, requestsPerSec: ok / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 }
}

async function breakerStates (adminUrl: string): Promise<string[]> {
  const reply = await http.send(`${adminUrl}/admin/breakers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  return (JSON.parse(reply.body) as { breakers: Array<{ state: string }> }).breakers.map((b) => b.state)
}

async function waitForOpenBreakers (adminUrl: string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const states = await breakerStates(adminUrl)
    if (states.every((s) => s === 'open')) return
    if (Date.now() > deadline) throw new Error(`breakers did not open while the upstream blackholes: ${states.join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function assertBreakersOpen (adminUrl: string, when: string): Promise<void> {
  const states = await breakerStates(adminUrl)
  if (!states.every((s) => s === 'open')) throw new Error(`breakers not all open ${when}: ${states.join(', ')}`)
}

/** The gateway's own account of its memory at the end (MB): see bench/servers/gateway.ts. */
interface GatewayMemory { usage: Record<string, number>, heapSpaces: Record<string, number>, residentMb: Record<string, number> }

/** Memory after a full GC (MB): what the gateway really holds, without the garbage V8 has not collected yet. */
interface LiveHeap { heapUsedMb: number, rssMb: number }

interface Soak {
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
 * the half-way point and at the end (the gateway runs with --expose-gc for
 * this), and on the per-minute RSS peaks after the warm-up.
 */
async function runSoak (gateway: ServerProcess, users: Array<{ shop: SsoUser, outage: SsoUser }>, chains: Array<{ token: string }>, op: { authorize: string, token: string }): Promise<Soak> {
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

async function liveHeap (gateway: ServerProcess): Promise<LiveHeap> {
  const { after } = await gateway.call<{ after: NodeJS.MemoryUsage }>('gcMemory')
  return { heapUsedMb: after.heapUsed / 2 ** 20, rssMb: after.rss / 2 ** 20 }
}

async function latestProfile (): Promise<{ file: string, summary: ProfileSummary } | undefined> {
  const files = (await readdir(profileDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort()
  const file = files.at(-1)
  return file === undefined ? undefined : { file: join(profileDir, file), summary: await summarizeProfile(join(profileDir, file)) }
}

async function report (rss: number, soak: Soak | undefined, memory: GatewayMemory, profile: { file: string, summary: ProfileSummary } | undefined): Promise<void> {
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
  const cached = mixed?.cached
  const ssoOutage = mixed?.sso
  const ratioSsoVsPeer = sso && peerSso ? sso.flowsPerSec / peerSso.flowsPerSec : NaN
  const ratioSsoVsEs256Ceiling = sso && es256 ? sso.flowsPerSec / (es256.requestsPerSec / SIGNATURES_PER_FLOW) : NaN
  // Both measured at once in the outage phase: the same conditions, the cached path against the SSO path.
  const ratioCachedP99VsSsoP99 = ssoOutage && cached ? cached.p99Ms / ssoOutage.p99Ms : NaN
  const ratioCpuPeerVsSso = sso && peerSso ? peerSso.serverCpuMsPerFlow / sso.serverCpuMsPerFlow : NaN
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
  if (Number.isFinite(ratioCpuPeerVsSso)) out(`\nserver CPU per SSO flow: peer ${peerSso!.serverCpuMsPerFlow.toFixed(2)} ms, understudy ${sso!.serverCpuMsPerFlow.toFixed(2)} ms (${ratioCpuPeerVsSso.toFixed(2)}×)`)
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
  // Runs that change what is measured (a subset, other flags) never overwrite the standard results.
  const custom = args.only !== undefined || args.diag || args.rounds !== undefined || args['gateway-node-options'] !== undefined || args['no-pin'] || args.vus !== '32' || args.profile
  const suffix = `${soak ? '-soak' : ''}${args.quick ? '-quick' : ''}${custom ? '-custom' : ''}`
  const results = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    vus: VUS,
    rounds: ROUNDS,
    gatewayNodeOptions: args['gateway-node-options'] ?? null,
    pinned: pin ? { servers: SERVER_CPUS, driver: 'the other CPUs' } : false,
    sliceSeconds: TIMING.sliceMs / 1000,
    machine: await machine(),
    ssoFlowsPerSec: sso?.flowsPerSec ?? null,
    peerSsoFlowsPerSec: peerSso?.flowsPerSec ?? null,
    ratioSsoVsPeer: nullable(ratioSsoVsPeer),
    es256CeilingPerSec: es256?.requestsPerSec ?? null,
    signaturesPerFlow: SIGNATURES_PER_FLOW,
    ratioSsoVsEs256Ceiling: nullable(ratioSsoVsEs256Ceiling),
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
  const file = join(RESULTS, `${new Date().toISOString().slice(0, 10)}${suffix}.json`)
  await writeFile(file, JSON.stringify(results, null, 2) + '\n')
  out(`\nresults: ${file}`)
}

function nullable (value: number): number | null {
  return Number.isFinite(value) ? value : null
}

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
