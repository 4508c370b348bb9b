import pg from 'pg'
import type { DirectoryConfig } from '../config/schema.js'
import type { Logger } from '../log.js'
import { bounded, directoryError, type Sql, type SqlDatabase } from './sql.js'
import { SqlDirectory } from './sql-directory.js'

/** Connections one gateway keeps to each database at most: logins hold one for a few milliseconds. */
const POOL_SIZE = 10

/** A database URL as it may appear in errors and logs: host, port and database, never the user or password. */
export function databaseName (url: string): string {
  try {
    const parsed = new URL(url)
    return `postgres://${parsed.host}${parsed.pathname}`
  } catch {
    return '(invalid url)'
  }
}

/**
 * One `pg` pool whose every wait is bounded by `timeoutMs`: connecting (or
 * waiting for a free connection), each query on the client side, and each
 * statement on the server side (`statement_timeout`, which also ends the
 * work the client gave up on).
 */
function pool (url: string, timeoutMs: number, log: Logger): pg.Pool {
  const p = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'understudy',
  })
  // An idle connection that breaks (a restart, a failover) is dropped by the pool; unheard, the error would end the process.
  p.on('error', (err) => log.warn({ err, directory: databaseName(url) }, 'an idle directory connection failed'))
  return p
}

/** A PostgreSQL-wire database through `pg`: the primary at `url`, reads that may lag sent to `readUrl` when given. */
export class PostgresDatabase implements SqlDatabase {
  readonly replica: Sql
  readonly #primary: pg.Pool
  readonly #reads: pg.Pool | undefined
  readonly #timeoutMs: number
  readonly #name: string

  constructor (options: { url: string, readUrl?: string | undefined, timeoutMs: number, log: Logger }) {
    const { url, readUrl, timeoutMs, log } = options
    this.#timeoutMs = timeoutMs
    this.#name = databaseName(url)
    this.#primary = pool(url, timeoutMs, log)
    this.#reads = readUrl === undefined ? undefined : pool(readUrl, timeoutMs, log)
    this.replica = this.#reads === undefined ? this : { query: async (text, params) => this.#query(this.#reads!, databaseName(readUrl!), text, params) }
  }

  async query<R extends object> (text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#query(this.#primary, this.#name, text, params)
  }

  async transaction<T> (work: (tx: Sql) => Promise<T>): Promise<T> {
    // Not raced here: a connection that arrived after the race was lost would never be released. The pool's own timeout bounds it.
    const client = await this.#primary.connect().catch((err: unknown) => { throw directoryError(err, this.#name) })
    const tx: Sql = { query: async <R extends object>(text: string, params?: readonly unknown[]) => (await bounded(client.query(text, params as unknown[]), this.#timeoutMs, this.#name)).rows as R[] }
    let failure: unknown
    try {
      await tx.query('BEGIN')
      const result = await work(tx)
      await tx.query('COMMIT')
      return result
    } catch (err) {
      failure = err
      throw err
    } finally {
      // A failed transaction's connection may still be running a statement: closing it rolls back on the server.
      client.release(failure === undefined ? undefined : true)
    }
  }

  async close (): Promise<void> {
    await Promise.all([this.#primary.end(), this.#reads?.end()]).catch((err: unknown) => { throw directoryError(err, this.#name) })
  }

  async #query<R extends object> (p: pg.Pool, name: string, text: string, params?: readonly unknown[]): Promise<R[]> {
    const result = await bounded(p.query(text, params as unknown[]), this.#timeoutMs, name)
    return result.rows as R[]
  }
}

/** The directory on PostgreSQL (or any Postgres-wire engine) named by `directory.url`. */
export function openPostgres (config: DirectoryConfig, log: Logger): SqlDirectory {
  if (config.url === undefined) throw new TypeError('directory.kind postgres needs directory.url')
  return new SqlDirectory(new PostgresDatabase({ url: config.url, readUrl: config.readUrl, timeoutMs: config.timeout * 1000, log }))
}
