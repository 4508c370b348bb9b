import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { requireTool } from '../helpers/tools.js'

/** The machine's PostgreSQL: trust auth, user postgres, database test (.ci/run starts it). */
export const TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** Runs one statement on the test database over a connection of its own. */
async function admin (statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2_000 })
  try {
    await client.connect()
    await client.query(statement)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** False when PostgreSQL answers; otherwise the reason to skip (under CI=true the importing test file fails, naming it). */
export const noPostgres = requireTool('postgresql', await admin('SELECT 1').then(() => undefined, (err: Error) => `PostgreSQL at ${TEST_DATABASE_URL} does not answer (${err.message})`))

/** A URL to a new, empty schema of the test database (its search_path), dropped at `t`'s teardown. */
export async function freshSchema (t: Test): Promise<string> {
  const name = `understudy_test_${randomUUID().replaceAll('-', '')}`
  await admin(`CREATE SCHEMA ${name}`)
  t.teardown(() => admin(`DROP SCHEMA ${name} CASCADE`))
  return `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${name}`)}`
}
