import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { DirectoryConfig } from '../config/schema.js'
import { bounded, directoryError, type Sql, type SqlDatabase } from './sql.js'
import { SqlDirectory } from './sql-directory.js'

/** Where PGlite keeps its files under `directory.path`, leaving the folder itself for what may join it. */
export function embeddedDataDir (path: string): string {
  return join(path, 'pglite')
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly) in this process, on files
 * under `directory.path`. One process only: PGlite is a single-user
 * PostgreSQL without a server, so a second gateway (or a backup tool) must
 * never open the same files while this one runs; more than one instance
 * needs `directory.kind: postgres`. Its statements run one at a time, so the
 * timeout mostly bounds the wait behind another statement.
 */
export class EmbeddedDatabase implements SqlDatabase {
  readonly replica: Sql = this
  readonly #db: PGlite
  readonly #timeoutMs: number
  readonly #name: string

  private constructor (db: PGlite, timeoutMs: number, name: string) {
    this.#db = db
    this.#timeoutMs = timeoutMs
    this.#name = name
  }

  /** Opens (creating when missing) the database in `dataDir`; the first start initialises it, which takes seconds. */
  static async open (dataDir: string, timeoutMs: number): Promise<EmbeddedDatabase> {
    const name = `embedded:${dataDir}`
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      return new EmbeddedDatabase(await PGlite.create(dataDir), timeoutMs, name)
    } catch (err) {
      throw directoryError(err, name)
    }
  }

  async query<R extends object> (text: string, params?: readonly unknown[]): Promise<R[]> {
    return (await bounded(this.#db.query<R>(text, params as unknown[]), this.#timeoutMs, this.#name)).rows
  }

  async transaction<T> (work: (tx: Sql) => Promise<T>): Promise<T> {
    let failed: { err: unknown } | undefined
    try {
      return await this.#db.transaction(async (tx) => {
        try {
          return await work({ query: async <R extends object>(text: string, params?: readonly unknown[]) => (await bounded(tx.query<R>(text, params as unknown[]), this.#timeoutMs, this.#name)).rows })
        } catch (err) {
          failed = { err }
          throw err
        }
      })
    } catch (err) {
      // The work's own errors pass unchanged; PGlite's (BEGIN, COMMIT, a closed database) become the directory's.
      throw failed?.err === err ? err : directoryError(err, this.#name)
    }
  }

  async close (): Promise<void> {
    if (this.#db.closed) return
    await this.#db.close().catch((err: unknown) => { throw directoryError(err, this.#name) })
  }
}

/** The embedded directory named by `directory.path` (made absolute by the config). */
export async function openEmbedded (config: DirectoryConfig): Promise<SqlDirectory> {
  return new SqlDirectory(await EmbeddedDatabase.open(embeddedDataDir(config.path), config.timeout * 1000))
}
