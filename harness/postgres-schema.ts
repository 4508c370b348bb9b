import { randomUUID } from 'node:crypto'
import pg from 'pg'

/** Runs one statement on the database at `url` over a connection of its own (2 s to connect). */
export async function runStatement (url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  try {
    await client.connect()
    await client.query(statement)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** A schema of its own in a shared database: a URL whose connections use it (their search_path), and its removal. */
export interface Schema {
  name: string
  url: string
  drop (): Promise<void>
}

/**
 * Creates a new, empty schema named `<prefix>_<random>` in the database at
 * `url`, so that runs sharing one PostgreSQL never see each other's rows;
 * `schemaUrl` points another address (a fault proxy) at it.
 */
export async function createSchema (url: string, prefix: string): Promise<Schema> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '')}`
  await runStatement(url, `CREATE SCHEMA ${name}`)
  return { name, url: schemaUrl(url, name), drop: () => runStatement(url, `DROP SCHEMA ${name} CASCADE`) }
}

/** `url` with its connections' search_path set to `schema`, and its host:port replaced by `address` when given. */
export function schemaUrl (url: string, schema: string, address?: string): string {
  const parsed = new URL(url)
  if (address !== undefined) parsed.host = address
  parsed.search = ''
  return `${parsed.href}?options=${encodeURIComponent(`-c search_path=${schema}`)}`
}
