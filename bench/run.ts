// `npm run bench [-- --quick] [-- --soak] [-- --profile] [-- --diag] [-- --only sso,cached] [-- --vus N]`
//
// One run, side by side, against processes it starts itself: the Fastify
// ceilings, the peer (node-oidc-provider 9), and understudy in front of an
// oidc-provider upstream behind TCP fault proxies. Prints a table and the
// ratios, writes bench/results/<date>[-soak][-quick][-custom].json. See bench/README.md.
import { mkdtemp, readdir } from 'node:fs/promises'
import { freePort } from '../harness/free-port.js'
import { until } from '../harness/poll.js'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CACHED, SHOP, claimsOf, parseTokens, peerFullFlow, pkcePair, refreshOnce, ssoFlow, ssoUser, understudyFullFlow, type BenchClient, type BenchUser, type Pkce, type SsoUser } from './flows.js'
import { RssSampler, ServerProcess, canPin, compileServers, pinSelf, shippedNodeOptions } from './lib/child.js'
import { CookieJar, Http } from './lib/http.js'
import { summarizeProfile, type ProfileSummary } from './lib/profile.js'
import { measureInterleaved, measureMixed, type Definition, type Mixed, type Row } from './measure.js'
import { ADMIN_TOKEN, ROUNDS, SEALING_JWKS, SIGNING_JWKS, TIMING, VUS, args, log, only, type Scenario } from './options.js'
import { report, type GatewayMemory } from './report.js'
import { runSoak } from './soak.js'

