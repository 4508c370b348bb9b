// `npm run bench -- --callgrind`: instructions instead of rates. Wall-clock rates on this shared VM
// drift by ±25 %; the instructions a process executes for one flow barely move, so a change can be
// judged by them. Each server runs under valgrind's callgrind; its counters are zeroed after a
// warm-up and dumped after N flows (callgrind_control), and an idle stretch of the same process,
// measured the same way, is taken out.
import { execFile, spawn } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { freePort } from '../harness/free-port.js'
import { until } from '../harness/poll.js'
import { RedisServer } from '../harness/redis-server.js'
import { deviations, gatewayConfig } from './config.js'
import { SHOP, SHOP_OPAQUE, peerFullFlow, pkcePair, ssoFlow, ssoUser, understudyFullFlow, type BenchClient, type SsoUser } from './flows.js'
import { ServerProcess } from './lib/child.js'
import { machine, table } from './lib/format.js'
import { GatewayCli } from './lib/gateway-cli.js'
import { CookieJar, Http } from './lib/http.js'
import { CALLGRIND_FLOWS, RESULTS, SEALING_JWKS, SIGNING_JWKS, args, log, only } from './options.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../', import.meta.url))
/** Concurrent users driving a server under callgrind: enough to keep it busy, as the rate rows do with 32. */
const USERS = 8
/** The longest idle stretch measured for a process's baseline. */
const MAX_IDLE_SEC = 20
/** Flows before a row is measured: on the gateway the main thread's count per flow fell by a fifth over the first thousand flows, then held within 2 %. */
const WARMUP_FLOWS = args.quick ? 1000 : 1500

/**
 * Instructions (callgrind's Ir) per unit of work: the main thread's (the
 * event loop: every request's JavaScript, its crypto, its syscalls), which
 * settles once the code is warm, and every thread's, which adds V8's
 * concurrent compilation and marking and swings by ±40 % from one batch to
 * the next.
 */
export interface CallgrindRow {
  key: string
  name: string
  units: number
  mainPerUnit: number
  allThreadsPerUnit: number
  seconds: number
  /** The main thread's idle instructions over the measured stretch, as a share of the measured ones (taken out). */
  idleShare: number
  /** The measurement's second half against its first (main thread): near 0 once the code is warm. */
  settle: number
}

/**
 * With `--only`, the processes whose rows it names: the gateway on either store (`sso`, `sso-opaque`,
 * `sso-redis`, `sso-opaque-redis`), the peer (`peer-sso-opaque`, `peer-sso-opaque-redis`), the ES256
 * ceiling and signatures (`es256`). A focused run takes minutes instead of the peer's long rows.
 */
const measured = (...keys: string[]) => args.only === undefined || keys.some((key) => only.has(key as never))

/** Instructions of a dump: the main thread's, and every thread's. */
interface Count { main: number, all: number }

/** A process under callgrind (--separate-threads=yes): zero its counters, dump them, read a dump's totals. */
class Callgrind {
  #dumps = 0
  readonly pid: number
  readonly base: string
  constructor (pid: number, base: string) {
    this.pid = pid
    this.base = base
  }

  async zero (): Promise<void> {
    await run('callgrind_control', ['-z', String(this.pid)])
  }

  /** Dumps the counters since the last zero and answers their totals: one file per thread, `-01` the main one. */
  async dump (): Promise<Count> {
    await run('callgrind_control', ['-d', String(this.pid)])
    const prefix = `${basename(this.base)}.${this.pid}.out.${++this.#dumps}-`
    const count = { main: NaN, all: 0 }
    await until(async () => {
      count.all = 0
      for (const file of (await readdir(dirname(this.base))).filter((f) => f.startsWith(prefix))) {
        const total = Number(/^summary: (\d+)$/m.exec(await readFile(join(dirname(this.base), file), 'utf8'))?.[1])
        if (!Number.isFinite(total)) return false
        count.all += total
        if (file === `${prefix}01`) count.main = total
      }
      return Number.isFinite(count.main)
    }, 30_000, `callgrind writes ${prefix}*`)
    return count
  }

