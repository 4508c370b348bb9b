import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { track } from './children.js'
import { freePort } from './free-port.js'

const START_TIMEOUT_MS = 10_000

/**
 * One redis-server for a game day: no persistence (a killed Redis comes back
 * empty, the harshest case), on a free port of 127.0.0.1, and able to be
 * killed (SIGKILL), hung (SIGSTOP), resumed and restarted on the same port.
 */
export class RedisServer {
  readonly name: string
  readonly port: number
  #child: ChildProcess | undefined
  readonly #dir: string

  private constructor (name: string, port: number, dir: string) {
    this.name = name
    this.port = port
    this.#dir = dir
  }

  /** Starts a redis-server named `name` (for reports) and waits until it answers PING. */
  static async start (name: string): Promise<RedisServer> {
    const server = new RedisServer(name, await freePort(), await mkdtemp(join(tmpdir(), 'understudy-gameday-redis-')))
    await server.#spawn()
    return server
  }

  /** True while the process runs (a hung one included). */
  get alive (): boolean {
    const child = this.#child
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  /** SIGKILL: the process dies at once with everything it held. */
  async kill (): Promise<void> {
    const child = this.#child
    if (!child || !this.alive) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /** SIGSTOP: the process hangs; its connections stay open and nothing answers. */
  pause (): void {
    if (this.alive) this.#child!.kill('SIGSTOP')
  }

  /** SIGCONT: a hung process answers again (what it queued meanwhile included). */
  resume (): void {
    if (this.alive) this.#child!.kill('SIGCONT')
  }

  /** Starts the process again on the same port, empty; a no-op while it runs. */
  async restart (): Promise<void> {
    if (this.alive) return
    await this.#spawn()
  }

  /** Kills the process and removes its folder. */
  async close (): Promise<void> {
    await this.kill()
    await rm(this.#dir, { recursive: true, force: true })
  }

  async #spawn (): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, '--loglevel', 'warning']
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    track(child)
    let output = ''
    child.stderr!.on('data', (chunk) => { output = (output + String(chunk)).slice(-1_000) })
    const failed = new Promise<never>((_resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start redis-server (is it on PATH?): ${err.message}`)))
    })
    failed.catch(() => {})
    this.#child = child
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!(await Promise.race([answersPing(this.port), failed]))) {
      if (!this.alive) throw new Error(`redis-server ${this.name} exited at start: ${output.trim()}`)
      if (Date.now() > deadline) throw new Error(`redis-server ${this.name} did not answer PING within ${START_TIMEOUT_MS} ms`)
      await sleep(25)
    }
  }
}

async function answersPing (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(String(data).startsWith('+PONG')))
  })
}
