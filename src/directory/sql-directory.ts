import type { Directory, Identity, LinkedIdentity, LinkResult, Passkey, Person } from './directory.js'
import { migrate } from './migrations.js'
import type { Sql, SqlDatabase } from './sql.js'

const PERSON = 'p.sub, p.provider, p.upstream_sub, p.created_at'
const PASSKEY = 'k.id, k.sub, k.public_key, k.counter, k.transports, k.name, k.device_type, k.backed_up, k.created_at, k.last_used_at'

interface PersonRow { sub: string, provider: string, upstream_sub: string, created_at: unknown, offer_declined_until?: unknown }
interface LinkRow { sub: string, provider: string, upstream_sub: string, linked_at: unknown }
interface PasskeyRow { id: string, sub: string, public_key: Uint8Array, counter: unknown, transports: string, name: string, device_type: Passkey['deviceType'], backed_up: boolean, created_at: unknown, last_used_at: unknown }

/**
 * The one Directory implementation: the same SQL on every backend (a `pg`
 * pool, PGlite). Each write that must not race is a single statement the
 * database serializes (INSERT … ON CONFLICT DO NOTHING, UPDATE … WHERE), so
 * no method needs an explicit lock, and the same code holds on engines that
 * run every transaction serializable.
 *
 * A person has at most one linked identity per provider: linking a second
 * identity of a provider the person already has a link to replaces nothing
 * and answers 'taken', as for an identity linked to someone else; the user
 * unlinks the first one to link another (a link is a way in, and one is never
 * swapped silently for another).
 *
 * Methods that need the person (`link`, `addPasskey`, `declineOffer`) throw a
 * plain Error for a `sub` the directory has never recorded: the caller skipped
 * `ensurePerson`, a bug, not an outage.
 */
export class SqlDirectory implements Directory {
  readonly #db: SqlDatabase

  constructor (db: SqlDatabase) {
    this.#db = db
  }

  async migrate (): Promise<void> {
    await migrate(this.#db)
  }

  async ensurePerson (person: Person): Promise<Person> {
    await this.#db.query('INSERT INTO people (sub, provider, upstream_sub, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sub) DO NOTHING', [person.sub, person.provider, person.upstreamSub, person.createdAt])
    // A second statement, not a RETURNING: it sees the row a concurrent insert committed first.
    const stored = await this.#person(this.#db, person.sub)
    if (stored === undefined) throw new Error(`the directory lost the person ${person.sub} it has just recorded`)
    return stored
  }

  async identity (sub: string): Promise<Identity | undefined> {
    const [row] = await this.#db.query<PersonRow>(`SELECT ${PERSON}, p.offer_declined_until FROM people p WHERE p.sub = $1`, [sub])
    if (row === undefined) return undefined
    const [links, passkeys] = await Promise.all([
      this.#db.query<LinkRow>('SELECT sub, provider, upstream_sub, linked_at FROM linked_identities WHERE sub = $1 ORDER BY linked_at, provider', [sub]),
      this.#db.query<PasskeyRow>(`SELECT ${PASSKEY} FROM passkeys k WHERE k.sub = $1 ORDER BY k.created_at, k.id`, [sub]),
    ])
    const identity: Identity = { person: personOf(row), links: links.map(linkOf), passkeys: passkeys.map(passkeyOf) }
    if (row.offer_declined_until !== null && row.offer_declined_until !== undefined) identity.offerDeclinedUntil = Number(row.offer_declined_until)
    return identity
  }

  async hasBackupMethod (sub: string): Promise<boolean> {
    const [row] = await this.#db.query<{ has: boolean }>(
      'SELECT (EXISTS (SELECT 1 FROM linked_identities WHERE sub = $1) OR EXISTS (SELECT 1 FROM passkeys WHERE sub = $1)) AS has', [sub])
    return row?.has === true
  }

