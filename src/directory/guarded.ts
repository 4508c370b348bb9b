import { isUnderstudyError, UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { firstFailureOpens, Guard, type GuardFailure } from '../resilience/guard.js'
import type { Directory, Identity, LinkedIdentity, LinkResult, Passkey, Person } from './directory.js'

export interface GuardedDirectoryOptions {
  /** Names the database in logs and errors (never with its password). */
  database: string
  /** `directory.timeout` in ms: no call waits longer for an answer. */
  timeoutMs: number
  /** How long the breaker stays open before the probe's next trial (ms). */
  resetTimeoutMs?: number
  /** How often the background probe tries while the breaker is not closed (ms). */
  probeIntervalMs?: number
  metrics: Metrics
  log: Logger
}

type Call = (directory: Directory) => Promise<unknown>

/**
 * A directory behind its own circuit breaker, fail-closed: while the
 * database is down every call throws US_ERR_DIRECTORY_UNAVAILABLE at once
 * instead of each waiting `directory.timeout`, and only the logins that need
 * the directory fail. One failure opens it (a login waiting on a dead
 * database is reason enough to stop waiting); a background probe is the
 * half-open trial, so no login is the one that finds out whether it is back.
 * A directory that could not be migrated at start is migrated by that probe
 * before any call goes through.
 */
export class GuardedDirectory implements Directory {
  readonly #inner: Directory
  readonly #guard: Guard<[Call], unknown>
  readonly #options: GuardedDirectoryOptions
  #migrated = false
  #migrationReported = false
  #lastError: unknown
  #probe: NodeJS.Timeout | undefined

  constructor (inner: Directory, options: GuardedDirectoryOptions) {
    const { database, timeoutMs, metrics, log } = options
    this.#inner = inner
    this.#options = options
    this.#guard = new Guard({
      name: 'directory',
      policy: firstFailureOpens(timeoutMs, options.resetTimeoutMs ?? 1_000),
      action: async (_signal, call: Call) => {
        try {
          return await call(inner)
        } catch (err) {
          this.#lastError = err
          throw err
        }
      },
      whenUnavailable: { mode: 'fail-closed', error: (failure) => this.#unavailable(failure) },
      isFailure: countsAgainst,
      onFailure: () => metrics.directoryErrors.inc(),
      onTransition: ({ from, to }) => {
        if (from === 'closed') {
          log.warn({ err: this.#lastError, directory: database }, 'directory unreachable: backup logins that need it fail until it answers again')
          this.#startProbe()
        }
        if (to === 'closed') {
          this.#stopProbe()
          log.info({ directory: database }, 'directory answers again')
        }
      },
    })
  }

  /** True while the breaker is closed: calls go through. */
  get available (): boolean {
    return this.#guard.state === 'closed'
  }

  /** Applies the migrations directly, not through the breaker: a start-up step bounded by each statement's timeout. */
  async migrate (): Promise<void> {
    try {
      await this.#inner.migrate()
      this.#migrated = true
    } catch (err) {
      this.#lastError = err
      if (countsAgainst(err)) this.#options.metrics.directoryErrors.inc()
      throw err
    }
  }

  /** Takes the directory as down from now (unreachable at start): calls fail fast until the probe finds it answering. */
  markDown (): void {
    this.#guard.open()
  }

  async ensurePerson (person: Person): Promise<Person> { return this.#call((d) => d.ensurePerson(person)) }
  async identity (sub: string): Promise<Identity | undefined> { return this.#call((d) => d.identity(sub)) }
  async hasBackupMethod (sub: string): Promise<boolean> { return this.#call((d) => d.hasBackupMethod(sub)) }
  async linkedPerson (provider: string, upstreamSub: string): Promise<Person | undefined> { return this.#call((d) => d.linkedPerson(provider, upstreamSub)) }
  async link (identity: LinkedIdentity): Promise<LinkResult> { return this.#call((d) => d.link(identity)) }
  async unlink (sub: string, provider: string): Promise<boolean> { return this.#call((d) => d.unlink(sub, provider)) }
  async addPasskey (passkey: Passkey): Promise<boolean> { return this.#call((d) => d.addPasskey(passkey)) }
  async passkey (id: string): Promise<{ passkey: Passkey, person: Person } | undefined> { return this.#call((d) => d.passkey(id)) }
  async recordPasskeyUse (id: string, counter: number, at: number): Promise<boolean> { return this.#call((d) => d.recordPasskeyUse(id, counter, at)) }
  async renamePasskey (sub: string, id: string, name: string): Promise<boolean> { return this.#call((d) => d.renamePasskey(sub, id, name)) }
  async removePasskey (sub: string, id: string): Promise<boolean> { return this.#call((d) => d.removePasskey(sub, id)) }
  async declineOffer (sub: string, until: number): Promise<void> { await this.#call((d) => d.declineOffer(sub, until)) }

  /** False at once while the breaker is not closed; a ping that fails opens it. */
  async ping (): Promise<boolean> {
    if (!this.available) return false
    return this.#call(async (d) => {
      if (!await d.ping()) throw new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${this.#options.database} does not answer a ping`)
      return true
    }).catch(() => false)
  }

  /** Stops the probe and the breaker, then closes the connections. */
  async close (): Promise<void> {
    this.#stopProbe()
    this.#guard.shutdown()
    await this.#inner.close()
  }

  async #call<T> (call: (directory: Directory) => Promise<T>): Promise<T> {
    if (!this.available) throw this.#unavailable({ kind: 'open', cause: this.#lastError })
    return await this.#guard.run(call) as T
  }

  #startProbe (): void {
    if (this.#probe) return
    this.#probe = setInterval(() => {
      // Refused at once while open; while half-open this is the single trial that may close the breaker.
      this.#guard.run(async (d) => {
        if (this.#migrated) return d.ping().then((ok) => { if (!ok) throw new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', 'ping failed') })
        await d.migrate()
        this.#migrated = true
      }).catch((err: unknown) => {
        // Back, but migrated by a newer understudy: it stays down, and an operator has to hear why, once.
        if (!isUnderstudyError(err, 'US_ERR_DIRECTORY_MIGRATION') || this.#migrationReported) return
        this.#migrationReported = true
        this.#options.log.error({ err, directory: this.#options.database }, 'the directory answers again but cannot be migrated: backup logins stay off')
      })
    }, this.#options.probeIntervalMs ?? 500)
    this.#probe.unref()
  }

  #stopProbe (): void {
    clearInterval(this.#probe)
    this.#probe = undefined
  }

  /** The backend's own error when it failed; otherwise why the breaker gave no answer. */
  #unavailable ({ kind, cause }: GuardFailure): UnderstudyError {
    if (kind === 'failed' && cause instanceof UnderstudyError) return cause
    const { database, timeoutMs } = this.#options
    const why = kind === 'timeout' ? `did not answer within ${timeoutMs} ms` : 'is down: refused at once until it answers again'
    return new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${database} ${why}`, { cause, details: { database, refused: kind === 'open' || kind === 'capacity' } })
  }
}

/** The directory's own failures count against it; a caller's mistake (a person never recorded) is an answer, not an outage. */
function countsAgainst (err: unknown): boolean {
  return isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE') || isUnderstudyError(err, 'US_ERR_DIRECTORY_MIGRATION')
}
