import { UnderstudyError } from '../errors.js'

/** One parameterized statement's rows (`$1`, `$2`… placeholders), or US_ERR_DIRECTORY_UNAVAILABLE. */
export interface Sql {
  query<R extends object = Record<string, unknown>> (text: string, params?: readonly unknown[]): Promise<R[]>
}

/**
 * The tiny database interface both directory backends provide (PostgreSQL
 * through `pg`, PGlite embedded), so that one SqlDirectory and one set of
 * migrations run on both. Every query is bounded by the directory's timeout,
 * and every failure is an UnderstudyError: no driver error escapes raw.
 */
export interface SqlDatabase extends Sql {
  /** Where reads that may lag a moment behind go: a region-local replica when configured, else this database. */
  readonly replica: Sql
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T> (work: (tx: Sql) => Promise<T>): Promise<T>
  close (): Promise<void>
}

/**
 * SQLSTATE classes that say the database could not answer now, as opposed to
 * refusing the statement itself: connection exceptions, serialization
 * failures and deadlocks, insufficient resources, operator intervention
 * (statement timeouts, shutdowns) and system errors.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '40', '53', '57', '58'])

/** The SQLSTATE of an error the database answered with (pg and PGlite alike), if it is one. */
export function sqlStateOf (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('severity' in err)) return undefined
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** True when the database refused the statement itself (a syntax, schema or constraint error), not for want of answering. */
export function refusedByDatabase (err: unknown): boolean {
  const sqlState = err instanceof UnderstudyError ? err.details.sqlState : sqlStateOf(err)
  return typeof sqlState === 'string' && !UNAVAILABLE_CLASSES.has(sqlState.slice(0, 2))
}

/**
 * Waits for one database call at most `timeoutMs`; a late answer, a lost
 * connection or a database error becomes US_ERR_DIRECTORY_UNAVAILABLE with
 * the original as `cause` (and its SQLSTATE in `details` when the database
 * answered). The work is not cancelled here: the drivers' own timeouts end it.
 */
export async function bounded<T> (work: Promise<T>, timeoutMs: number, database: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${database} did not answer within ${timeoutMs} ms`, { details: { database, timeoutMs } })), timeoutMs)
  })
  try {
    return await Promise.race([work, late])
  } catch (err) {
    throw directoryError(err, database)
  } finally {
    clearTimeout(timer)
  }
}

/** Any failure of a database call as US_ERR_DIRECTORY_UNAVAILABLE (an UnderstudyError passes unchanged). */
export function directoryError (err: unknown, database: string): UnderstudyError {
  if (err instanceof UnderstudyError) return err
  const sqlState = sqlStateOf(err)
  const reason = err instanceof Error ? err.message : 'unknown error'
  return new UnderstudyError('US_ERR_DIRECTORY_UNAVAILABLE', `the directory at ${database} failed: ${sqlState === undefined ? '' : `${sqlState} `}${reason}`, {
    cause: err,
    details: { database, ...(sqlState === undefined ? {} : { sqlState }) },
  })
}
