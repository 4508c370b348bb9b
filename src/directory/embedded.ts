import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { DirectoryConfig } from '../config/schema.js'
import { UnderstudyError } from '../errors.js'
import type { WireError, WorkerOptions, WorkerReply, WorkerRequest } from './embedded-worker.js'
import { bounded, directoryError, type Sql, type SqlDatabase } from './sql.js'
import { SqlDirectory } from './sql-directory.js'

/** Where PGlite keeps its files under `directory.path`, leaving the folder itself for what may join it. */
export function embeddedDataDir (path: string): string {
  return join(path, 'pglite')
}

/** The worker's file next to this one: JavaScript in the sources too (tsc copies it into dist/), so it starts without a TypeScript loader. */
const WORKER_FILE = new URL('./embedded-worker.js', import.meta.url)

/** How long closing waits for PGlite to write its files and the worker to end before the worker is ended regardless (ms). */
const CLOSE_TIMEOUT_MS = 5_000

type Request = WorkerRequest extends infer R ? R extends unknown ? Omit<R, 'id'> : never : never

/**
 * One worker thread hosting PGlite, from its start to its exit: requests
 * out with ids, replies (or errors) back. Once it has exited, for whatever
 * reason, every pending and later request fails at once.
 */
class DatabaseWorker {
  readonly ready: Promise<void>
  readonly exited: Promise<void>
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (reply: WorkerReply) => void, reject: (err: unknown) => void }>()
  #nextId = 1
  #opened = false
  #crash: unknown
  #gone: UnderstudyError | undefined

  constructor (options: WorkerOptions, name: string) {
    // None of the parent's Node options: the worker is plain JavaScript and needs no loader, and options meant for
    // the gateway's own entry (--input-type, a test runner's --import) can stop a worker from starting at all.
    this.#worker = new Worker(WORKER_FILE, { workerData: options, execArgv: [] })
    let opened: () => void = () => undefined
    let failed: (err: unknown) => void = () => undefined
    let exited: () => void = () => undefined
    this.ready = new Promise<void>((resolve, reject) => { opened = resolve; failed = reject })
    this.ready.catch(() => undefined)
    this.exited = new Promise<void>((resolve) => { exited = resolve })
    this.#worker.on('message', (reply: WorkerReply) => {
      if ('op' in reply) {
        if (reply.op === 'ready') {
          this.#opened = true
          this.#idle()
          opened()
        } else {
          failed(fromWire(reply.error))
        }
        return
      }
      const waiting = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      this.#idle()
      if ('error' in reply) waiting?.reject(fromWire(reply.error))
      else waiting?.resolve(reply)
    })
    // An exception nobody caught in the worker (PGlite's WebAssembly aborting, say): its exit follows.
    this.#worker.on('error', (err) => { this.#crash = err })
    this.#worker.once('exit', (code) => {
      const why = this.#crash instanceof Error ? `: ${this.#crash.message}` : ''
      this.#gone = new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${name} stopped: its worker exited with code ${code}${why}`, {
        cause: this.#crash,
        details: { database: name },
      })
      failed(this.#gone)
      for (const { reject } of this.#pending.values()) reject(this.#gone)
      this.#pending.clear()
      exited()
    })
  }

  /** Why the worker answers nothing any more, once it has exited. */
  get failure (): UnderstudyError | undefined {
    return this.#gone
  }

  async request (request: Request): Promise<WorkerReply> {
    if (this.#gone !== undefined) throw this.#gone
    const id = this.#nextId++
    return new Promise<WorkerReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      // Referenced only while an answer is awaited: an idle directory never keeps the process alive by itself.
      this.#worker.ref()
      this.#worker.postMessage({ ...request, id })
    })
  }

  async rows<R> (request: Request): Promise<R[]> {
    const reply = await this.request(request)
    return 'rows' in reply ? reply.rows as R[] : []
  }

  /** Ends the thread at once, PGlite mid-work or not; resolves when it has exited. */
  async terminate (): Promise<void> {
    await this.#worker.terminate()
    await this.exited
  }

  #idle (): void {
    if (this.#opened && this.#pending.size === 0) this.#worker.unref()
  }
}

