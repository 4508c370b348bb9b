import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { isAlive, killNow, track } from '../children.js'

const START_TIMEOUT_MS = 30_000

/**
 * How to run the CLI in a child process: the compiled entry point when this
 * module runs from dist, or the TypeScript source through harness/ts-loader.mjs
 * when it runs from source (tests).
 */
export function cliCommand (): string[] {
  const fromSource = import.meta.url.endsWith('.ts')
  const main = fileURLToPath(new URL(fromSource ? '../../src/cli/main.ts' : '../../src/cli/main.js', import.meta.url))
  return fromSource ? ['--import', import.meta.resolve('../ts-loader.mjs'), main] : [main]
}

/**
 * One gateway region as a child process (`understudy start --config FILE`),
 * so that it can be SIGKILLed like a crashed pod and started again on the
 * same ports. Its JSON log lines are appended to `logFile`.
 */
export class GatewayProcess {
  readonly name: string
  readonly configFile: string
  readonly #log: WriteStream
  #child: ChildProcess | undefined
  /** Incremented at every start: metrics counters restart from zero with a new process. */
  incarnation = 0

  constructor (name: string, configFile: string, logFile: string) {
    this.name = name
    this.configFile = configFile
    this.#log = createWriteStream(logFile, { flags: 'a' })
    // A log that cannot be written must not take the game day down.
    this.#log.on('error', () => {})
  }

  /** True while the process runs. */
  get alive (): boolean {
    return isAlive(this.#child)
  }

  /** Spawns the process and resolves with its listening URLs once it logs `listening`. */
  async start (): Promise<{ url: string, adminUrl: string }> {
    const child = spawn(process.execPath, [...cliCommand(), 'start', '--config', this.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UNDERSTUDY_LOG_LEVEL: 'info' },
    })
    track(child)
    this.#child = child
    this.incarnation++
    child.stderr!.on('data', (chunk) => this.#write(chunk))
    const lines = createInterface({ input: child.stdout! })
    return new Promise((resolve, reject) => {
      let settled = false
      const settle = (fn: () => void) => { if (!settled) { settled = true; clearTimeout(timer); fn() } }
      const timer = setTimeout(() => settle(() => reject(new Error(`gateway ${this.name} did not log "listening" within ${START_TIMEOUT_MS} ms`))), START_TIMEOUT_MS)
      child.once('exit', (code, signal) => settle(() => reject(new Error(`gateway ${this.name} exited at start (${signal ?? code}); see its log`))))
      child.once('error', (err) => settle(() => reject(err)))
      lines.on('line', (line) => {
        this.#write(line + '\n')
        if (settled || !line.includes('"msg":"listening"')) return
        const { url, adminUrl } = JSON.parse(line) as { url: string, adminUrl: string }
        settle(() => resolve({ url, adminUrl }))
      })
    })
  }

  /** SIGKILL: the process dies mid-request, as a crashed pod or a lost host does. */
  async kill (): Promise<void> {
    await killNow(this.#child)
  }

  /** SIGTERM and wait for a graceful exit (bounded), then SIGKILL; closes the log. */
  async close (): Promise<void> {
    const child = this.#child
    if (child && this.alive) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    await new Promise((resolve) => this.#log.end(resolve))
  }

  #write (chunk: string | Buffer): void {
    if (!this.#log.writableEnded) this.#log.write(chunk)
  }
}
