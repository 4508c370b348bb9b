import type { Test } from 'tap'
import { createSchema, runStatement } from '../../harness/postgres-schema.js'
import { requireTool } from '../helpers/tools.js'

/** The machine's PostgreSQL: trust auth, user postgres, database test (.ci/run starts it). */
export const TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** False when PostgreSQL answers; otherwise the reason to skip (under CI=true the importing test file fails, naming it). */
export const noPostgres = requireTool('postgresql', await runStatement(TEST_DATABASE_URL, 'SELECT 1').then(() => undefined, (err: Error) => `PostgreSQL at ${TEST_DATABASE_URL} does not answer (${err.message})`))

/** A URL to a new, empty schema of the test database (its search_path), dropped at `t`'s teardown. */
export async function freshSchema (t: Test): Promise<string> {
  const schema = await createSchema(TEST_DATABASE_URL, 'understudy_test')
  t.teardown(() => schema.drop())
  return schema.url
}
