import { isUnderstudyError, UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { firstFailureOpens, Guard, type GuardFailure } from '../resilience/guard.js'

/** Most directory calls in flight per instance and role (primary, replica reads). */
export const DIRECTORY_CAPACITY = 32
import type { Directory, Identity, LinkedIdentity, LinkResult, Passkey, Person } from './directory.js'
import type { SqlDirectory } from './sql-directory.js'

export interface GuardedDirectoryOptions {
  /** Names the primary database in logs and errors (never with its password). */
  database: string
  /** Names the replica that `linkedPerson` and `passkey` read; the primary's name when there is none. */
  replica?: string
  /** `directory.timeout` in ms: no call waits longer for an answer. */
  timeoutMs: number
  /** How long a breaker stays open before its probe's next trial (ms). */
  resetTimeoutMs?: number
  /** How often the background probe tries while a breaker is not closed (ms). */
  probeIntervalMs?: number
  metrics: Metrics
  log: Logger
}

type Role = 'primary' | 'replica'
type Call = (directory: SqlDirectory) => Promise<unknown>

/**
 * A directory behind two circuit breakers, fail-closed: while the database
 * is down every call throws US_ERR_DIRECTORY_UNAVAILABLE at once instead of
 * each waiting `directory.timeout`, and only the logins that need the
 * directory fail. The two reads a backup login makes (`linkedPerson`,
 * `passkey`) have a breaker of their own, in front of the replica when
 * `readUrl` names one: a region whose primary is gone keeps logging people in
 * from its replica. One failure opens a breaker (a login waiting on a dead
 * database is reason enough to stop waiting); a background probe is the
 * half-open trial, so no login is the one that finds out whether it is back.
 * A directory that could not be migrated at start is migrated by the
 * primary's probe before any call goes through.
 */
export class GuardedDirectory implements Directory {
  readonly #inner: SqlDirectory
  readonly #primary: Breaker
  readonly #replica: Breaker
  #migrated = false
  #migrationReported = false

  constructor (inner: SqlDirectory, options: GuardedDirectoryOptions) {
    this.#inner = inner
    this.#primary = new Breaker('primary', inner, options.database, options, async (d) => {
      if (this.#migrated) return ping(d.ping(), options.database)
      await d.migrate()
      this.#migrated = true
    }, (err) => this.#reportMigration(err, options))
    this.#replica = new Breaker('replica', inner, options.replica ?? options.database, options, async (d) => ping(d.pingReplica(), options.replica ?? options.database))
  }

  /** True while the primary's breaker is closed: calls other than the login reads go through. */
  get available (): boolean {
    return this.#primary.available
  }

  /** Applies the migrations directly, not through a breaker: a start-up step bounded by each statement's timeout. */
  async migrate (): Promise<void> {
    try {
      await this.#inner.migrate()
      this.#migrated = true
    } catch (err) {
      this.#primary.failed(err)
      throw err
    }
  }

  /** Takes the primary as down from now (unreachable at start): its calls fail fast until the probe finds it answering. */
  markDown (): void {
    this.#primary.open()
  }

  async ensurePerson (person: Person): Promise<Person> { return this.#primary.call((d) => d.ensurePerson(person)) }
  async identity (sub: string): Promise<Identity | undefined> { return this.#primary.call((d) => d.identity(sub)) }
  async hasBackupMethod (sub: string): Promise<boolean> { return this.#primary.call((d) => d.hasBackupMethod(sub)) }
  async linkedPerson (provider: string, upstreamSub: string): Promise<{ link: LinkedIdentity, person: Person } | undefined> { return this.#replica.call((d) => d.linkedPerson(provider, upstreamSub)) }
  async link (identity: LinkedIdentity): Promise<LinkResult> { return this.#primary.call((d) => d.link(identity)) }
  async unlink (sub: string, provider: string): Promise<boolean> { return this.#primary.call((d) => d.unlink(sub, provider)) }
  async addPasskey (passkey: Passkey): Promise<boolean> { return this.#primary.call((d) => d.addPasskey(passkey)) }
  async passkey (id: string): Promise<{ passkey: Passkey, person: Person } | undefined> { return this.#replica.call((d) => d.passkey(id)) }
  async recordPasskeyUse (id: string, counter: number, at: number): Promise<boolean> { return this.#primary.call((d) => d.recordPasskeyUse(id, counter, at)) }
  async renamePasskey (sub: string, id: string, name: string): Promise<boolean> { return this.#primary.call((d) => d.renamePasskey(sub, id, name)) }
  async removePasskey (sub: string, id: string): Promise<boolean> { return this.#primary.call((d) => d.removePasskey(sub, id)) }
  async declineOffer (sub: string, until: number): Promise<void> { await this.#primary.call((d) => d.declineOffer(sub, until)) }

  /** Whether the primary answers now: false at once while its breaker is not closed; a ping that fails opens it. */
  async ping (): Promise<boolean> {
    if (!this.#primary.available) return false
    return this.#primary.call(async (d) => ping(d.ping(), 'the primary')).then(() => true, () => false)
  }

  /** Stops the probes and the breakers, then closes the connections. */
  async close (): Promise<void> {
    this.#primary.shutdown()
    this.#replica.shutdown()
    await this.#inner.close()
  }

  /** Back, but migrated by a newer understudy: the primary stays down, and an operator has to hear why, once. */
  #reportMigration (err: unknown, options: GuardedDirectoryOptions): void {
    if (!isUnderstudyError(err, 'US_ERR_DIRECTORY_MIGRATION') || this.#migrationReported) return
    this.#migrationReported = true
    options.log.error({ err, directory: options.database }, 'the directory answers again but cannot be migrated: backup logins stay off')
  }
}

/** One breaker of the directory, its background probe, its logs and its share of understudy_directory_errors_total. */
class Breaker {
  readonly #role: Role
  readonly #database: string
  readonly #options: GuardedDirectoryOptions
  readonly #guard: Guard<[Call], unknown>
  readonly #trial: Call
  readonly #onProbeError: (err: unknown) => void
  #lastError: unknown
  #probe: NodeJS.Timeout | undefined

  constructor (role: Role, inner: SqlDirectory, database: string, options: GuardedDirectoryOptions, trial: Call, onProbeError: (err: unknown) => void = () => undefined) {
    const { timeoutMs, log } = options
    this.#role = role
    this.#database = database
    this.#options = options
    this.#trial = trial
    this.#onProbeError = onProbeError
    this.#guard = new Guard({
      name: `directory:${role}`,
      // Calls in flight are bounded: a flood beyond them is refused at once instead of queueing in front of every login that reads the directory.
      // The guard refuses them before opossum, so a burst of load is never counted as a failure and never opens the breaker as if the database had failed.
      policy: { ...firstFailureOpens(timeoutMs, options.resetTimeoutMs ?? 1_000), capacity: DIRECTORY_CAPACITY },
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
      onFailure: () => this.#count(),
      onTransition: ({ from, to }) => {
        const fields = { err: this.#lastError, directory: database, role }
        if (from === 'closed') {
          log.warn(fields, role === 'primary' ? 'directory unreachable: backup logins that need it fail until it answers again' : 'directory replica unreachable: passkey and linked logins fail until it answers again')
          this.#startProbe()
        }
        if (to === 'closed') {
          this.#stopProbe()
          log.info({ directory: database, role }, role === 'primary' ? 'directory answers again' : 'directory replica answers again')
        }
      },
    })
  }

  get available (): boolean {
    return this.#guard.state === 'closed'
  }

  async call<T> (call: (directory: SqlDirectory) => Promise<T>): Promise<T> {
    if (!this.available) throw this.#unavailable({ kind: 'open', cause: this.#lastError })
    return await this.#guard.run(call) as T
  }

  /** A failure seen outside the breaker (the migration at start): remembered for the log and counted. */
  failed (err: unknown): void {
    this.#lastError = err
    if (countsAgainst(err)) this.#count()
  }

  open (): void {
    this.#guard.open()
  }

  shutdown (): void {
    this.#stopProbe()
    this.#guard.shutdown()
  }

  #count (): void {
    this.#options.metrics.directoryErrors.inc({ database: this.#role })
  }

  #startProbe (): void {
    if (this.#probe) return
    this.#probe = setInterval(() => {
      // Refused at once while open; while half-open this is the single trial that may close the breaker.
      this.#guard.run(this.#trial).catch(this.#onProbeError)
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
    const why = kind === 'timeout'
      ? `did not answer within ${this.#options.timeoutMs} ms`
      : kind === 'capacity' ? `has ${DIRECTORY_CAPACITY} calls in flight: refused at once` : 'is down: refused at once until it answers again'
    return new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${this.#database} ${why}`, { cause, details: { database: this.#database, role: this.#role, refused: kind === 'open' || kind === 'capacity' } })
  }
}

/** Throws when a ping says no, so that the breaker counts it. */
async function ping (answer: Promise<boolean>, database: string): Promise<void> {
  if (!await answer) throw new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${database} does not answer a ping`)
}

/**
 * The directory's own failures count against it. Answers do not: a caller's
 * mistake (a person never recorded), or a serialization failure or deadlock
 * (SQLSTATE class 40), which fails that one call but says the database is busy
 * with the same rows, not down (engines that run every transaction
 * serializable, such as CockroachDB, return them under contention).
 */
function countsAgainst (err: unknown): boolean {
  if (isUnderstudyError(err, 'US_ERR_DIRECTORY_MIGRATION')) return true
  return isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE') && !String(err.details.sqlState ?? '').startsWith('40')
}