  /** Instructions per second while the process idles (timers, health probes), measured over `seconds`. */
  async idleRate (seconds: number): Promise<Count> {
    await this.zero()
    const started = performance.now()
    await sleep(seconds * 1000)
    const count = await this.dump()
    const elapsed = (performance.now() - started) / 1000
    return { main: count.main / elapsed, all: count.all / elapsed }
  }
}

/** valgrind's command line for a process named `name`: its dumps go to `<dir>/<name>.<pid>.out.<n>-<thread>`. */
function valgrind (dir: string, name: string): { wrapper: string[], base: string } {
  const base = join(dir, name)
  return { wrapper: ['valgrind', '--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${base}.%p.out`], base }
}

/** Runs `total` flows over `users` concurrent users. */
async function flows (total: number, users: number, flow: (user: number) => Promise<unknown>): Promise<void> {
  let begun = 0
  await Promise.all(Array.from({ length: users }, async (_, user) => {
    while (begun < total) {
      begun++
      await flow(user)
    }
  }))
}

/**
 * WARMUP_FLOWS flows, then `n` measured in two halves: a row is their sum, and
 * the second half against the first says whether the count had settled.
 */
async function measureFlows (cg: Callgrind, n: number, flow: (user: number) => Promise<unknown>): Promise<Count & { seconds: number, settle: number }> {
  await flows(WARMUP_FLOWS, USERS, flow)
  const halves: Count[] = []
  const started = performance.now()
  for (const half of [Math.floor(n / 2), n - Math.floor(n / 2)]) {
    await cg.zero()
    await flows(half, USERS, flow)
    halves.push(await cg.dump())
  }
  const [first, second] = halves as [Count, Count]
  return { main: first.main + second.main, all: first.all + second.all, seconds: (performance.now() - started) / 1000, settle: second.main / first.main - 1 }
}

/** Rows of one server: each measured batch less the idle rate over its duration, per flow. */
async function serverRows (cg: Callgrind, measured: Array<{ key: string, name: string, flow: (user: number) => Promise<unknown> }>): Promise<CallgrindRow[]> {
  const raw: Array<{ key: string, name: string, settle: number } & Count & { seconds: number }> = []
  for (const m of measured) {
    log(`bench: callgrind: ${m.name}, ${CALLGRIND_FLOWS} flows after ${WARMUP_FLOWS} to warm up…`)
    raw.push({ key: m.key, name: m.name, ...await measureFlows(cg, CALLGRIND_FLOWS, m.flow) })
  }
  const idleSec = Math.min(MAX_IDLE_SEC, Math.max(...raw.map((r) => r.seconds)))
  log(`bench: callgrind: idle baseline, ${idleSec.toFixed(0)} s…`)
  const idle = await cg.idleRate(idleSec)
  return raw.map((r) => ({
    key: r.key,
    name: r.name,
    units: CALLGRIND_FLOWS,
    seconds: r.seconds,
    mainPerUnit: (r.main - idle.main * r.seconds) / CALLGRIND_FLOWS,
    allThreadsPerUnit: (r.all - idle.all * r.seconds) / CALLGRIND_FLOWS,
    idleShare: idle.main * r.seconds / r.main,
    settle: r.settle,
  }))
}

/** One ES256 signature's instructions: servers/sign.ts under callgrind, `count` signatures after as many to warm up. */
async function signatureRow (dir: string, mode: 'id-token' | 'sign', name: string, count: number): Promise<CallgrindRow> {
  log(`bench: callgrind: ${name}, ${count} after as many to warm up…`)
  const { wrapper, base } = valgrind(dir, `sign-${mode}`)
  const child = spawn(wrapper[0]!, [...wrapper.slice(1), process.execPath, join('dist', 'bench', 'servers', 'sign.js'), mode, String(count), SIGNING_JWKS, SEALING_JWKS], { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const expect = async (word: string) => {
    const line = await lines.next()
    if (line.value !== word) throw new Error(`sign.js (${mode}): expected ${word}, got ${String(line.value)}`)
  }
  const cg = new Callgrind(child.pid!, base)
  await expect('ready')
  await cg.zero()
  const started = performance.now()
  child.stdin!.write('go\n')
  await expect('done')
  const { main, all } = await cg.dump()
  const seconds = (performance.now() - started) / 1000
  child.stdin!.write('exit\n')
  await new Promise((resolve) => child.once('exit', resolve))
  return { key: `es256-${mode}`, name, units: count, seconds, mainPerUnit: main / count, allThreadsPerUnit: all / count, idleShare: 0, settle: NaN }
}

/** A login, tried up to three times: under valgrind a server's late timers now and then cost one a connection. */
async function retried<T> (login: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await login()
    } catch (err) {
      if (attempt === 3) throw err
      log(`bench: callgrind: a login failed (${(err as Error).message}); again`)
    }
  }
}

/** The --callgrind run: the gateway (memory and Redis stores), the peer (its Map and its Redis adapter), the ES256 ceiling, one ES256 signature. */
export async function runCallgrind (options: { workDir: string, build: string, nodeOptions: string[] }): Promise<void> {
  const dir = join(options.workDir, 'callgrind')
  await mkdir(dir, { recursive: true })
  const http = new Http(USERS)
  const stops: Array<() => Promise<unknown>> = []
  const rows: CallgrindRow[] = []
  let configs: Record<'memory' | 'redis', Record<string, unknown>> | undefined
  try {
    const upstream = ServerProcess.start('upstream', { logFile: join(options.workDir, 'upstream.log') })
    stops.push(async () => upstream.stop())
    const redis = { gateway: await RedisServer.start({ name: 'gateway-redis' }), peer: await RedisServer.start({ name: 'peer-redis' }) }
    stops.push(async () => Promise.all([redis.gateway.close(), redis.peer.close()]))
    const ports = { memory: await freePort(), redis: await freePort() }
    const idp = await upstream.call<{ issuer: string, regions: Array<{ name: string, url: string }> }>('start', {
      regions: 2,
      // The gateway under valgrind reuses idle connections seconds after its keep-alive timers say they expired.
      keepAliveTimeoutMs: 600_000,
      clients: [{ client_id: 'understudy', client_secret: 'upstream-secret', redirect_uris: Object.values(ports).map((port) => `http://127.0.0.1:${port}/callback/idp`) }],
    })

    configs = { memory: gatewayConfig({ port: ports.memory, idp, underValgrind: true }), redis: gatewayConfig({ port: ports.redis, idp, redisUrl: redis.gateway.url, underValgrind: true }) }
    for (const store of ['memory', 'redis'] as const) {
      if (!measured(store === 'memory' ? 'sso' : 'sso-redis', store === 'memory' ? 'sso-opaque' : 'sso-opaque-redis')) continue
      const name = store === 'memory' ? 'understudy' : 'understudy, Redis store'
      const { wrapper, base } = valgrind(dir, `gateway-${store}`)
      log(`bench: callgrind: starting the gateway (${store} store) under valgrind…`)
      const gateway = await GatewayCli.start({ name: `gateway-${store}-callgrind`, workDir: options.workDir, config: configs[store], nodeOptions: options.nodeOptions, wrapper, startTimeoutMs: 300_000 })
      stops.push(async () => gateway.stop(60_000))
      const op = { authorize: `${gateway.url}/authorize`, token: `${gateway.url}/token` }
      const users: Array<{ shop: SsoUser, shopOpaque: SsoUser }> = []
      for (let user = 0; user < USERS; user++) {
        const jar = new CookieJar()
        const pkce = pkcePair()
        await retried(async () => understudyFullFlow(http, gateway.url, SHOP, pkce, jar, `callgrind-${store}-${user}`))
        const cookie = jar.headers(op.authorize)
        users.push({ shop: ssoUser(op, SHOP, pkce, cookie), shopOpaque: ssoUser(op, SHOP_OPAQUE, pkce, cookie) })
      }
      rows.push(...await serverRows(new Callgrind(gateway.pid, base), [
        { key: `sso-${store}`, name: `${name}: SSO flow, JWT access token`, flow: async (u) => ssoFlow(http, op, SHOP, users[u]!.shop) },
        { key: `sso-opaque-${store}`, name: `${name}: SSO flow, opaque access token`, flow: async (u) => ssoFlow(http, op, SHOP_OPAQUE, users[u]!.shopOpaque) },
      ]))
      await gateway.stop(60_000)
    }

    for (const store of ['memory', 'redis'] as const) {
      if (!measured(store === 'memory' ? 'peer-sso-opaque' : 'peer-sso-opaque-redis')) continue
      const name = store === 'memory' ? 'peer' : 'peer, Redis adapter'
      const { wrapper, base } = valgrind(dir, `peer-${store}`)
      log(`bench: callgrind: starting the peer (${store}) under valgrind…`)
      const peer = ServerProcess.start('peer', { logFile: join(options.workDir, `peer-${store}-callgrind.log`), wrapper })
      stops.push(async () => peer.stop(60_000))
      const { issuer } = await peer.call<{ issuer: string }>('start', {
        signingJwks: SIGNING_JWKS,
        clients: [SHOP, SHOP_OPAQUE].map((c) => ({ client_id: c.clientId, client_secret: c.clientSecret, redirect_uris: [c.redirectUri] })),
        opaque: [SHOP_OPAQUE.clientId],
        ...(store === 'redis' ? { redisUrl: redis.peer.url } : {}),
      })
      const op = { authorize: `${issuer}/auth`, token: `${issuer}/token` }
      const login = async (client: BenchClient) => {
        const logged: SsoUser[] = []
        for (let user = 0; user < USERS; user++) {
          const pkce = pkcePair()
          const jar = new CookieJar()
          await retried(async () => peerFullFlow(http, issuer, client, pkce, jar))
          logged.push(ssoUser(op, client, pkce, jar.headers(op.authorize)))
        }
        return logged
      }
      // The opaque format only: the like-for-like pair (the peer runs some 3 flows/s under valgrind; its JWT row is in the rates).
      const opaqueUsers = await login(SHOP_OPAQUE)
      rows.push(...await serverRows(new Callgrind(peer.pid, base), [
        { key: `peer-sso-opaque-${store}`, name: `${name}: SSO flow, opaque access token`, flow: async (u) => ssoFlow(http, op, SHOP_OPAQUE, opaqueUsers[u]!) },
      ]))
      await peer.stop(60_000)
    }

    if (measured('es256')) {
      const { wrapper, base } = valgrind(dir, 'ceiling')
      log('bench: callgrind: starting the ES256 ceiling under valgrind…')
      const ceiling = ServerProcess.start('ceiling', { logFile: join(options.workDir, 'ceiling-callgrind.log'), wrapper })
      stops.push(async () => ceiling.stop(60_000))
      const { url } = await ceiling.call<{ url: string }>('start', { signing: SIGNING_JWKS, sealing: SEALING_JWKS })
      rows.push(...await serverRows(new Callgrind(ceiling.pid, base), [
        { key: 'es256-ceiling', name: 'ceiling: Fastify + 1 ES256 ID token, per request', flow: async () => http.send(`${url}/es256`) },
      ]))
      await ceiling.stop(60_000)
    }
    if (measured('es256')) {
      const signatures = CALLGRIND_FLOWS * 2
      rows.push(await signatureRow(dir, 'id-token', 'ES256 ID token, as the ceiling mints it (mintIdToken)', signatures))
      rows.push(await signatureRow(dir, 'sign', 'ES256 signature alone (node:crypto sign)', signatures))
    }
  } finally {
    await http.close()
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
  }
  await reportCallgrind(rows, options.build, configs!)
}

/** The instruction ratios that stand beside the rate targets. */
function callgrindRatios (rows: CallgrindRow[]): Array<{ name: string, value: number, standsFor: string }> {
  const per = (key: string) => rows.find((r) => r.key === key)?.mainPerUnit ?? NaN
  return [
    { name: 'peer SSO ÷ understudy SSO, opaque (memory)', value: per('peer-sso-opaque-memory') / per('sso-opaque-memory'), standsFor: 'SSO flows/s ≥ 2.5 × the peer\'s (opaque)' },
    { name: 'understudy SSO (JWT) in ES256 ceiling requests', value: per('sso-memory') / per('es256-ceiling'), standsFor: 'SSO flows/s ≥ 0.5 × (ES256 ceiling ÷ 2): a flow ≤ 4 ceiling requests' },
    { name: 'understudy SSO (JWT) in ES256 ID tokens', value: per('sso-memory') / per('es256-id-token'), standsFor: '' },
    { name: 'understudy SSO (JWT), memory ÷ Redis store', value: per('sso-memory') / per('sso-redis'), standsFor: 'SSO with Redis ≥ 0.8 × with memory (the gateway process\'s part)' },
    { name: 'understudy SSO (opaque), memory ÷ Redis store', value: per('sso-opaque-memory') / per('sso-opaque-redis'), standsFor: '' },
    { name: 'peer SSO ÷ understudy SSO, opaque, both on Redis', value: per('peer-sso-opaque-redis') / per('sso-opaque-redis'), standsFor: '' },
  ]
}

async function reportCallgrind (rows: CallgrindRow[], build: string, configs: Record<'memory' | 'redis', Record<string, unknown>>): Promise<void> {
  const out = (line = '') => process.stdout.write(`${line}\n`)
  const { stdout: version } = await run('valgrind', ['--version'])
  const differences = deviations(configs.redis)
  out()
  out(`gateway: npm start's command under valgrind, default logging; its config, everywhere it differs from the defaults (bench value; default: why):`)
  for (const d of differences) out(`  ${d.path} ${JSON.stringify(d.bench)}; ${JSON.stringify(d.default ?? null)}: ${d.why}${d.path.startsWith('/store/') ? ' (the Redis rows\' gateway only)' : ''}`)
  out()
  out(`callgrind (${version.trim()}): instructions a server process executes per unit, on its main thread and on every thread, after ${WARMUP_FLOWS} flows to warm up; ${build}`)
  out(table(['unit', 'M instructions, main thread', 'every thread', 'units', 'measured s', 'idle (taken out)', '2nd half ÷ 1st − 1'], rows.map((r) => [r.name, r.mainPerUnit / 1e6, r.allThreadsPerUnit / 1e6, r.units, r.seconds, `${(r.idleShare * 100).toFixed(1)} %`, Number.isNaN(r.settle) ? '–' : `${(r.settle * 100).toFixed(1)} %`])))
  const ratios = callgrindRatios(rows)
  out()
  out(table(['instruction ratio (main threads)', 'value', 'stands beside'], ratios.map((r) => [r.name, r.value, r.standsFor])))
  const results = { date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full', flowsPerRow: CALLGRIND_FLOWS, warmupFlows: WARMUP_FLOWS, usersPerServer: USERS, valgrind: version.trim(), machine: await machine(), build, configDeviations: differences, rows, ratios }
  await mkdir(RESULTS, { recursive: true })
  const file = join(RESULTS, `${new Date().toISOString().slice(0, 10)}-callgrind${args.quick ? '-quick' : ''}${args.only === undefined ? '' : '-custom'}.json`)
  await writeFile(file, JSON.stringify(results, null, 2) + '\n')
  out(`\nresults: ${file}`)
}
