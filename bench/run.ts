// `npm run bench [-- --quick] [-- --soak] [-- --profile] [-- --only sso,cached] [-- --vus N]`
//
// One run, side by side, against processes it starts itself: the Fastify
// ceilings, the peer (node-oidc-provider 9), and understudy in front of an
// oidc-provider upstream behind TCP fault proxies. Prints a table and the
// ratios, writes bench/results/<date>[-quick|-soak].json. See bench/README.md.
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { CACHED, SHOP, claimsOf, peerFullFlow, pkcePair, refreshOnce, ssoFlow, understudyFullFlow, type BenchClient, type Pkce } from './flows.js'
import { RssSampler, ServerProcess, compileServers } from './lib/child.js'
import { CookieJar, Http } from './lib/http.js'
import { closedLoop, type LoadResult } from './lib/load.js'
import { summarizeProfile, type ProfileSummary } from './lib/profile.js'
import { machine, slope, table } from './lib/report.js'

const SCENARIOS = ['hello', 'es256', 'peer-full', 'peer-sso', 'full', 'sso', 'refresh', 'cached'] as const
type Scenario = typeof SCENARIOS[number]

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    vus: { type: 'string', default: '16' },
    'soak-requests': { type: 'string', default: '1000000' },
  },
})
const only = new Set((args.only?.split(',') ?? SCENARIOS) as Scenario[])
const runs = (s: Scenario) => only.has(s)
const VUS = Number(args.vus)
const TIMING = args.quick ? { warmupMs: 1500, durationMs: 5000 } : { warmupMs: 3000, durationMs: 15_000 }
const SIGNING_JWKS = fileURLToPath(new URL('../certs/dev/signing.jwks.json', import.meta.url))
const SEALING_JWKS = fileURLToPath(new URL('../certs/dev/sealing.jwks.json', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))
const ADMIN_TOKEN = 'bench-admin-token'
/** Signatures in one SSO flow: the ID token and the JWT access token. */
const SIGNATURES_PER_FLOW = 2

interface Row { name: string, unit: 'flows' | 'requests', result: LoadResult, rssMb?: number }
const rows: Partial<Record<Scenario, Row>> = {}
const log = (line: string) => process.stderr.write(`${line}\n`)

const workDir = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
const profileDir = join(workDir, 'profiles')
const logFile = (name: string) => join(workDir, `${name}.log`)
log(`bench: ${args.quick ? 'quick' : 'full'} run, ${VUS} virtual users; server logs in ${workDir}`)
log('bench: compiling the servers into dist/…')
compileServers()

const http = new Http(VUS)
const servers: ServerProcess[] = []
const started = (s: ServerProcess) => { servers.push(s); return s }
let gatewayRss: RssSampler | undefined

