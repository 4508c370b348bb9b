import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Messages between the bench and its server processes (bench/servers/*.ts). */
export type ToChild = { id: number, type: string, payload?: unknown }
export type FromChild = { id: number, ok: true, result: unknown } | { id: number, ok: false, error: string }

export interface ChildOptions {
  /** Write a V8 CPU profile (.cpuprofile) into this directory when the child exits. */
  cpuProfDir?: string
  /** Where the child's stdout and stderr go. */
  logFile: string
  /** Extra node flags for this child. */
  nodeOptions?: string[]
  /** Pin the child (every thread it starts) to these CPUs, with taskset. */
  cpus?: string
  /** A program the child runs under (valgrind and its flags). */
  wrapper?: string[]
}

/**
 * A server in its own process, so the load driver never shares its event
 * loop. Talks over IPC: `call(type, payload)` answers what the child's
 * handler for `type` returns.
 */
export class ServerProcess {
  readonly name: string
  readonly #child: ChildProcess
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void }>()
  readonly #exited: Promise<number | null>
  #next = 1

  private constructor (name: string, child: ChildProcess) {
    this.name = name
    this.#child = child
    child.on('message', (message: FromChild) => {
      const waiter = this.#pending.get(message.id)
      if (waiter === undefined) return
      this.#pending.delete(message.id)
      if (message.ok) waiter.resolve(message.result)
      else waiter.reject(new Error(`${name}: ${message.error}`))
    })
    this.#exited = new Promise((resolve) => child.once('exit', (code) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`${name} exited (${String(code)})`))
      this.#pending.clear()
      resolve(code)
    }))
  }

  /** Starts `dist/bench/servers/<script>.js` (see `compileServers`) with plain node. */
  static start (script: string, options: ChildOptions): ServerProcess {
    const file = join(DIST, 'bench', 'servers', `${script}.js`)
    const out = openSync(options.logFile, 'a')
    const args = [...(options.nodeOptions ?? []), ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []), file]
    const command = nodeCommand(args, options)
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', out, out, 'ipc'] })
    closeSync(out)
    return new ServerProcess(script, child)
  }

  get pid (): number { return this.#child.pid! }

  async call<T> (type: string, payload?: unknown): Promise<T> {
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.#child.send({ id, type, payload } satisfies ToChild)
    })
  }

  /** Asks the child to close its servers and exit (so a CPU profile is written); kills it after `graceMs`. */
  async stop (graceMs = 10_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.call('stop').catch(() => {})
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs)
    await this.#exited
    clearTimeout(timer)
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DIST = join(ROOT, 'dist')

/** `node args…` as a command line: pinned with taskset to `cpus`, under `wrapper` (valgrind), when given. */
export function nodeCommand (args: string[], options: { cpus?: string | undefined, wrapper?: string[] | undefined }): string[] {
  return [...(options.cpus === undefined ? [] : ['taskset', '-c', options.cpus]), ...(options.wrapper ?? []), process.execPath, ...args]
}

/**
 * Compiles the bench's servers (and what they import) into dist/, to run with
 * plain node; the gateway itself is `npm run build`'s (lib/build.ts). Under
 * tsx each server would carry the loader's own thread and isolate, about
 * 50 MB of RSS the product never has.
 */
export function compileServers (): void {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'bench', 'tsconfig.json')], { encoding: 'utf8' })
  if (result.status !== 0) {
    // Type errors still emit JavaScript; someone else's half-finished edit should not stop a bench run.
    process.stderr.write(`bench: tsc reported problems (the servers were still emitted):\n${result.stdout.split('\n').slice(0, 10).join('\n')}\n`)
  }
}

/** The resident set size of a process, in MB, from /proc (Linux). */
export async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (kb === null) throw new Error(`no VmRSS for ${pid}`)
  return Number(kb[1]) / 1024
}

/**
 * Pins this process (all its threads; threads started later inherit it) to
 * `cpus`. Loopback request/response pairs otherwise get pulled onto one CPU by
 * the scheduler's wake-affinity now and then, and a slice measures the two
 * sharing a core: on the 2-core machine slices of one scenario varied by 50 %.
 */
export function pinSelf (cpus: string): void {
  execFileSync('taskset', ['-a', '-cp', cpus, String(process.pid)], { stdio: 'ignore' })
}

/** Whether pinning is possible: taskset present and at least two CPUs. */
export function canPin (): boolean {
  if (cpus().length < 2) return false
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0
}

/** CPU time (user + system, every thread) a process has used so far, in ms, from /proc (Linux; 100 ticks a second). */
export async function cpuMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Samples a process's RSS every `everyMs` until stopped: `[seconds since start, MB]` pairs. */
export class RssSampler {
  readonly samples: Array<[number, number]> = []
  /** Requests served by the time of each sample (parallel to `samples`). */
  readonly requestsAt: number[] = []
  readonly #timer: NodeJS.Timeout
  readonly #started = Date.now()

  constructor (pid: number, everyMs: number, requests: () => number = () => 0) {
    this.#timer = setInterval(() => {
      rssMb(pid).then((mb) => {
        this.samples.push([(Date.now() - this.#started) / 1000, mb])
        this.requestsAt.push(requests())
      }, () => {})
    }, everyMs)
  }

  get peak (): number { return this.samples.reduce((max, [, mb]) => Math.max(max, mb), 0) }

  stop (): void { clearInterval(this.#timer) }
}

/** The child side of ServerProcess: answers `call`s with `handlers`, and exits on `stop` after `close`. */
export function serve (handlers: Record<string, (payload: unknown) => Promise<unknown>>, close: () => Promise<void>): void {
  process.on('message', (message: ToChild) => {
    const reply = (answer: FromChild) => process.send?.(answer)
    if (message.type === 'stop') {
      close().finally(() => process.exit(0))
      return
    }
    const handler = handlers[message.type]
    if (handler === undefined) {
      reply({ id: message.id, ok: false, error: `no handler for ${message.type}` })
      return
    }
    handler(message.payload).then(
      (result) => reply({ id: message.id, ok: true, result: result ?? null }),
      (err: unknown) => reply({ id: message.id, ok: false, error: (err as Error).stack ?? String(err) }),
    )
  })
  // The bench going away (a crash, Ctrl-C) must not leave servers behind.
  process.on('disconnect', () => { close().finally(() => process.exit(0)) })
}

/**
 * The Node/V8 flags the gateway ships with: the image's `ENV NODE_OPTIONS`
 * (k8s and `npm start` pass the same, test/k8s/dockerfile.test.ts). The bench
 * runs the gateway as it is deployed.
 */
export function shippedNodeOptions (): string[] {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const match = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(dockerfile)
  if (!match) throw new Error('the Dockerfile sets no ENV NODE_OPTIONS="…"')
  return match[1]!.split(' ').filter(Boolean)
}
