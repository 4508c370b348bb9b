import { isUnderstudyError, UnderstudyError } from '../errors.js'
import { refusedByDatabase, type SqlDatabase } from './sql.js'

/** One schema change: its statements run in order, in the transaction that records its version. */
export interface Migration {
  version: number
  name: string
  statements: readonly string[]
}

/**
 * The directory's schema, oldest first; a released migration is never
 * edited, only followed by a new one. Portable SQL for every Postgres-wire
 * engine the directory targets (PostgreSQL, PGlite, YugabyteDB, CockroachDB):
 * no extensions, no SERIAL or sequences, explicit primary keys, TEXT, BIGINT
 * (times in seconds since the epoch), BYTEA and BOOLEAN only.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'people, linked identities and passkeys',
    statements: [
      `CREATE TABLE people (
        sub TEXT NOT NULL PRIMARY KEY,
        provider TEXT NOT NULL,
        upstream_sub TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        offer_declined_until BIGINT
      )`,
      // A second identity leads to one person, and a person has at most one identity per provider.
      `CREATE TABLE linked_identities (
        provider TEXT NOT NULL,
        upstream_sub TEXT NOT NULL,
        sub TEXT NOT NULL REFERENCES people (sub),
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (provider, upstream_sub),
        UNIQUE (sub, provider)
      )`,
      `CREATE TABLE passkeys (
        id TEXT NOT NULL PRIMARY KEY,
        sub TEXT NOT NULL REFERENCES people (sub),
        public_key BYTEA NOT NULL,
        counter BIGINT NOT NULL,
        transports TEXT NOT NULL,
        name TEXT NOT NULL,
        device_type TEXT NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
        backed_up BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT
      )`,
      'CREATE INDEX passkeys_by_sub ON passkeys (sub)',
    ],
  },
]

/** Names the migration lock among other users of the database's advisory locks ("us-dir" in ASCII). */
const MIGRATION_LOCK = 0x75732d646972

/**
 * Brings the schema up to date and returns its version. Idempotent, and safe
 * when several instances start at once: everything happens in one
 * transaction that first takes a transaction-level advisory lock, so a second
 * instance waits, then finds the versions applied. A database that a newer
 * understudy has migrated, or a migration the database refuses, is
 * US_ERR_DIRECTORY_MIGRATION; a database that cannot answer stays
 * US_ERR_DIRECTORY_UNAVAILABLE (worth another try later).
 */
export async function migrate (db: SqlDatabase, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  const known = Math.max(0, ...migrations.map((m) => m.version))
  try {
    return await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`)
      await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)')
      const applied = new Set((await tx.query<{ version: unknown }>('SELECT version FROM schema_migrations')).map((row) => Number(row.version)))
      const newest = Math.max(0, ...applied)
      if (newest > known) {
        throw new UnderstudyError('US_ERR_DIRECTORY_MIGRATION', `the directory's schema is at version ${newest}, newer than this understudy knows (${known}): run a newer understudy, or restore a backup made before the upgrade`, { details: { version: newest, known } })
      }
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue
        for (const statement of migration.statements) await tx.query(statement)
        await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Math.floor(Date.now() / 1000)])
      }
      return known
    })
  } catch (err) {
    if (isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE') && refusedByDatabase(err)) {
      throw new UnderstudyError('US_ERR_DIRECTORY_MIGRATION', `the directory refused a migration: ${err.message}`, { cause: err, details: err.details })
    }
    throw err
  }
}
