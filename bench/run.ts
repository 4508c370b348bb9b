// `npm run bench [-- --quick] [-- --soak] [-- --profile] [-- --diag] [-- --in-process] [-- --only sso,cached] [-- --vus N]`
// `npm run bench -- --callgrind` (instructions instead of rates: bench/callgrind.ts)
//
// One run, side by side, against processes it starts itself: the Fastify
// ceilings, the peer (node-oidc-provider 9), and understudy as it ships (the
// CLI with npm start's flags, default logging) in front of an oidc-provider
// upstream behind TCP fault proxies, with the in-memory store and with Redis.
// Prints a table and the ratios, writes bench/results/<date>[-soak][-quick][-custom].json. See bench/README.md.
import { mkdtemp, readdir } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../harness/free-port.js'
import { until } from '../harness/poll.js'
import { RedisServer } from '../harness/redis-server.js'
import { validateConfig } from '../src/config/load.js'
import { runCallgrind } from './callgrind.js'
import { deviations, gatewayConfig } from './config.js'
import { CACHED, SHOP, SHOP_OPAQUE, accessTokenFormat, claimsOf, parseTokens, peerFullFlow, pkcePair, refreshOnce, ssoFlow, ssoUser, understudyFullFlow, type BenchClient, type BenchUser, type Pkce, type SsoUser } from './flows.js'
import { buildIfStale } from './lib/build.js'
import { RssSampler, ServerProcess, canPin, compileServers, pinSelf, shippedNodeOptions } from './lib/child.js'
import { GatewayCli, npmStartCommand } from './lib/gateway-cli.js'
import { CookieJar, Http } from './lib/http.js'
import { gatewayMemory } from './lib/memory.js'
import { summarizeProfile, type ProfileSummary } from './lib/profile.js'
import { checkLogging } from './logging-check.js'
import { measureInterleaved, measureMixed, type Definition, type Mixed, type Row } from './measure.js'
import { ADMIN_TOKEN, REDIS_ROWS, ROUNDS, SEALING_JWKS, SIGNING_JWKS, TIMING, VUS, args, log, only, type Scenario } from './options.js'
import { countRedisPerFlow, type RedisPerFlow } from './redis-count.js'
import { report } from './report.js'
import { runSoak } from './soak.js'

const workDir = await mkdtemp(join(tmpdir(), 'understudy-bench-'))
log(`bench: ${args.quick ? 'quick' : 'full'} ${args.callgrind ? 'callgrind run' : `run, ${VUS} virtual users, ${ROUNDS} rounds of ${TIMING.sliceMs / 1000} s slices`}; server logs in ${workDir}`)
const build = await buildIfStale(log)
log(`bench: ${build}; compiling the bench's servers into dist/…`)
compileServers()
const start = npmStartCommand()
if (start.nodeOptions.join(' ') !== shippedNodeOptions().join(' ')) log(`bench: npm start's flags (${start.nodeOptions.join(' ')}) differ from the image's NODE_OPTIONS (${shippedNodeOptions().join(' ')}): npm start's are used`)
// As users start it unless an experiment says otherwise; the soak forces a full GC twice to read the live heap.
const gatewayNodeOptions = args['gateway-node-options']?.split(' ').filter(Boolean) ?? start.nodeOptions

if (args.callgrind) await runCallgrind({ workDir, build, nodeOptions: gatewayNodeOptions })
else await rates()

