import { passkeyUnavailable } from './measure.js'
import { pct } from './report.js'
import { http5xx, successRate, within, type Recorder } from './records.js'

/** Where progress goes: stderr, or anything writable (a TTY redraws one line). */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean, columns?: number }

const TTY_EVERY_MS = 500
const PLAIN_EVERY_MS = 5_000

/**
 * Live progress on stderr: one redrawn status line on a TTY, plain lines
 * (at each phase and every five seconds) otherwise, so CI logs stay readable.
 */
export class Progress {
  readonly #out: ProgressStream
  readonly #tty: boolean
  readonly #rec: Recorder
  #phase = 'starting'
  #since = Date.now()
  #timer: NodeJS.Timeout | undefined
  #drawn = false

  constructor (out: ProgressStream, rec: Recorder) {
    this.#out = out
    this.#tty = out.isTTY === true
    this.#rec = rec
    this.#timer = setInterval(() => this.#draw(), this.#tty ? TTY_EVERY_MS : PLAIN_EVERY_MS)
    this.#timer.unref()
  }

  /** A new phase: printed as its own line, and shown in the status line from now on. */
  phase (text: string, options: { resetCounts?: boolean } = {}): void {
    this.#phase = text
    if (options.resetCounts) this.#since = Date.now()
    if (this.#timer === undefined) return
    this.#clear()
    this.#out.write(`${new Date().toISOString().slice(11, 23)}  ${text}\n`)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#clear()
  }

  #status (): string {
    const now = Date.now()
    const ops = within(this.#rec.ops, this.#since, now)
    const returning = ops.filter((o) => o.kind === 'sso' || o.kind === 'refresh')
    const newUsers = ops.filter((o) => o.kind === 'new')
    const passkeys = ops.filter((o) => o.kind === 'passkey')
    const samples = within(this.#rec.samples, this.#since, now)
    const lost = returning.filter((o) => o.outcome === 'session_lost').length
    // The report decides whether a passkey login's 503 came while the directory was down; the live line leaves them out.
    const cohort = passkeys.length > 0 ? ` | passkey logins ${passkeys.filter((o) => o.outcome === 'ok').length}/${passkeys.length}` : ''
    return `${this.#phase} | ${samples.length} requests, ${ops.length} logins | returning ${pct(successRate(returning))} | new ${pct(successRate(newUsers))}${cohort} | 5xx ${http5xx(samples.filter((s) => !passkeyUnavailable(s)))} | lost ${lost}`
  }

  #draw (): void {
    if (this.#tty) {
      this.#out.write(`\r\x1b[2K${this.#status().slice(0, (this.#out.columns || 120) - 1)}`)
      this.#drawn = true
    } else {
      this.#out.write(`${new Date().toISOString().slice(11, 23)}  ${this.#status()}\n`)
    }
  }

  #clear (): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K')
    this.#drawn = false
  }
}