const workDir = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
const profileDir = join(workDir, 'profiles')
const logFile = (name: string) => join(workDir, `${name}.log`)
log(`bench: ${args.quick ? 'quick' : 'full'} run, ${VUS} virtual users, ${ROUNDS} rounds of ${TIMING.sliceMs / 1000} s slices; server logs in ${workDir}`)
log('bench: compiling the servers into dist/…')
compileServers()
// Each server gets a CPU of its own and the driver the rest: a server's capacity on one core (a
// Node process is one event loop), not whatever share the scheduler happens to leave it.
const lastCpu = cpus().length - 1
const SERVER_CPUS = !args['no-pin'] && canPin() ? String(lastCpu) : undefined
if (SERVER_CPUS !== undefined) {
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
    // As deployed (the image's NODE_OPTIONS) unless an experiment says otherwise; the soak forces a full GC twice to read the live heap.
    nodeOptions: [...(args['gateway-node-options']?.split(' ').filter(Boolean) ?? shippedNodeOptions()), ...(args.soak ? ['--expose-gc'] : [])],
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
  const users: BenchUser[] = []
  for (let vu = 0; vu < VUS; vu++) {
    const jar = new CookieJar()
    const pkce = pkcePair()
    const tokens = await understudyFullFlow(http, gateway.url, SHOP, pkce, jar, newLogin())
    const cookie = jar.headers(op.authorize)
    users.push({ shop: ssoUser(op, SHOP, pkce, cookie), outage: ssoUser(op, CACHED, pkce, cookie), refreshToken: tokens.refresh_token, loggedInAt: Date.now() })
  }
  const chains = users.map((u) => ({ token: u.refreshToken }))
  const shopSso = async (user: BenchUser) => { await ssoFlow(http, op, SHOP, user.shop); return 2 }
  /** A scenario of the gateway's returning users, one per virtual user, each running `run` back to back. */
  const returningUsers = (key: Scenario, name: string, run: (user: BenchUser) => Promise<number>): Definition =>
    ({ key, name, unit: 'flows', server: () => gatewayProcess, flow: { setup: async (vu) => users[vu], run } })
  let notCached = 0

  const upstreamUp: Definition[] = [
    { key: 'hello', name: 'ceiling: Fastify hello world', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/hello` },
    { key: 'livez', name: 'diagnostic: gateway GET /livez', unit: 'requests', server: () => gatewayProcess, url: () => `${gateway.url}/livez` },
    { key: 'authorize', name: 'diagnostic: gateway GET /authorize, SSO (302)', unit: 'requests', server: () => gatewayProcess, url: () => users[0]!.shop.url, headers: () => users[0]!.shop.cookie },
    { key: 'es256-jose', name: 'ceiling: Fastify + 1 ES256 JWT (jose SignJWT)', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/es256-jose` },
    {
      key: 'peer-full',
      name: 'peer: full code flow, auto interaction (4 req)',
      unit: 'flows',
      server: () => peer,
      flow: { setup: async () => pkcePair(), run: async (pkce: Pkce) => { await peerFullFlow(http, peerIssuer, SHOP, pkce, new CookieJar()); return 4 } },
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
    // The ratios' pairs measured back to back in every round (report.ts takes the median of each round's ratio):
    // the ES256 ceiling, understudy's SSO flow, the peer's SSO flow.
    { key: 'es256', name: 'ceiling: Fastify + 1 ES256 ID token (gateway signer)', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/es256` },
    returningUsers('sso', 'understudy: SSO flow', shopSso),
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
          return ssoUser(peerOp, SHOP, pkce, jar.headers(peerOp.authorize))
        },
        run: async (user: SsoUser) => { await ssoFlow(http, peerOp, SHOP, user); return 2 },
      },
    },
  ]
  const upstreamDown: Definition[] = [
    returningUsers('sso-outage', 'understudy: SSO flow, upstream blackholed', shopSso),
    returningUsers('cached', 'understudy: cached login, upstream blackholed', async (user) => {
      const tokens = parseTokens(await ssoFlow(http, op, CACHED, user.outage))
      if (claimsOf(tokens.id_token).acr !== 'urn:understudy:acr:cached') notCached++
      return 2
    }),
  ]

  const rows: Partial<Record<Scenario, Row>> = await measureInterleaved(upstreamUp.filter((d) => only.has(d.key)))
  await ceiling.stop()
  await peer.stop()

  // The outage: every upstream region blackholed; measured only once every breaker is open.
  let mixed: Mixed | undefined
  const outage = upstreamDown.filter((d) => only.has(d.key))
  if (outage.length > 0 || args.soak) {
    await upstream.call('fault', { kind: 'blackhole' })
    await until(async () => { await assertBreakersOpen(gateway.adminUrl, 'yet'); return true }, 20_000, 'every breaker opens while the upstream blackholes', { intervalMs: 200 })
    // The sessions must be past the `outage` client's maxStaleness (1 s, whole seconds).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.max(...users.map((u) => u.loggedInAt)) + 2100 - Date.now())))
    Object.assign(rows, await measureInterleaved(outage))
    if (only.has('sso-outage') && only.has('cached')) mixed = await measureMixed(http, users, op)
    await assertBreakersOpen(gateway.adminUrl, 'after the outage measurements')
    if (notCached > 0) throw new Error(`${notCached} cached-login flows were not served from the cached session`)
  }

  // RSS under load is judged on the measured scenarios; the soak reports its own (a sawtooth, see runSoak).
  const rssPeak = gatewayRss.peak
  const soak = args.soak ? await runSoak(http, gatewayProcess, users, chains, op) : undefined
  const memory = await gatewayProcess.call<GatewayMemory>('memory')
  gatewayRss.stop()
  await Promise.all(servers.map(async (s) => s.stop()))
  const profile = args.profile ? await latestProfile() : undefined

  await report({ rows, mixed, rssMb: rssPeak, soak, memory, profile, pinned: SERVER_CPUS })
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
      // Probes every second open a blackholed region's breaker within interval + timeout; the longest
      // reset a policy may have (10m) keeps it open (no half-open trials) for the cached-login measurement.
      breaker: { timeout: '2s', resetTimeout: '10m' },
      healthCheck: { interval: '1s' },
    }],
    clients: [client(SHOP), { ...client(CACHED), freshness: { maxStaleness: 1, outageMaxStaleness: '1d' } }],
    // All load comes from one address and two clients: the limits stay on (their cost is part of
    // every request in production) but far above what the bench sends.
    rateLimits: { token: { max: 1_000_000_000 }, authorize: { max: 1_000_000_000 } },
  }
}

async function breakerStates (adminUrl: string): Promise<string[]> {
  const reply = await http.send(`${adminUrl}/admin/breakers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  return (JSON.parse(reply.body) as { breakers: Array<{ state: string }> }).breakers.map((b) => b.state)
}

async function assertBreakersOpen (adminUrl: string, when: string): Promise<void> {
  const states = await breakerStates(adminUrl)
  if (!states.every((s) => s === 'open')) throw new Error(`breakers not all open ${when}: ${states.join(', ')}`)
}

async function latestProfile (): Promise<{ file: string, summary: ProfileSummary } | undefined> {
  const files = (await readdir(profileDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort()
  const file = files.at(-1)
  return file === undefined ? undefined : { file: join(profileDir, file), summary: await summarizeProfile(join(profileDir, file)) }
}