try {
  // Every server in its own process; the bench's event loop only drives load.
  const ceiling = started(ServerProcess.start('ceiling', { logFile: logFile('ceiling') }))
  const peer = started(ServerProcess.start('peer', { logFile: logFile('peer') }))
  const upstream = started(ServerProcess.start('upstream', { logFile: logFile('upstream') }))
  const gatewayProcess = started(ServerProcess.start('gateway', { logFile: logFile('gateway'), ...(args.profile ? { cpuProfDir: profileDir } : {}) }))
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const [ceilingUrl, peerIssuer, idp] = await Promise.all([
    ceiling.call<{ url: string }>('start', { signingJwks: SIGNING_JWKS }).then((r) => r.url),
    peer.call<{ issuer: string }>('start', { signingJwks: SIGNING_JWKS, client: { client_id: SHOP.clientId, client_secret: SHOP.clientSecret, redirect_uris: [SHOP.redirectUri] } }).then((r) => r.issuer),
    upstream.call<{ issuer: string, regions: Array<{ name: string, url: string }> }>('start', {
      regions: 2,
      clients: [{ client_id: 'understudy', client_secret: 'upstream-secret', redirect_uris: [`${issuer}/callback/idp`] }],
    }),
  ])
  const gateway = await gatewayProcess.call<{ url: string, adminUrl: string }>('start', gatewayConfig(port, idp))
  const op = { authorize: `${gateway.url}/authorize`, token: `${gateway.url}/token` }
  const peerOp = { authorize: `${peerIssuer}/auth`, token: `${peerIssuer}/token` }

  // The ceilings: Fastify alone, and Fastify signing one ES256 JWT per request.
  if (runs('hello')) rows.hello = { name: 'ceiling: Fastify hello world', unit: 'requests', result: await cannon(`${ceilingUrl}/hello`) }
  if (runs('es256')) rows.es256 = { name: 'ceiling: Fastify + 1 ES256 JWT/request', unit: 'requests', result: await cannon(`${ceilingUrl}/es256`) }
  await ceiling.stop()

  // The peer: a full code flow with an auto-completing interaction, then SSO with the session it left.
  if (runs('peer-full')) {
    rows['peer-full'] = {
      name: 'peer: full code flow (auto interaction)',
      unit: 'flows',
      result: await measure('peer full flow', async () => pkcePair(), async (pkce) => { await peerFullFlow(http, peerIssuer, SHOP, pkce, new CookieJar()); return 4 }),
    }
  }
  if (runs('peer-sso')) {
    rows['peer-sso'] = {
      name: 'peer: SSO flow',
      unit: 'flows',
      result: await measure('peer SSO', async () => {
        const user = { pkce: pkcePair(), jar: new CookieJar() }
        await peerFullFlow(http, peerIssuer, SHOP, user.pkce, user.jar)
        return user
      }, async ({ pkce, jar }) => {
        await ssoFlow(http, peerOp, SHOP, pkce, jar.header(peerOp.authorize))
        return 2
      }),
    }
  }
  await peer.stop()

  // understudy. RSS is sampled from here on, while the gateway is under load.
  gatewayRss = new RssSampler(gatewayProcess.pid, 250)
  const rssSince = () => gatewayRss!.samples.length
  const peakSince = (from: number) => gatewayRss!.samples.slice(from).reduce((max, [, mb]) => Math.max(max, mb), 0)
  let logins = 0
  const newLogin = () => `user-${++logins}`
  if (runs('full')) {
    const from = rssSince()
    const result = await measure('understudy full flow', async () => pkcePair(), async (pkce) => {
      await understudyFullFlow(http, gateway.url, SHOP, pkce, new CookieJar(), newLogin())
      return 7
    })
    rows.full = { name: 'understudy: full federated flow (7 req)', unit: 'flows', result, rssMb: peakSince(from) }
  }

  // Returning users: one federated login each, then their session cookie serves SSO (and, later, cached logins).
  const users: Array<{ pkce: Pkce, cookie: Record<string, string>, refreshToken: string, loggedInAt: number }> = []
  for (let vu = 0; vu < VUS; vu++) {
    const jar = new CookieJar()
    const pkce = pkcePair()
    const tokens = await understudyFullFlow(http, gateway.url, SHOP, pkce, jar, newLogin())
    users.push({ pkce, cookie: jar.header(op.authorize), refreshToken: tokens.refresh_token, loggedInAt: Date.now() })
  }
  if (runs('sso')) {
    const from = rssSince()
    const result = await measure('understudy SSO', async (vu) => users[vu]!, async (user) => {
      await ssoFlow(http, op, SHOP, user.pkce, user.cookie)
      return 2
    })
    rows.sso = { name: 'understudy: SSO flow', unit: 'flows', result, rssMb: peakSince(from) }
  }
  if (runs('refresh')) {
    const from = rssSince()
    // Independent rotating chains: each answer's refresh token is the next request's.
    const result = await measure('understudy refresh', async (vu) => ({ token: users[vu]!.refreshToken }), async (chain) => {
      chain.token = await refreshOnce(http, op.token, SHOP, chain.token)
      return 1
    })
    rows.refresh = { name: 'understudy: refresh grant (rotating)', unit: 'requests', result, rssMb: peakSince(from) }
  }

  // The outage: every upstream region blackholed; measured only once every breaker is open.
  if (runs('cached') || args.soak) {
    await upstream.call('fault', { kind: 'blackhole' })
    await waitForOpenBreakers(gateway.adminUrl)
    // The sessions must be past the `outage` client's maxStaleness (1 s, whole seconds).
    const wait = Math.max(0, Math.max(...users.map((u) => u.loggedInAt)) + 2100 - Date.now())
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
  if (runs('cached')) {
    const from = rssSince()
    let notCached = 0
    const result = await measure('understudy cached login', async (vu) => users[vu]!, async (user) => {
      const tokens = await ssoFlow(http, op, CACHED, user.pkce, user.cookie)
      if (claimsOf(tokens.id_token).acr !== 'urn:understudy:acr:cached') notCached++
      return 2
    })
    await assertBreakersOpen(gateway.adminUrl, 'after the cached-login measurement')
    if (notCached > 0) throw new Error(`${notCached} cached-login flows were not served from the cached session`)
    rows.cached = { name: 'understudy: cached login, upstream blackholed', unit: 'flows', result, rssMb: peakSince(from) }
  }

  const soak = args.soak ? await runSoak(gatewayProcess.pid, users, op) : undefined
  const memory = await gatewayProcess.call<NodeJS.MemoryUsage>('memory')
  gatewayRss.stop()
  await Promise.all(servers.map(async (s) => s.stop()))
  const profile = args.profile ? await latestProfile() : undefined

  await report(soak, memory, profile)
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

/** A closed loop of VUS users, with the run's warm-up and duration. */
async function measure<S> (what: string, setup: (vu: number) => Promise<S>, flow: (state: S, vu: number) => Promise<number>): Promise<LoadResult> {
  log(`bench: ${what}…`)
  const result = await closedLoop({ vus: VUS, ...TIMING, setup, flow })
  if (result.errors > 0) log(`bench: ${what}: ${result.errors} failed flows; first: ${result.firstError ?? ''}`)
  return result
}

/** autocannon against one URL (the ceilings): a warm-up, then the measured run. */
async function cannon (url: string): Promise<LoadResult> {
  log(`bench: ceiling ${url.slice(url.lastIndexOf('/'))}…`)
  await autocannon({ url, connections: VUS, duration: TIMING.warmupMs / 1000 })
  const r = await autocannon({ url, connections: VUS, duration: TIMING.durationMs / 1000 })
  const ok = r['2xx']
  return { flows: ok, requests: ok, errors: r.errors + r.non2xx, elapsedMs: r.duration * 1000, flowsPerSec: ok / r.duration, requestsPerSec: ok / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 }
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

interface Soak { requests: number, minutes: number, rssStartMb: number, rssEndMb: number, rssPeakMb: number, slopeMbPerMin: number, slopeMbPer100kRequests: number, flat: boolean, samples: Array<[number, number]> }

/**
 * ≥ 1M requests while the upstream blackholes: a third of the users in SSO
 * flows, a third in cached logins, a third in refresh chains. RSS is sampled
 * every 2 s; the slope is fitted over the second half (after the memory store's
 * code guards reach their steady state: 60 s lifetime, 30 s sweeps).
 */
async function runSoak (pid: number, users: Array<{ pkce: Pkce, cookie: Record<string, string>, refreshToken: string }>, op: { authorize: string, token: string }): Promise<Soak> {
  const target = Number(args['soak-requests'])
  log(`bench: soak, ${target} requests…`)
  let served = 0
  const sampler = new RssSampler(pid, 2000, () => served)
  const chains = users.map((u) => ({ token: u.refreshToken }))
  const result = await closedLoop({
    vus: VUS,
    warmupMs: 0,
    requests: target,
    setup: async (vu) => vu,
    flow: async (vu) => {
      const user = users[vu]!
      if (vu % 3 === 0) await ssoFlow(http, op, SHOP, user.pkce, user.cookie)
      else if (vu % 3 === 1) await ssoFlow(http, op, CACHED, user.pkce, user.cookie)
      else chains[vu]!.token = await refreshOnce(http, op.token, SHOP, chains[vu]!.token)
      const made = vu % 3 === 2 ? 1 : 2
      served += made
      return made
    },
    onTick: ({ requests, elapsedMs }) => {
      if (Math.round(elapsedMs) % 30_000 < 250) log(`bench: soak ${requests} requests, RSS ${sampler.samples.at(-1)?.[1].toFixed(1) ?? '?'} MB`)
    },
  })
  sampler.stop()
  if (result.errors > 0) log(`bench: soak: ${result.errors} failed flows; first: ${result.firstError ?? ''}`)
  const samples = sampler.samples
  const half = samples.slice(Math.floor(samples.length / 2))
  const perSecond = slope(half)
  const requestsHalf = sampler.requestsAt.slice(Math.floor(samples.length / 2))
  const perRequest = slope(half.map(([, mb], i) => [requestsHalf[i]!, mb]))
  const meanHalf = half.reduce((s, [, mb]) => s + mb, 0) / Math.max(1, half.length)
  const halfMinutes = half.length > 1 ? (half.at(-1)![0] - half[0]![0]) / 60 : 0
  return {
    requests: result.requests,
    minutes: result.elapsedMs / 60_000,
    rssStartMb: samples[0]?.[1] ?? NaN,
    rssEndMb: samples.at(-1)?.[1] ?? NaN,
    rssPeakMb: sampler.peak,
    slopeMbPerMin: perSecond * 60,
    slopeMbPer100kRequests: perRequest * 100_000,
    // Flat: the fitted growth over the second half stays under 5 % of the RSS.
    flat: Math.abs(perSecond * 60 * halfMinutes) < 0.05 * meanHalf,
    samples,
  }
}

async function latestProfile (): Promise<{ file: string, summary: ProfileSummary } | undefined> {
  const files = (await readdir(profileDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort()
  const file = files.at(-1)
  return file === undefined ? undefined : { file: join(profileDir, file), summary: await summarizeProfile(join(profileDir, file)) }
}

async function report (soak: Soak | undefined, memory: NodeJS.MemoryUsage, profile: { file: string, summary: ProfileSummary } | undefined): Promise<void> {
  const out = (line = '') => process.stdout.write(`${line}\n`)
  const order: Scenario[] = ['hello', 'es256', 'peer-sso', 'peer-full', 'sso', 'full', 'refresh', 'cached']
  out()
  out(table(['scenario', 'flows/s', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'gateway RSS MB'], order.flatMap((key) => {
    const row = rows[key]
    if (row === undefined) return []
    const r = row.result
    return [[row.name, row.unit === 'flows' ? r.flowsPerSec : '–', r.requestsPerSec, r.p50Ms, r.p99Ms, r.errors, row.rssMb ?? '–']]
  })))
  const sso = rows.sso?.result
  const peerSso = rows['peer-sso']?.result
  const es256 = rows.es256?.result
  const cached = rows.cached?.result
  const rss = Math.max(...[rows.full, rows.sso, rows.refresh, rows.cached].map((r) => r?.rssMb ?? 0))
  const ratioSsoVsPeer = sso && peerSso ? sso.flowsPerSec / peerSso.flowsPerSec : NaN
  const ratioSsoVsEs256Ceiling = sso && es256 ? sso.flowsPerSec / (es256.requestsPerSec / SIGNATURES_PER_FLOW) : NaN
  const ratioCachedP99VsSsoP99 = sso && cached ? cached.p99Ms / sso.p99Ms : NaN
  const targets = [
    { name: 'SSO flows/s vs peer SSO flows/s', value: ratioSsoVsPeer, target: '≥ 2.5', met: ratioSsoVsPeer >= 2.5 },
    { name: `SSO flows/s vs ES256 ceiling ÷ ${SIGNATURES_PER_FLOW}`, value: ratioSsoVsEs256Ceiling, target: '≥ 0.5', met: ratioSsoVsEs256Ceiling >= 0.5 },
    { name: 'cached-login p99 vs SSO p99', value: ratioCachedP99VsSsoP99, target: '≤ 1.5', met: ratioCachedP99VsSsoP99 <= 1.5 },
    { name: 'gateway RSS under load (MB)', value: rss, target: '≤ 150', met: rss > 0 && rss <= 150 },
    ...(soak ? [{ name: `soak RSS slope, MB/min (${(soak.requests / 1e6).toFixed(2)}M requests)`, value: soak.slopeMbPerMin, target: 'flat', met: soak.flat }] : []),
  ]
  out()
  out(table(['ratio', 'value', 'target', 'met'], targets.map((t) => [t.name, t.value, t.target, Number.isNaN(t.value) ? 'not run' : t.met ? 'yes' : 'NO'])))
  if (soak) out(`\nsoak: ${soak.requests} requests in ${soak.minutes.toFixed(1)} min; RSS ${soak.rssStartMb.toFixed(1)} → ${soak.rssEndMb.toFixed(1)} MB (peak ${soak.rssPeakMb.toFixed(1)}), second-half slope ${soak.slopeMbPerMin.toFixed(3)} MB/min = ${soak.slopeMbPer100kRequests.toFixed(3)} MB per 100k requests`)
  if (profile) {
    const p = profile.summary
    out(`\ngateway CPU profile ${profile.file}: ${p.busyMs} ms busy, ${p.idleMs} ms idle`)
    out(table(['self time by function', 'ms', '% busy'], p.functions.map((f) => [f.name, f.ms, f.percent])))
    out()
    out(table(['self time by module', 'ms', '% busy'], p.modules.map((f) => [f.name, f.ms, f.percent])))
  }
  const date = new Date().toISOString().slice(0, 10)
  const suffix = soak ? '-soak' : args.quick ? '-quick' : ''
  const results = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    vus: VUS,
    machine: await machine(),
    ssoFlowsPerSec: sso?.flowsPerSec ?? null,
    peerSsoFlowsPerSec: peerSso?.flowsPerSec ?? null,
    ratioSsoVsPeer: nullable(ratioSsoVsPeer),
    es256CeilingPerSec: es256?.requestsPerSec ?? null,
    signaturesPerFlow: SIGNATURES_PER_FLOW,
    ratioSsoVsEs256Ceiling: nullable(ratioSsoVsEs256Ceiling),
    cachedP99Ms: cached?.p99Ms ?? null,
    ssoP99Ms: sso?.p99Ms ?? null,
    ratioCachedP99VsSsoP99: nullable(ratioCachedP99VsSsoP99),
    rssMb: rss > 0 ? rss : null,
    gatewayMemoryAtEnd: memory,
    targets: targets.map(({ name, value, target, met }) => ({ name, value: nullable(value), target, met })),
    scenarios: Object.fromEntries(Object.entries(rows).map(([key, row]) => [key, { name: row.name, ...row.result, ...(row.rssMb === undefined ? {} : { rssMb: row.rssMb }) }])),
    ...(soak ? { soak } : {}),
    ...(profile ? { profile: profile.summary } : {}),
  }
  await mkdir(RESULTS, { recursive: true })
  const file = join(RESULTS, `${date}${suffix}.json`)
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
