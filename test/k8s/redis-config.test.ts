import { execFile, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { MemoryCounter, RedisCounter } from '../../src/rate-limit/counter.js'
import { connectRedis, waitUntilReady } from '../../src/store/redis-connection.js'
import { RedisStore } from '../../src/store/redis.js'
import { noRedis, until } from '../helpers/redis.js'
import { requireTool } from '../helpers/tools.js'
import { freeTcpPort, issue, noOpenssl, testCa } from '../helpers/tls.js'
import { storeConformance } from '../store/conformance.js'

/**
 * The Redis of k8s/base/redis as its pods run it: init.sh writes redis.conf,
 * users.acl and sentinel.conf from the shipped files and the Secret's
 * passwords, and real redis-server and redis-sentinel processes run them.
 * Only what cannot exist here is changed: ports, the data folder, and the
 * pods' host names (127.0.0.1).
 */

const run = promisify(execFile)
const REDIS_DIR = fileURLToPath(new URL('../../k8s/base/redis/', import.meta.url))
const POD = 'understudy-redis-0.understudy-redis-headless'
const PASSWORDS = {
  REDIS_GATEWAY_PASSWORD: 'gateway-0123456789abcdef',
  REDIS_INTERNAL_PASSWORD: 'internal-0123456789abcdef',
  REDIS_PROBE_PASSWORD: 'probe-0123456789abcdef',
  REDIS_ADMIN_PASSWORD: 'admin-0123456789abcdef',
  REDIS_SENTINEL_PASSWORD: 'sentinel-0123456789abcdef',
}
const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }
/** The peer proxy test needs HAProxy (Debian's haproxy package), which the pods get from their image. */
const noHaproxy = requireTool('haproxy', spawnSync('haproxy', ['-v']).status === 0 ? undefined : 'haproxy is not on PATH')

/** Runs the shipped init.sh for pod 0 into a fresh folder; resolves with its exit code, output and folder. */
async function initScript (t: Test, passwords: Record<string, string>): Promise<{ code: number, stderr: string, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-k8s-redis-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = {
    PATH: process.env.PATH,
    CONFIG_DIR: REDIS_DIR,
    RUN_DIR: dir,
    POD_NAME: 'understudy-redis-0',
    STATEFULSET_NAME: 'understudy-redis',
    HEADLESS_SERVICE: 'understudy-redis-headless',
    MASTER_NAME: 'understudy',
    ...passwords,
  }
  try {
    const { stderr } = await run('sh', [join(REDIS_DIR, 'init.sh')], { env })
    return { code: 0, stderr, dir }
  } catch (err) {
    const failed = err as { code: number, stderr: string }
    return { code: failed.code, stderr: failed.stderr, dir }
  }
}

/** Starts `command` with `args`, killed in `t`'s teardown, and waits until `port` answers (PING or NOAUTH). */
async function launch (t: Test, command: string, args: string[], port: number): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => { output = (output + String(chunk)).slice(-2_000) })
  child.stderr.on('data', (chunk) => { output = (output + String(chunk)).slice(-2_000) })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  })
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`${command} exited: ${output}`)
    return /^(PONG|NOAUTH)/.test(await cli(port, []))
  }, 10_000, `${command} on port ${port} answers`)
}

/** One redis-cli command on 127.0.0.1:`port`, logged in as `user` (or nobody); its output, errors included. */
async function cli (port: number, args: string[], user?: keyof typeof USERS): Promise<string> {
  const env = user === undefined ? { PATH: process.env.PATH } : { PATH: process.env.PATH, REDISCLI_AUTH: USERS[user].password }
  const login = user === undefined || user === 'sentinel' ? [] : ['--user', USERS[user].name]
  const { stdout, stderr } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...login, ...(args.length === 0 ? ['ping'] : args)], { env })
  return `${stdout}${stderr}`.trim()
}

const USERS = {
  gateway: { name: 'gateway', password: PASSWORDS.REDIS_GATEWAY_PASSWORD },
  internal: { name: 'internal', password: PASSWORDS.REDIS_INTERNAL_PASSWORD },
  probe: { name: 'probe', password: PASSWORDS.REDIS_PROBE_PASSWORD },
  admin: { name: 'admin', password: PASSWORDS.REDIS_ADMIN_PASSWORD },
  sentinel: { name: 'default', password: PASSWORDS.REDIS_SENTINEL_PASSWORD },
}