/** A database error rebuilt on this side: its message, and its SQLSTATE `code` and `severity` where sqlStateOf looks for them. */
function fromWire (error: WireError): Error {
  return Object.assign(new Error(error.message), error.fields, { name: error.name })
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly) on files under
 * `directory.path`, in a worker thread this object owns: PGlite runs every
 * statement (and the creation of a new database, which takes seconds)
 * synchronously, so on the gateway's own thread it would stop every login,
 * SSO flow and health probe while it works. Statements and transactions go
 * to the worker as messages, each bounded here by `directory.timeout`; a
 * worker that crashes or exits fails every pending call, and the next one,
 * at once (so the directory's breaker opens), and that next call starts a
 * new worker on the same files once the old one is gone. One process only: PGlite is a single-user PostgreSQL without a
 * server, so a second gateway (or a backup tool) must never open the same
 * files while this one runs; more than one instance needs `directory.kind:
 * postgres`. Its statements run one at a time, so the timeout mostly bounds
 * the wait behind another statement.
 */
export class EmbeddedDatabase implements SqlDatabase {
  readonly replica: Sql = this
  readonly #options: WorkerOptions
  readonly #timeoutMs: number
  readonly #name: string
  #worker: DatabaseWorker
  #restarting: Promise<void> | undefined
  #closed: Promise<void> | undefined

  private constructor (worker: DatabaseWorker, options: WorkerOptions, timeoutMs: number, name: string) {
    this.#worker = worker
    this.#options = options
    this.#timeoutMs = timeoutMs
    this.#name = name
  }

  /** Opens (creating when missing) the database in `dataDir` in a new worker; the first start initialises it, which takes seconds. */
  static async open (dataDir: string, timeoutMs: number): Promise<EmbeddedDatabase> {
    const name = `embedded:${dataDir}`
    // A transaction whose caller sends nothing for half a statement's timeout is rolled back in the worker,
    // so that a statement queued behind it still gets its answer within its own timeout.
    const options: WorkerOptions = { dataDir, idleMs: timeoutMs / 2 }
    const worker = new DatabaseWorker(options, name)
    try {
      await worker.ready
    } catch (err) {
      await worker.terminate()
      throw directoryError(err, name)
    }
    return new EmbeddedDatabase(worker, options, timeoutMs, name)
  }

  async query<R extends object> (text: string, params: readonly unknown[] = []): Promise<R[]> {
    let gaveUp = false
    // A statement whose caller gave up while a new worker was starting is never sent: nobody would learn whether it ran.
    const rows = this.#current().then((worker) => gaveUp ? [] : worker.rows<R>({ op: 'query', text, params }))
    try {
      return await this.#bounded(rows)
    } catch (err) {
      gaveUp = true
      throw err
    }
  }

  async transaction<T> (work: (tx: Sql) => Promise<T>): Promise<T> {
    const worker = await this.#bounded(this.#current())
    const begun = worker.request({ op: 'begin' })
    let tx: number
    try {
      tx = (await this.#bounded(begun) as { tx: number }).tx
    } catch (err) {
      // Begun after this caller stopped waiting: ended at once rather than by the worker's idle rollback.
      begun.then((reply) => 'tx' in reply ? worker.request({ op: 'rollback', tx: reply.tx }) : undefined).catch(() => undefined)
      throw err
    }
    let result: T
    try {
      result = await work({ query: async <R extends object>(text: string, params: readonly unknown[] = []) => this.#bounded(worker.rows<R>({ op: 'tx-query', tx, text, params })) })
    } catch (err) {
      // Not awaited: the worker rolls back after the statement it may still be running, and the caller's error is what matters.
      worker.request({ op: 'rollback', tx }).catch(() => undefined)
      throw err
    }
    await this.#bounded(worker.request({ op: 'commit', tx }))
    return result
  }

  /** Closes PGlite (its files written) and ends the worker; again, it resolves when the first close has. */
  async close (): Promise<void> {
    this.#closed ??= this.#shutdown()
    return this.#closed
  }

  /** Ends the worker as a crash would, PGlite left open (tests, drills): pending calls fail at once, and the next call starts a new worker. */
  async terminateWorker (): Promise<void> {
    await this.#worker.terminate()
  }

  /**
   * The running worker, once it is ready. The call that finds it gone fails
   * at once with why, and starts a new one as soon as the old one has exited,
   * so that PGlite's files are never open twice; the calls after it wait for
   * the new one (bounded by their timeout).
   */
  async #current (): Promise<DatabaseWorker> {
    if (this.#closed !== undefined) throw this.#closedError()
    const worker = this.#worker
    if (worker.failure !== undefined) {
      this.#restarting ??= worker.exited.then(() => {
        this.#restarting = undefined
        if (this.#closed === undefined) this.#worker = new DatabaseWorker(this.#options, this.#name)
      })
      throw worker.failure
    }
    await worker.ready
    return worker
  }

  async #shutdown (): Promise<void> {
    await this.#restarting
    const worker = this.#worker
    if (worker.failure !== undefined) return
    try {
      await bounded(worker.request({ op: 'close' }), CLOSE_TIMEOUT_MS, this.#name)
      await bounded(worker.exited, CLOSE_TIMEOUT_MS, this.#name)
    } catch (err) {
      await worker.terminate()
      throw err
    }
  }

  async #bounded<T> (work: Promise<T>): Promise<T> {
    return bounded(work, this.#timeoutMs, this.#name)
  }

  #closedError (): UnderstudyError {
    return new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${this.#name} is closed`, { details: { database: this.#name } })
  }
}

/** The embedded directory named by `directory.path` (made absolute by the config). */
export async function openEmbedded (config: DirectoryConfig): Promise<SqlDirectory> {
  return new SqlDirectory(await EmbeddedDatabase.open(embeddedDataDir(config.path), config.timeout * 1000))
}
