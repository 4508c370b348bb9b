import type { DirectoryConfig } from '../config/schema.js'
import { isUnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import { embeddedDataDir, openEmbedded } from './embedded.js'
import { GuardedDirectory } from './guarded.js'
import { databaseName, openPostgres } from './postgres.js'

export interface DirectoryDeps {
  log: Logger
  metrics: Metrics
}

/**
 * The directory named by `directory.kind`, migrated, behind its breaker.
 * A PostgreSQL directory that cannot be reached at start does not stop the
 * gateway (static stability: only the logins that need it fail): it starts
 * down, and is migrated when it first answers. A schema newer than this
 * understudy knows, or embedded files that cannot be opened, stop the start
 * with the error.
 */
export async function createDirectory (config: DirectoryConfig, deps: DirectoryDeps): Promise<GuardedDirectory> {
  const { log } = deps
  const database = config.kind === 'postgres' ? databaseName(config.url ?? '') : `embedded:${embeddedDataDir(config.path)}`
  const backend = config.kind === 'postgres' ? openPostgres(config, log) : await openEmbedded(config)
  const replica = config.kind === 'postgres' && config.readUrl !== undefined ? databaseName(config.readUrl) : undefined
  const directory = new GuardedDirectory(backend, { database, ...(replica === undefined ? {} : { replica }), timeoutMs: config.timeout * 1000, ...deps })
  try {
    await directory.migrate()
  } catch (err) {
    if (!isUnderstudyError(err, 'US_ERR_DIRECTORY_UNAVAILABLE') || config.kind === 'embedded') {
      await directory.close().catch(() => undefined)
      throw err
    }
    directory.markDown()
  }
  log.info({ directory: database, kind: config.kind, ...(replica === undefined ? {} : { replica }) }, 'using the directory')
  return directory
}