/** A redis-server on the redis.conf init.sh wrote (its data folder and port changed), with `extra` arguments. */
async function startRedis (t: Test, dir: string, extra: string[] = []): Promise<number> {
  const port = await freeTcpPort()
  const data = await mkdtemp(join(dir, 'data-'))
  const conf = join(data, 'redis.conf')
  await writeFile(conf, (await readFile(join(dir, 'redis.conf'), 'utf8')).replace(/^dir .*$/m, `dir ${data}`))
  await launch(t, 'redis-server', [conf, '--port', String(port), '--bind', '127.0.0.1', '--aclfile', join(dir, 'users.acl'), '--appendonly', 'no', ...extra], port)
  return port
}

t.test('init.sh refuses to start when a password is empty, naming it', async (t) => {
  for (const name of Object.keys(PASSWORDS)) {
    const { code, stderr } = await initScript(t, { ...PASSWORDS, [name]: '' })
    t.not(code, 0, `without ${name} it fails`)
    t.match(stderr, name, `and says which (${name})`)
  }
})

t.test('the files init.sh writes keep no password in the clear in the ACL, and lock every door', async (t) => {
  const { code, dir } = await initScript(t, PASSWORDS)
  t.equal(code, 0, 'init.sh succeeds with every password')
  const acl = await readFile(join(dir, 'users.acl'), 'utf8')
  const sentinel = await readFile(join(dir, 'sentinel.conf'), 'utf8')
  const redis = await readFile(join(dir, 'redis.conf'), 'utf8')
  for (const [name, password] of Object.entries(PASSWORDS)) t.notOk(acl.includes(password), `users.acl holds only the hash of ${name}`)
  t.match(acl, /^user default off /m, 'the default user is off')
  t.notMatch(acl, /nopass/, 'no user without a password')
  t.match(redis, /^protected-mode yes$/m)
  t.notMatch(redis, /^protected-mode no/m)
  t.match(redis, /^masteruser internal$/m)
  t.match(sentinel, /^protected-mode yes$/m)
  t.match(sentinel, new RegExp(`^requirepass ${PASSWORDS.REDIS_SENTINEL_PASSWORD}$`, 'm'), 'the Sentinels require their password')
  t.match(sentinel, /^sentinel auth-user understudy internal$/m, 'and log in to Redis as internal')
})

t.test("during a rotation a user's previous password is accepted alongside the new one", { skip: noRedis }, async (t) => {
  const { dir } = await initScript(t, { ...PASSWORDS, REDIS_GATEWAY_PASSWORD_PREVIOUS: 'gateway-previous-0123' })
  t.notOk((await readFile(join(dir, 'users.acl'), 'utf8')).includes('gateway-previous-0123'), 'only its hash is written')
  const port = await startRedis(t, dir)
  for (const password of [PASSWORDS.REDIS_GATEWAY_PASSWORD, 'gateway-previous-0123']) {
    const store = await RedisStore.open({ url: `redis://gateway:${password}@127.0.0.1:${port}`, ...TIMEOUTS, log: silentLogger })
    t.teardown(() => store.close())
    const id = randomUUID()
    await store.revoke(id, 60)
    t.equal(await store.isRevoked(id), true, `${password === PASSWORDS.REDIS_GATEWAY_PASSWORD ? 'the new' : 'the previous'} password logs in`)
  }
  t.match(await cli(port, ['--user', 'gateway', '--pass', 'neither', 'ping']), /WRONGPASS|AUTH failed|NOAUTH/, 'any other is refused')
})

