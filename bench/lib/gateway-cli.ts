import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { track } from '../../harness/children.js'
import { until } from '../../harness/poll.js'
import { nodeCommand, type FromChild, type ToChild } from './child.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** How `npm start` runs the gateway: package.json's `start` script, split into node's flags, the entry and its arguments. */
export interface StartCommand { nodeOptions: string[], entry: string, args: string[] }

/** package.json's `start` script (`node FLAGS dist/src/cli/main.js start`): what users run, and so what the bench runs. */
export function npmStartCommand (): StartCommand {
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? ''
  const words = script.split(' ').filter(Boolean)
  const entryAt = words.findIndex((w) => w.endsWith('.js'))
  if (words[0] !== 'node' || entryAt < 0) throw new Error(`package.json's start script is not "node [flags] <entry>.js …": ${script}`)
  return { nodeOptions: words.slice(1, entryAt), entry: words[entryAt]!, args: words.slice(entryAt + 1) }
}

export interface GatewayCliOptions {
  /** Names its config file and log in the bench's work directory. */
  name: string
  workDir: string
  config: object
  /** Node flags instead of npm start's (an experiment), plus any the run adds (the soak's --expose-gc). */
  nodeOptions: string[]
  /** Pin the process (every thread) to these CPUs. */
  cpus?: string
  /** A program the gateway runs under (valgrind and its flags). */
  wrapper?: string[]
  /** Modules preloaded with --import, answering the bench over an IPC channel (the soak's GC probe). */
  probe?: string
  /** How long the start may take (valgrind is slow). */
  startTimeoutMs?: number
}

/**
 * The gateway as users run it: `node FLAGS dist/src/cli/main.js start
 * --config FILE`, its own process, its JSON log lines in a file. Ready when
 * the log has the `listening` line, which names both URLs.
 */
export class GatewayCli {
  readonly name: string
  readonly logFile: string
  readonly configFile: string
  /** The command line, for the report. */
  readonly command: string
  readonly url: string
  readonly adminUrl: string
  readonly #child: ChildProcess
  readonly #exited: Promise<unknown>
  readonly #pending = new Map<number, (answer: FromChild) => void>()
  #next = 1

  private constructor (init: { name: string, logFile: string, configFile: string, command: string, url: string, adminUrl: string, child: ChildProcess, exited: Promise<unknown> }) {
    this.name = init.name
    this.logFile = init.logFile
    this.configFile = init.configFile
    this.command = init.command
    this.url = init.url
    this.adminUrl = init.adminUrl
    this.#child = init.child
    this.#exited = init.exited
    this.#child.on('message', (answer: FromChild) => this.#pending.get(answer.id)?.(answer))
  }

  static async start (options: GatewayCliOptions): Promise<GatewayCli> {
    const configFile = join(options.workDir, `${options.name}.json`)
    const logFile = join(options.workDir, `${options.name}.log`)
    await writeFile(configFile, JSON.stringify(options.config, null, 2))
    const start = npmStartCommand()
    const node = [...options.nodeOptions, ...(options.probe ? ['--import', options.probe] : []), start.entry, ...start.args, '--config', configFile]
    const command = nodeCommand(node, options)
    const out = openSync(logFile, 'w')
    const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['ignore', out, out, ...(options.probe ? ['ipc' as const] : [])] })
    closeSync(out)
    track(child)
    const exited = new Promise((resolve) => child.once('exit', resolve))
    let gone = false
    void exited.then(() => { gone = true })
    let listening: { url: string, adminUrl: string } | undefined
    await until(async () => {
      if (gone) throw new Error(`${options.name} exited: ${(await readFile(logFile, 'utf8')).slice(-2000)}`)
      listening = listeningLine(await readFile(logFile, 'utf8'))
      return listening
    }, options.startTimeoutMs ?? 30_000, `${options.name} writes its listening line`, { intervalMs: 100 }).catch(async (err: unknown) => {
      child.kill('SIGKILL')
      throw err
    })
    return new GatewayCli({ name: options.name, logFile, configFile, command: ['node', ...node].join(' ').replaceAll(`${ROOT}`, ''), ...listening!, child, exited })
  }

  get pid (): number { return this.#child.pid! }

  /** Asks the preloaded probe (see `probe`) for `type`'s answer. */
  async call<T> (type: string): Promise<T> {
    const id = this.#next++
    const answer = await new Promise<FromChild>((resolve) => {
      this.#pending.set(id, resolve)
      this.#child.send({ id, type } satisfies ToChild)
    })
    this.#pending.delete(id)
    if (!answer.ok) throw new Error(`${this.name}: ${answer.error}`)
    return answer.result as T
  }

  /** SIGTERM, as an orchestrator stops it (drain, close, exit); SIGKILL after `graceMs`. */
  async stop (graceMs = 15_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.kill('SIGTERM')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs)
    await this.#exited
    clearTimeout(timer)
  }
}

/** The URLs of the `listening` line (DESIGN §2), once the log has it. */
function listeningLine (log: string): { url: string, adminUrl: string } | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"listening"')) continue
    const entry = JSON.parse(line) as { msg?: string, url?: string, adminUrl?: string }
    if (entry.msg === 'listening' && entry.url !== undefined && entry.adminUrl !== undefined) return { url: entry.url, adminUrl: entry.adminUrl }
  }
  return undefined
}
