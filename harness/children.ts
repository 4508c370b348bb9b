import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/**
 * Every child process a game day starts (gateways, redis-servers). They are
 * SIGKILLed when this process exits for any reason it can see: a normal exit,
 * an uncaught error, or a signal; a hung (SIGSTOPped) Redis dies with SIGKILL too.
 */
const running = new Set<ChildProcess>()
let installed = false

/** Tracks `child` until it exits, and makes sure it cannot outlive this process. */
export function track (child: ChildProcess): void {
  installHandlers()
  running.add(child)
  child.once('exit', () => running.delete(child))
}

/** SIGKILLs every tracked child now (synchronous: safe in an `exit` handler). */
export function killAll (): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
}

/** True while `child` runs: started, neither exited nor killed by a signal. */
export function isAlive (child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null
}

/** SIGKILLs `child` if it runs, and resolves once it has exited. */
export async function killNow (child: ChildProcess | undefined): Promise<void> {
  if (!isAlive(child)) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

function installHandlers (): void {
  if (installed) return
  installed = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Only when nobody else handles the signal: the CLI installs its own, which cleans up and exits.
    process.once(signal, () => {
      if (process.listenerCount(signal) > 0) return
      killAll()
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1))
    })
  }
}