t.test('the shipped Redis config', { skip: noRedis }, async (t) => {
  const { dir } = await initScript(t, PASSWORDS)
  const port = await startRedis(t, dir)
  const gatewayUrl = `redis://gateway:${PASSWORDS.REDIS_GATEWAY_PASSWORD}@127.0.0.1:${port}`

  // The gateway's user must be allowed every command the store sends.
  storeConformance(t, 'k8s redis as user gateway', () => RedisStore.open({ url: gatewayUrl, ...TIMEOUTS, log: silentLogger }))

  t.test('as user gateway the store copies out its records and the rate-limit script counts in Redis', async (t) => {
    const store = await RedisStore.open({ url: gatewayUrl, ...TIMEOUTS, log: silentLogger })
    t.teardown(() => store.close())
    const id = randomUUID()
    await store.revoke(id, 60)
    const records = []
    for await (const record of store.records()) records.push(record)
    t.ok(records.some((r) => r.op === 'revoke' && r.id === id), 'SCAN, PTTL and GET are allowed')
    const client = connectRedis({ url: gatewayUrl }, TIMEOUTS, silentLogger)
    t.teardown(() => client.disconnect())
    t.ok(await waitUntilReady(client, 1_000), 'the counter connects as gateway')
    const counter = new RedisCounter(client, { prefix: 'understudy:ratelimit:', timeoutMs: 500, fallback: new MemoryCounter(), log: silentLogger })
    const key = randomUUID()
    t.equal((await counter.incr(key, 10_000)).current, 1)
    t.equal((await counter.incr(key, 10_000)).current, 2)
    t.equal(await cli(port, ['get', `understudy:ratelimit:${key}`], 'admin'), '2', 'counted in Redis, not in the fallback')
  })

  t.test('nobody gets in without logging in, and each user can do only its part', async (t) => {
    t.match(await cli(port, ['get', 'understudy:x']), /NOAUTH/, 'no login: refused')
    t.match(await cli(port, ['--user', 'default', '--pass', '', 'ping']), /AUTH failed|WRONGPASS|NOAUTH/, 'the default user cannot log in')
    t.match(await cli(port, ['get', 'understudy:x'], 'probe'), /NOPERM/, 'probe cannot read keys')
    t.equal(await cli(port, ['ping'], 'probe'), 'PONG', 'probe may PING')
    t.match(await cli(port, ['info', 'replication'], 'probe'), /role:master/, 'and ask for the role (the peer proxy\'s check)')
    for (const command of [['flushall'], ['config', 'get', 'requirepass'], ['keys', '*'], ['acl', 'list'], ['replicaof', 'no', 'one'], ['client', 'list'], ['save'], ['module', 'list']]) {
      t.match(await cli(port, command, 'gateway'), /NOPERM/, `gateway may not ${command.join(' ')}`)
    }
    t.match(await cli(port, ['set', 'elsewhere:x', '1'], 'gateway'), /NOPERM/, 'gateway may not touch keys outside understudy:')
    t.match(await cli(port, ['get', 'understudy:x'], 'internal'), /NOPERM/, 'internal cannot read the gateway\'s keys')
    t.match(await cli(port, ['config', 'get', 'maxmemory-policy'], 'admin'), /noeviction/, 'admin may do anything')
  })

  t.test('a replica syncs as user internal, and a Sentinel watches both and serves the gateway its master', async (t) => {
    const replica = await startRedis(t, dir, ['--replicaof', '127.0.0.1', String(port), '--replica-announce-ip', '127.0.0.1'])
    await until(async () => (await cli(replica, ['info', 'replication'], 'probe')).includes('master_link_status:up'), 10_000, 'the replica is in sync')
    const shipped = await readFile(join(dir, 'sentinel.conf'), 'utf8')
    // Two Sentinels: they find each other through the master and log in to each other with requirepass.
    const [sentinelPort, otherSentinelPort] = [await freeTcpPort(), await freeTcpPort()]
    for (const p of [sentinelPort, otherSentinelPort]) {
      const conf = join(dir, `sentinel-${p}.conf`)
      await writeFile(conf, shipped.replaceAll(POD, '127.0.0.1').replace(/^port .*$/m, `port ${p}`).replace(/^(sentinel monitor understudy 127\.0\.0\.1) 6379/m, `$1 ${port}`))
      await launch(t, 'redis-server', [conf, '--sentinel'], p)
    }
    t.match(await cli(sentinelPort, ['ping']), /NOAUTH/, 'the Sentinel wants its password')
    await until(async () => /num-slaves\n1\n/.test(await cli(sentinelPort, ['sentinel', 'master', 'understudy'], 'sentinel')), 15_000, 'the Sentinel found the replica through the master (INFO as internal)')
    await until(async () => /num-other-sentinels\n1\n/.test(await cli(sentinelPort, ['sentinel', 'master', 'understudy'], 'sentinel')), 15_000, 'the Sentinels found each other (hello messages through the master as internal)')
    t.match(await cli(sentinelPort, ['sentinel', 'ckquorum', 'understudy'], 'sentinel'), /^OK/, 'SENTINEL CKQUORUM counts two usable Sentinels, the quorum')
    t.notMatch(await cli(sentinelPort, ['sentinel', 'master', 'understudy'], 'sentinel'), /s_down|disconnected/, 'the master is up for the Sentinel')
    const store = await RedisStore.open({
      sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
      name: 'understudy',
      username: 'gateway',
      password: PASSWORDS.REDIS_GATEWAY_PASSWORD,
      sentinelPassword: PASSWORDS.REDIS_SENTINEL_PASSWORD,
      ...TIMEOUTS,
      log: silentLogger,
    })
    t.teardown(() => store.close())
    const id = randomUUID()
    await store.revoke(id, 60)
    t.equal(await store.isRevoked(id), true, 'the gateway writes through the Sentinel, as in the pods')
    await until(async () => (await cli(replica, ['exists', `understudy:revoked:{${id}}`], 'admin')) === '1', 5_000, 'the write is replicated')
  })
})