async function rates (): Promise<void> {
  const profileDir = join(workDir, 'profiles')
  const logFile = (name: string) => join(workDir, `${name}.log`)
  // Each server gets a CPU of its own and the driver the rest: a server's capacity on one core (a
  // Node process is one event loop), not whatever share the scheduler happens to leave it.
  const lastCpu = cpus().length - 1
  const SERVER_CPUS = !args['no-pin'] && canPin() ? String(lastCpu) : undefined
  if (SERVER_CPUS !== undefined) {
    pinSelf(lastCpu === 1 ? '0' : `0-${lastCpu - 1}`)
    log(`bench: servers pinned to CPU ${lastCpu}, the load driver (and the redis-servers it starts) to the others`)
  }
  const serverPlacement = SERVER_CPUS === undefined ? {} : { cpus: SERVER_CPUS }
  const withRedis = REDIS_ROWS.some((key) => only.has(key))
  const inProcess = only.has('sso-inproc')

  const http = new Http(VUS)
  const servers: Array<{ stop (): Promise<void> }> = []
  const started = <S extends { stop (): Promise<void> }>(s: S) => { servers.push(s); return s }
  let gatewayRss: RssSampler | undefined

  try {
    // Every server in its own process; the bench's event loop only drives load.
    const ceiling = started(ServerProcess.start('ceiling', { logFile: logFile('ceiling'), ...serverPlacement }))
    const peer = started(ServerProcess.start('peer', { logFile: logFile('peer'), ...serverPlacement }))
    // The upstream serves only the full federated flow, beside the gateway: it shares the driver's CPUs.
    const upstream = started(ServerProcess.start('upstream', { logFile: logFile('upstream') }))
    const redisServer = async (name: string) => { const r = await RedisServer.start({ name }); started({ stop: async () => r.close() }); return r }
    const redis = withRedis ? { gateway: await redisServer('gateway-redis'), peer: await redisServer('peer-redis') } : undefined
    const peerRedis = redis ? started(ServerProcess.start('peer', { logFile: logFile('peer-redis'), ...serverPlacement })) : undefined
    const ports = { memory: await freePort(), redis: await freePort(), inProcess: await freePort() }
    const peerClients = { clients: [SHOP, SHOP_OPAQUE].map((c) => ({ client_id: c.clientId, client_secret: c.clientSecret, redirect_uris: [c.redirectUri] })), opaque: [SHOP_OPAQUE.clientId], signingJwks: SIGNING_JWKS }
    const [ceilingUrl, peerIssuer, peerRedisIssuer, idp] = await Promise.all([
      ceiling.call<{ url: string }>('start', { signing: SIGNING_JWKS, sealing: SEALING_JWKS }).then((r) => r.url),
      peer.call<{ issuer: string }>('start', peerClients).then((r) => r.issuer),
      peerRedis?.call<{ issuer: string }>('start', { ...peerClients, redisUrl: redis!.peer.url }).then((r) => r.issuer),
      upstream.call<{ issuer: string, regions: Array<{ name: string, url: string }> }>('start', {
        regions: 2,
        clients: [{ client_id: 'understudy', client_secret: 'upstream-secret', redirect_uris: Object.values(ports).map((port) => `http://127.0.0.1:${port}/callback/idp`) }],
      }),
    ])
    const configs = { memory: gatewayConfig({ port: ports.memory, idp }), redis: gatewayConfig({ port: ports.redis, idp, ...(redis ? { redisUrl: redis.gateway.url } : {}) }) }
    const gatewayOptions = { workDir, nodeOptions: [...gatewayNodeOptions, ...(args.soak ? ['--expose-gc'] : []), ...(args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])], ...serverPlacement }
    const gateway = started(await GatewayCli.start({ name: 'gateway', config: configs.memory, ...gatewayOptions, ...(args.soak ? { probe: './dist/bench/servers/gc-probe.js' } : {}) }))
    const gatewayRedis = redis ? started(await GatewayCli.start({ name: 'gateway-redis', config: configs.redis, ...gatewayOptions })) : undefined
    const inProcessGateway = inProcess ? started(ServerProcess.start('gateway', { logFile: logFile('gateway-in-process'), nodeOptions: gatewayNodeOptions, ...serverPlacement })) : undefined
    const inProcessUrl = inProcessGateway ? (await inProcessGateway.call<{ url: string }>('start', gatewayConfig({ port: ports.inProcess, idp }))).url : undefined
    log(`bench: gateway: ${gateway.command}`)
    gatewayRss = new RssSampler(gateway.pid, 250)
    const op = (url: string) => ({ authorize: `${url}/authorize`, token: `${url}/token` })

    // Returning users: one federated login each; their session cookies serve SSO and, later, cached logins.
    let logins = 0
    const newLogin = () => `user-${++logins}`
    const loginUsers = async (url: string): Promise<BenchUser[]> => {
      const users: BenchUser[] = []
      for (let vu = 0; vu < VUS; vu++) {
        const jar = new CookieJar()
        const pkce = pkcePair()
        const tokens = await understudyFullFlow(http, url, SHOP, pkce, jar, newLogin())
        const cookie = jar.headers(op(url).authorize)
        users.push({ shop: ssoUser(op(url), SHOP, pkce, cookie), shopOpaque: ssoUser(op(url), SHOP_OPAQUE, pkce, cookie), outage: ssoUser(op(url), CACHED, pkce, cookie), refreshToken: tokens.refresh_token, loggedInAt: Date.now() })
      }
      return users
    }
    const users = await loginUsers(gateway.url)
    const redisUsers = gatewayRedis ? await loginUsers(gatewayRedis.url) : []
    const inProcessUsers = inProcessUrl ? await loginUsers(inProcessUrl) : []
    const chains = users.map((u) => ({ token: u.refreshToken }))

    // The gateway's logging as it runs: lines its log gains for known requests.
    const logging = await checkLogging(gateway.logFile, validateConfig(configs.memory, { env: {} }).logging, 20, 2, async () => ssoFlow(http, op(gateway.url), SHOP, users[0]!.shop))
    log(`bench: gateway logging: level ${logging.level}, access log ${logging.requests ? 'on' : 'off'}; ${logging.sent} requests wrote ${logging.accessLines} access lines and ${logging.otherLines} others`)

    // The rows compare formats: each client must get the one its name says, at the gateway and at the peer.
    for (const [client, user, expected] of [[SHOP, users[0]!.shop, 'jwt'], [SHOP_OPAQUE, users[0]!.shopOpaque, 'opaque']] as const) {
      const gatewayToken = parseTokens(await ssoFlow(http, op(gateway.url), client, user)).access_token
      const jar = new CookieJar()
      const peerToken = (await peerFullFlow(http, peerIssuer, client, pkcePair(), jar)).access_token
      if (accessTokenFormat(gatewayToken) !== expected || accessTokenFormat(peerToken) !== expected) throw new Error(`${client.clientId} should get ${expected} access tokens: the gateway's is ${accessTokenFormat(gatewayToken)}, the peer's ${accessTokenFormat(peerToken)}`)
    }

    /** A scenario of a gateway's returning users, one per virtual user, each running SSO flows for `client` back to back. */
    const sso = (key: Scenario, name: string, server: { pid: number }, url: string, from: BenchUser[], client: BenchClient, pick: (u: BenchUser) => SsoUser): Definition =>
      ({ key, name, unit: 'flows', server: () => server, flow: { setup: async (vu) => pick(from[vu]!), run: async (user: SsoUser) => { await ssoFlow(http, op(url), client, user); return 2 } } })
    /** The peer's SSO flow for `client`: each user logs in once (setup), then runs SSO flows with the peer's session cookies, which do not change between them. */
    const peerSso = (key: Scenario, name: string, server: ServerProcess, issuer: string, client: BenchClient): Definition => {
      const peerOp = { authorize: `${issuer}/auth`, token: `${issuer}/token` }
      return {
        key,
        name,
        unit: 'flows',
        server: () => server,
        flow: {
          setup: async () => {
            const pkce = pkcePair()
            const jar = new CookieJar()
            await peerFullFlow(http, issuer, client, pkce, jar)
            return ssoUser(peerOp, client, pkce, jar.headers(peerOp.authorize))
          },
          run: async (user: SsoUser) => { await ssoFlow(http, peerOp, client, user); return 2 },
        },
      }
    }
    let notCached = 0

    const upstreamUp: Definition[] = [
      { key: 'hello', name: 'ceiling: Fastify hello world', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/hello` },
      { key: 'livez', name: 'floor: gateway GET /livez (its hooks, access line)', unit: 'requests', server: () => gateway, url: () => `${gateway.url}/livez` },
      { key: 'authorize', name: 'diagnostic: gateway GET /authorize, SSO (302)', unit: 'requests', server: () => gateway, url: () => users[0]!.shop.url, headers: () => users[0]!.shop.cookie },
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
        server: () => gateway,
        flow: { setup: async () => pkcePair(), run: async (pkce: Pkce) => { await understudyFullFlow(http, gateway.url, SHOP, pkce, new CookieJar(), newLogin()); return 7 } },
      },
      {
        key: 'refresh',
        name: 'understudy: refresh grant, rotating chains',
        unit: 'requests',
        server: () => gateway,
        // Independent chains: each answer's refresh token is that chain's next request.
        flow: { setup: async (vu) => chains[vu], run: async (chain: { token: string }) => { chain.token = await refreshOnce(http, op(gateway.url).token, SHOP, chain.token); return 1 } },
      },
      ...(inProcessGateway ? [sso('sso-inproc', 'extra, not as shipped: SSO flow (JWT), gateway in-process, log level warn', inProcessGateway, inProcessUrl!, inProcessUsers, SHOP, (u) => u.shop)] : []),
      // The ratios' pairs, measured back to back at the end of every round (report.ts takes the median of
      // each round's ratio): the ES256 ceiling, the SSO flows and the peer's, with memory and with Redis.
      { key: 'es256', name: 'ceiling: Fastify + 1 ES256 ID token (gateway signer)', unit: 'requests', server: () => ceiling, url: () => `${ceilingUrl}/es256` },
      sso('sso', 'understudy: SSO flow, JWT access token', gateway, gateway.url, users, SHOP, (u) => u.shop),
      peerSso('peer-sso', 'peer: SSO flow, JWT access token', peer, peerIssuer, SHOP),
      sso('sso-opaque', 'understudy: SSO flow, opaque access token', gateway, gateway.url, users, SHOP_OPAQUE, (u) => u.shopOpaque),
      peerSso('peer-sso-opaque', 'peer: SSO flow, opaque access token', peer, peerIssuer, SHOP_OPAQUE),
      ...(gatewayRedis && peerRedis ? [
        sso('sso-redis', 'understudy, Redis store: SSO flow, JWT', gatewayRedis, gatewayRedis.url, redisUsers, SHOP, (u) => u.shop),
        sso('sso-opaque-redis', 'understudy, Redis store: SSO flow, opaque', gatewayRedis, gatewayRedis.url, redisUsers, SHOP_OPAQUE, (u) => u.shopOpaque),
        peerSso('peer-sso-opaque-redis', 'peer, Redis adapter: SSO flow, opaque', peerRedis, peerRedisIssuer!, SHOP_OPAQUE),
      ] : []),
    ]
    const upstreamDown: Definition[] = [
      sso('sso-outage', 'understudy: SSO flow, upstream blackholed', gateway, gateway.url, users, SHOP, (u) => u.shop),
      {
        ...sso('cached', 'understudy: cached login, upstream blackholed', gateway, gateway.url, users, CACHED, (u) => u.outage),
        flow: {
          setup: async (vu) => users[vu]!.outage,
          run: async (user: SsoUser) => {
            const tokens = parseTokens(await ssoFlow(http, op(gateway.url), CACHED, user))
            if (claimsOf(tokens.id_token).acr !== 'urn:understudy:acr:cached') notCached++
            return 2
          },
        },
      },
    ]

    const rows: Partial<Record<Scenario, Row>> = await measureInterleaved(upstreamUp.filter((d) => only.has(d.key)))

    // Redis work per SSO flow, counted by each redis-server: flows one after another.
    let redisCounts: Record<string, RedisPerFlow> | undefined
    if (redis && gatewayRedis && peerRedis) {
      log('bench: counting Redis commands and round trips per SSO flow…')
      const peerUser = await peerSso('peer-sso-opaque-redis', '', peerRedis, peerRedisIssuer!, SHOP_OPAQUE).flow!.setup(0) as SsoUser
      const peerOp = { authorize: `${peerRedisIssuer!}/auth`, token: `${peerRedisIssuer!}/token` }
      redisCounts = {
        'understudy, JWT': await countRedisPerFlow(redis.gateway.url, 200, async () => ssoFlow(http, op(gatewayRedis.url), SHOP, redisUsers[0]!.shop)),
        'understudy, opaque': await countRedisPerFlow(redis.gateway.url, 200, async () => ssoFlow(http, op(gatewayRedis.url), SHOP_OPAQUE, redisUsers[0]!.shopOpaque)),
        'peer, opaque': await countRedisPerFlow(redis.peer.url, 200, async () => ssoFlow(http, peerOp, SHOP_OPAQUE, peerUser)),
      }
    }
    // Their clients first, then the redis-servers: a client whose Redis is gone would wait to reconnect.
    await Promise.all([ceiling, peer, peerRedis, gatewayRedis, inProcessGateway].map(async (s) => s?.stop()))
    await Promise.all([redis?.gateway, redis?.peer].map(async (r) => r?.close()))

    // The outage: every upstream region blackholed; measured only once every breaker is open.
    let mixed: Mixed | undefined
    const outage = upstreamDown.filter((d) => only.has(d.key))
    if (outage.length > 0 || args.soak) {
      await upstream.call('fault', { kind: 'blackhole' })
      // Probes every 5 s (the default) open a blackholed region's breaker within interval + timeout; polled
      // gently, since the admin API allows an address 30 requests per 10 s.
      await until(async () => { await assertBreakersOpen(http, gateway.adminUrl, 'yet'); return true }, 30_000, 'every breaker opens while the upstream blackholes', { intervalMs: 500 })
      // The sessions must be past the `outage` client's maxStaleness (1 s, whole seconds).
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.max(...users.map((u) => u.loggedInAt)) + 2100 - Date.now())))
      Object.assign(rows, await measureInterleaved(outage))
      if (only.has('sso-outage') && only.has('cached')) mixed = await measureMixed(http, users, op(gateway.url))
      await assertBreakersOpen(http, gateway.adminUrl, 'after the outage measurements')
      if (notCached > 0) throw new Error(`${notCached} cached-login flows were not served from the cached session`)
    }

    // RSS under load is judged on the measured scenarios; the soak reports its own (a sawtooth, see runSoak).
    const rssPeak = gatewayRss.peak
    const soak = args.soak ? await runSoak(http, gateway, users, chains, op(gateway.url)) : undefined
    const memory = await gatewayMemory(http, gateway.pid, gateway.adminUrl)
    gatewayRss.stop()
    await Promise.all(servers.map(async (s) => s.stop()))
    const profile = args.profile ? await latestProfile(profileDir) : undefined

    await report({
      rows,
      mixed,
      rssMb: rssPeak,
      soak,
      memory,
      profile,
      pinned: SERVER_CPUS,
      build,
      gateway: { command: gateway.command, logging, deviations: deviations(configs.memory), ...(withRedis ? { redisDeviations: deviations(configs.redis).filter((d) => d.path.startsWith('/store/')) } : {}) },
      ...(redisCounts ? { redisCounts } : {}),
    })
  } finally {
    gatewayRss?.stop()
    await http.close()
    await Promise.all(servers.map(async (s) => s.stop()))
  }
}

async function breakerStates (http: Http, adminUrl: string): Promise<string[]> {
  const reply = await http.send(`${adminUrl}/admin/breakers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  return (JSON.parse(reply.body) as { breakers: Array<{ state: string }> }).breakers.map((b) => b.state)
}

async function assertBreakersOpen (http: Http, adminUrl: string, when: string): Promise<void> {
  const states = await breakerStates(http, adminUrl)
  if (!states.every((s) => s === 'open')) throw new Error(`breakers not all open ${when}: ${states.join(', ')}`)
}

async function latestProfile (profileDir: string): Promise<{ file: string, summary: ProfileSummary } | undefined> {
  const files = (await readdir(profileDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort()
  const file = files.at(-1)
  return file === undefined ? undefined : { file: join(profileDir, file), summary: await summarizeProfile(join(profileDir, file)) }
}
