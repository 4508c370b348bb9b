import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { requireTool } from './tools.js'

/**
 * Real Redis processes for tests: standalone servers, a Sentinel group and a
 * three-node Cluster, on free ports of 127.0.0.1, each stopped in the
 * teardown of the test that started it.
 */

const run = promisify(execFile)

/**
 * False when redis-server is on PATH, otherwise why the Redis tests are
 * skipped. Under CI=true a missing redis-server throws: a failure, not a skip.
 */
export const noRedis: false | string = requireTool('redis-server')

/** Every process still running, killed if the test process exits without its teardown (a crash). */
const running = new Set<ChildProcess>()
process.on('exit', () => { for (const child of running) child.kill('SIGKILL') })

/** One redis-server (or sentinel) process that can be killed, hung, resumed and restarted on its port. */
export class RedisServer {
  readonly port: number
  readonly url: string
  readonly #args: string[]
  readonly #dir: string
  /** The password this process requires (requirepass), which `cli` then sends. */
  readonly #password: string | undefined
  #child: ChildProcess | undefined

  private constructor (port: number, args: string[], dir: string, password?: string) {
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.#args = args
    this.#dir = dir
    this.#password = password
  }

  /** Starts a redis-server without persistence on a free port (or `port`), stopped in `t`'s teardown; with `password`, it requires it and replicates with it. */
  static async start (t: Test, options: { port?: number, args?: string[], password?: string } = {}): Promise<RedisServer> {
    const port = options.port ?? await freePort()
    const dir = await mkdtemp(join(tmpdir(), 'understudy-redis-'))
    const auth = options.password === undefined ? [] : ['--requirepass', options.password, '--masterauth', options.password]
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...auth, ...(options.args ?? [])]
    return RedisServer.#launch(t, new RedisServer(port, args, dir, options.password))
  }

  /** Starts a Sentinel on a free port watching the master group `name` at `masterPort` (with the nodes' `password`, and its own `sentinelPassword`). */
  static async sentinel (t: Test, name: string, masterPort: number, auth: { password?: string, sentinelPassword?: string } = {}): Promise<RedisServer> {
    const port = await freePort()
    const dir = await mkdtemp(join(tmpdir(), 'understudy-sentinel-'))
    const config = join(dir, 'sentinel.conf')
    await writeFile(config, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      ...(auth.password === undefined ? [] : [`sentinel auth-pass ${name} ${auth.password}`]),
      ...(auth.sentinelPassword === undefined ? [] : [`requirepass ${auth.sentinelPassword}`]),
    ].join('\n') + '\n')
    return RedisServer.#launch(t, new RedisServer(port, [config, '--sentinel'], dir, auth.sentinelPassword))
  }

  static async #launch (t: Test, server: RedisServer): Promise<RedisServer> {
    t.teardown(() => server.close())
    await server.#spawn()
    return server
  }

  /** True while the process runs (stopped with SIGSTOP counts as running). */
  get alive (): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** SIGKILL: the process dies at once, with everything it held. */
  async kill (): Promise<void> {
    const child = this.#child
    if (!child || !this.alive) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /** SIGSTOP: the process hangs; connections stay open and nothing answers. */
  pause (): void {
    this.#child?.kill('SIGSTOP')
  }

  /** SIGCONT: a hung process answers again. */
  resume (): void {
    this.#child?.kill('SIGCONT')
  }

  /** Starts the process again on the same port (empty: there is no persistence). */
  async restart (): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  /** Runs one redis-cli command against this process and returns its output. */
  async cli (...args: string[]): Promise<string> {
    const auth = this.#password === undefined ? [] : ['-a', this.#password, '--no-auth-warning']
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...auth, ...args])
    return stdout
  }

  /** Kills the process and removes its folder. */
  async close (): Promise<void> {
    await this.kill()
    await rm(this.#dir, { recursive: true, force: true })
  }

  async #spawn (): Promise<void> {
    const child = spawn('redis-server', this.#args, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    child.once('exit', () => running.delete(child))
    let output = ''
    child.stdout!.on('data', (chunk) => { output = (output + String(chunk)).slice(-2_000) })
    child.stderr!.on('data', (chunk) => { output = (output + String(chunk)).slice(-2_000) })
    this.#child = child
    await until(() => (this.alive ? answersPing(this.port) : Promise.reject(new Error(`redis-server exited: ${output}`))), 10_000, `redis on port ${this.port} answers PING`)
  }
}

/** A master, one replica and `sentinels` Sentinels watching them. */
export interface SentinelGroup {
  name: string
  master: RedisServer
  replica: RedisServer
  sentinels: RedisServer[]
  /** The sentinels' addresses, as `store.redis.sentinels` takes them. */
  nodes: Array<{ host: string, port: number }>
}

/** Starts a Sentinel group whose replica is in sync and known to every Sentinel. */
export async function startSentinelGroup (t: Test, options: { sentinels?: number, password?: string, sentinelPassword?: string } = {}): Promise<SentinelGroup> {
  const name = 'understudy'
  const { password, sentinelPassword } = options
  const auth = password === undefined ? {} : { password }
  // Without the default 5 s wait for more replicas before a diskless sync.
  const master = await RedisServer.start(t, { args: ['--repl-diskless-sync-delay', '0'], ...auth })
  const replica = await RedisServer.start(t, { args: ['--replicaof', '127.0.0.1', String(master.port)], ...auth })
  await until(async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'), 10_000, 'the replica is in sync')
  const sentinels = await Promise.all(Array.from({ length: options.sentinels ?? 1 }, () => RedisServer.sentinel(t, name, master.port, { ...auth, ...(sentinelPassword === undefined ? {} : { sentinelPassword }) })))
  for (const sentinel of sentinels) {
    await until(async () => (await sentinel.cli('sentinel', 'replicas', name)).includes(String(replica.port)), 15_000, 'the sentinel knows the replica')
  }
  return { name, master, replica, sentinels, nodes: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })) }
}

/** Three masters (no replicas) forming one Cluster whose every slot is served. */
export async function startCluster (t: Test): Promise<{ nodes: RedisServer[], urls: string[] }> {
  const nodes: RedisServer[] = []
  for (let i = 0; i < 3; i++) {
    // A cluster node also listens on port + 10000 (the cluster bus).
    const port = await freePort({ bus: true })
    nodes.push(await RedisServer.start(t, { port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }))
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'])
  for (const node of nodes) await until(async () => (await node.cli('cluster', 'info')).includes('cluster_state:ok'), 15_000, `cluster node ${node.port} is ok`)
  return { nodes, urls: nodes.map((n) => n.url) }
}

/** Polls `check` until it resolves truthy; throws after `timeoutMs` naming `what`. */
export async function until (check: () => Promise<unknown>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await sleep(50)
  }
  throw new Error(`timed out waiting until ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

async function answersPing (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    // A server that requires a password answers NOAUTH: it is up all the same.
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(String(data))))
  })
}

async function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port that was free a moment ago; with `bus`, port + 10000 was free too (Cluster nodes need both). */
async function freePort (options: { bus?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (await portFree(port) && (!options.bus || await portFree(port + 10_000))) return port
  }
  throw new Error('no free port')
}