t.test("the peer proxy's HAProxy config terminates TLS and forwards to the master only once its check logs in as probe", { skip: noRedis || noHaproxy || noOpenssl }, async (t) => {
  const { dir } = await initScript(t, PASSWORDS)
  const redisPort = await startRedis(t, dir)
  const ca = await testCa(t, 'peer-ca')
  const leaf = await issue(ca, 'peer', ['localhost'], 'serverAuth')
  // The Deployment mounts the Secret's tls.crt and tls.key as peer.pem and peer.pem.key.
  await copyFile(leaf.cert, join(ca.dir, 'peer.pem'))
  await copyFile(leaf.key, join(ca.dir, 'peer.pem.key'))
  const shipped = await readFile(join(REDIS_DIR, 'haproxy.cfg'), 'utf8')

  /** HAProxy on the shipped config, with the probe's `password`: addresses of this machine instead of the cluster's. */
  const proxy = async (password: string) => {
    const [tlsPort, healthPort] = [await freeTcpPort(), await freeTcpPort()]
    const config = shipped
      .replace(/^ {2}bind :6379 ssl crt \S+/m, `  bind 127.0.0.1:${tlsPort} ssl crt ${join(ca.dir, 'peer.pem')}`)
      .replace(/^ {2}bind :8404$/m, `  bind 127.0.0.1:${healthPort}`)
      .replace(/^resolvers cluster\n(?: {2}.*\n)*/m, '')
      .replace(' resolvers cluster init-addr none', '')
      .replace(/^ {2}server redis-0 .*$/m, `  server redis-0 127.0.0.1:${redisPort}`)
      .replace(/^ {2}server redis-[12] .*\n/gm, '')
    const file = join(ca.dir, `haproxy-${tlsPort}.cfg`)
    await writeFile(file, config)
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore', env: { PATH: process.env.PATH, REDIS_PROBE_PASSWORD: password } })
    t.teardown(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    })
    const health = async () => (await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status
    return { tlsPort, health }
  }

  const good = await proxy(PASSWORDS.REDIS_PROBE_PASSWORD)
  await until(async () => (await good.health()) === 200, 10_000, 'HAProxy finds the master')
  const store = await RedisStore.open({ url: `rediss://gateway:${PASSWORDS.REDIS_GATEWAY_PASSWORD}@localhost:${good.tlsPort}`, tls: { ca: ca.cert }, ...TIMEOUTS, log: silentLogger })
  t.teardown(() => store.close())
  const id = randomUUID()
  await store.revoke(id, 60)
  t.equal(await cli(redisPort, ['exists', `understudy:revoked:{${id}}`], 'admin'), '1', 'the other region\'s gateway writes through the proxy over TLS')

  const wrong = await proxy('not-the-probe-password')
  await until(async () => (await wrong.health()) === 503, 10_000, 'a check that cannot log in finds no master')
  t.pass('a probe password that Redis refuses leaves the proxy without a master: not ready')
})
