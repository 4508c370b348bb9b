import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { isAlive, killNow, track } from './children.js'
import { freePort } from './free-port.js'
import { until } from './poll.js'

const run = promisify(execFile)
const START_TIMEOUT_MS = 10_000

export interface RedisServerOptions {
  /** How reports and errors name it (default `redis-<port>`). */
  name?: string
  /** A fixed port instead of a free one. */
  port?: number
  /** More redis-server arguments (replication, cluster mode). */
  args?: string[]
  /** The process requires it (requirepass) and replicates with it (masterauth); `cli` sends it. */
  password?: string
}

/**
 * One redis-server (or Sentinel) process on 127.0.0.1 without persistence (a
 * killed Redis comes back empty, the harshest case), able to be killed
 * (SIGKILL), hung (SIGSTOP), resumed and restarted on the same port. It dies
 * with the process that started it, whatever ends that process.
 */
export class RedisServer {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly #args: string[]
  readonly #dir: string
  readonly #password: string | undefined
  #child: ChildProcess | undefined

  private constructor (name: string, port: number, args: string[], dir: string, password?: string) {
    this.name = name
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.#args = args
    this.#dir = dir
    this.#password = password
  }

  /** Starts a redis-server and waits until it answers PING. */
  static async start (options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? await freePort()
    const dir = await mkdtemp(join(tmpdir(), 'understudy-redis-'))
    const auth = options.password === undefined ? [] : ['--requirepass', options.password, '--masterauth', options.password]
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', ...auth, ...(options.args ?? [])]
    const server = new RedisServer(options.name ?? `redis-${port}`, port, args, dir, options.password)
    await server.#spawn()
    return server
  }

  /** Starts a Sentinel on a free port watching the master group `group` at `masterPort` (with the nodes' `password`, and its own `sentinelPassword`). */
  static async sentinel (group: string, masterPort: number, auth: { password?: string, sentinelPassword?: string } = {}): Promise<RedisServer> {
    const port = await freePort()
    const dir = await mkdtemp(join(tmpdir(), 'understudy-sentinel-'))
    const config = join(dir, 'sentinel.conf')
    await writeFile(config, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${group} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${group} 1000`,
      `sentinel failover-timeout ${group} 3000`,
      ...(auth.password === undefined ? [] : [`sentinel auth-pass ${group} ${auth.password}`]),
      ...(auth.sentinelPassword === undefined ? [] : [`requirepass ${auth.sentinelPassword}`]),
    ].join('\n') + '\n')
    const server = new RedisServer(`sentinel-${port}`, port, [config, '--sentinel'], dir, auth.sentinelPassword)
    await server.#spawn()
    return server
  }

  /** True while the process runs (a hung one included). */
  get alive (): boolean {
    return isAlive(this.#child)
  }

  /** SIGKILL: the process dies at once with everything it held. */
  async kill (): Promise<void> {
    await killNow(this.#child)
  }

  /** SIGSTOP: the process hangs; its connections stay open and nothing answers. */
  pause (): void {
    if (this.alive) this.#child!.kill('SIGSTOP')
  }

  /** SIGCONT: a hung process answers again (what it queued meanwhile included). */
  resume (): void {
    if (this.alive) this.#child!.kill('SIGCONT')
  }

  /** Starts the process again on the same port, empty (killing it first if it runs). */
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
    track(child)
    let output = ''
    const keep = (chunk: Buffer) => { output = (output + String(chunk)).slice(-2_000) }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    // A process that cannot start or exits at once ends the wait now, not at the timeout.
    const gone = new AbortController()
    child.once('error', (err) => gone.abort(new Error(`cannot start redis-server (is it on PATH?): ${err.message}`)))
    child.once('exit', () => gone.abort(new Error(`${this.name} exited at start: ${output.trim()}`)))
    this.#child = child
    await until(() => answersPing(this.port), START_TIMEOUT_MS, `${this.name} on port ${this.port} answers PING`, { intervalMs: 25, signal: gone.signal })
  }
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