  async linkedPerson (provider: string, upstreamSub: string): Promise<{ link: LinkedIdentity, person: Person } | undefined> {
    const [row] = await this.#db.replica.query<PersonRow & { linked_at: unknown }>(
      `SELECT ${PERSON}, l.linked_at FROM linked_identities l JOIN people p ON p.sub = l.sub WHERE l.provider = $1 AND l.upstream_sub = $2`, [provider, upstreamSub])
    if (row === undefined) return undefined
    return { link: linkOf({ sub: row.sub, provider, upstream_sub: upstreamSub, linked_at: row.linked_at }), person: personOf(row) }
  }

  async link (identity: LinkedIdentity): Promise<LinkResult> {
    const { sub, provider, upstreamSub, linkedAt } = identity
    // Parameters in a SELECT list have no column to take a type from: each is cast.
    // Either key may conflict: the identity is someone's already, or the person has a link to this provider.
    const inserted = await this.#db.query(
      'INSERT INTO linked_identities (provider, upstream_sub, sub, linked_at) SELECT $1::text, $2::text, p.sub, $4::bigint FROM people p WHERE p.sub = $3 ON CONFLICT DO NOTHING RETURNING sub',
      [provider, upstreamSub, sub, linkedAt])
    if (inserted.length > 0) return 'linked'
    const [owner] = await this.#db.query<{ sub: string }>('SELECT sub FROM linked_identities WHERE provider = $1 AND upstream_sub = $2', [provider, upstreamSub])
    if (owner !== undefined) return owner.sub === sub ? 'already-linked' : 'taken'
    await this.#mustExist(sub)
    return 'taken'
  }

  async unlink (sub: string, provider: string): Promise<boolean> {
    const removed = await this.#db.query('DELETE FROM linked_identities WHERE sub = $1 AND provider = $2 RETURNING provider', [sub, provider])
    return removed.length > 0
  }

  async addPasskey (passkey: Passkey): Promise<boolean> {
    const inserted = await this.#db.query(
      `INSERT INTO passkeys (id, sub, public_key, counter, transports, name, device_type, backed_up, created_at, last_used_at)
       SELECT $1::text, p.sub, $3::bytea, $4::bigint, $5::text, $6::text, $7::text, $8::boolean, $9::bigint, $10::bigint FROM people p WHERE p.sub = $2
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [passkey.id, passkey.sub, passkey.publicKey, passkey.counter, JSON.stringify(passkey.transports), passkey.name, passkey.deviceType, passkey.backedUp, passkey.createdAt, passkey.lastUsedAt ?? null])
    if (inserted.length > 0) return true
    await this.#mustExist(passkey.sub)
    return false
  }

  async passkey (id: string): Promise<{ passkey: Passkey, person: Person } | undefined> {
    const [row] = await this.#db.replica.query<PasskeyRow & { person_sub: string, person_provider: string, person_upstream_sub: string, person_created_at: unknown }>(
      `SELECT ${PASSKEY}, p.sub AS person_sub, p.provider AS person_provider, p.upstream_sub AS person_upstream_sub, p.created_at AS person_created_at
       FROM passkeys k JOIN people p ON p.sub = k.sub WHERE k.id = $1`, [id])
    if (row === undefined) return undefined
    return { passkey: passkeyOf(row), person: personOf({ sub: row.person_sub, provider: row.person_provider, upstream_sub: row.person_upstream_sub, created_at: row.person_created_at }) }
  }

  async recordPasskeyUse (id: string, counter: number, at: number): Promise<boolean> {
    // One statement: of two uses with the same counter, the second re-reads the row the first wrote and matches nothing.
    const updated = await this.#db.query(
      'UPDATE passkeys SET counter = $2, last_used_at = $3 WHERE id = $1 AND (counter < $2::bigint OR (counter = 0 AND $2::bigint = 0)) RETURNING id',
      [id, counter, at])
    return updated.length > 0
  }

  async renamePasskey (sub: string, id: string, name: string): Promise<boolean> {
    const renamed = await this.#db.query('UPDATE passkeys SET name = $3 WHERE sub = $1 AND id = $2 RETURNING id', [sub, id, name])
    return renamed.length > 0
  }

  async removePasskey (sub: string, id: string): Promise<boolean> {
    const removed = await this.#db.query('DELETE FROM passkeys WHERE sub = $1 AND id = $2 RETURNING id', [sub, id])
    return removed.length > 0
  }

  async declineOffer (sub: string, until: number): Promise<void> {
    const updated = await this.#db.query('UPDATE people SET offer_declined_until = $2 WHERE sub = $1 RETURNING sub', [sub, until])
    if (updated.length === 0) throw noPerson(sub)
  }

  async ping (): Promise<boolean> {
    return answers(this.#db)
  }

  /** Whether the replica that `linkedPerson` and `passkey` read answers now (the primary when there is none). */
  async pingReplica (): Promise<boolean> {
    return answers(this.#db.replica)
  }

  async close (): Promise<void> {
    await this.#db.close()
  }

  async #person (sql: Sql, sub: string): Promise<Person | undefined> {
    const [row] = await sql.query<PersonRow>(`SELECT ${PERSON} FROM people p WHERE p.sub = $1`, [sub])
    return row === undefined ? undefined : personOf(row)
  }

  async #mustExist (sub: string): Promise<void> {
    if (await this.#person(this.#db, sub) === undefined) throw noPerson(sub)
  }
}

async function answers (sql: Sql): Promise<boolean> {
  return sql.query('SELECT 1').then(() => true, () => false)
}

function noPerson (sub: string): Error {
  return new Error(`the directory has no person ${sub}: ensurePerson records them first`)
}

// BIGINT comes back as a string from pg and a number from PGlite; BYTEA as a Buffer or a Uint8Array.
function personOf (row: PersonRow): Person {
  return { sub: row.sub, provider: row.provider, upstreamSub: row.upstream_sub, createdAt: Number(row.created_at) }
}

function linkOf (row: LinkRow): LinkedIdentity {
  return { sub: row.sub, provider: row.provider, upstreamSub: row.upstream_sub, linkedAt: Number(row.linked_at) }
}

function passkeyOf (row: PasskeyRow): Passkey {
  const passkey: Passkey = {
    id: row.id,
    sub: row.sub,
    publicKey: new Uint8Array(row.public_key),
    counter: Number(row.counter),
    transports: transportsOf(row.transports),
    name: row.name,
    deviceType: row.device_type,
    backedUp: row.backed_up,
    createdAt: Number(row.created_at),
  }
  if (row.last_used_at !== null && row.last_used_at !== undefined) passkey.lastUsedAt = Number(row.last_used_at)
  return passkey
}

/** The stored JSON list of transports; anything else (a hand-edited row) is no hint at all. */
function transportsOf (json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json)
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === 'string') : []
  } catch {
    return []
  }
}
