import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { MIGRATIONS } from '../../src/directory/migrations.js'
import { PostgresDatabase } from '../../src/directory/postgres.js'
import { SqlDirectory } from '../../src/directory/sql-directory.js'
import { silentLogger } from '../../src/log.js'
import { directoryConformance } from './conformance.js'
import { freshSchema, noPostgres } from './postgres-schema.js'

const TIMEOUT_MS = 2_000

/** A directory on `url` (and reads on `readUrl`), closed at `t`'s teardown, with raw SQL on its primary. */
function open (t: Test, url: string, readUrl?: string): { directory: SqlDirectory, db: PostgresDatabase } {
  const db = new PostgresDatabase({ url, readUrl, timeoutMs: TIMEOUT_MS, log: silentLogger })
  const directory = new SqlDirectory(db)
  t.teardown(() => directory.close())
  return { directory, db }
}

t.test('PostgreSQL', { skip: noPostgres }, async (t) => {
  directoryConformance(t, 'postgres', async () => {
    const db = new PostgresDatabase({ url: await freshSchema(t), timeoutMs: TIMEOUT_MS, log: silentLogger })
    return { directory: new SqlDirectory(db), sql: db }
  })

  t.test('gateways that start at once on an empty database each migrate it, and every migration is applied once', async (t) => {
    const url = await freshSchema(t)
    const gateways = Array.from({ length: 4 }, () => open(t, url))
    await Promise.all(gateways.map(({ directory }) => directory.migrate()))
    const rows = await gateways[0]!.db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')
    t.same(rows.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version))
    for (const [i, { directory }] of gateways.entries()) t.equal(await directory.hasBackupMethod('anyone'), false, `gateway ${i} answers`)
  })

  t.test('with a readUrl, passkey and linked-identity reads go to the replica while writes and identity() go to the primary', async (t) => {
    const [primaryUrl, replicaUrl] = [await freshSchema(t), await freshSchema(t)]
    const { directory } = open(t, primaryUrl, replicaUrl)
    const replica = open(t, replicaUrl).directory
    await directory.migrate()
    await replica.migrate()

    const person = { sub: `kakao-${randomUUID()}`, provider: 'kakao', upstreamSub: randomUUID(), createdAt: 1_700_000_000 }
    const key = { id: randomUUID(), sub: person.sub, publicKey: new Uint8Array([1, 2, 3]), counter: 1, transports: ['internal'], name: 'On the primary', deviceType: 'multiDevice' as const, backedUp: true, createdAt: 1_700_000_010 }
    const link = { sub: person.sub, provider: 'naver', upstreamSub: randomUUID(), linkedAt: 1_700_000_020 }
    await directory.ensurePerson(person)
    t.equal(await directory.addPasskey(key), true)
    t.equal(await directory.link(link), 'linked')
    t.equal(await directory.passkey(key.id), undefined, 'not replicated yet: the replica has no such passkey')
    t.equal(await directory.linkedPerson('naver', link.upstreamSub), undefined, 'nor the link')
    t.same((await directory.identity(person.sub))?.passkeys, [key], 'the account page reads the primary')

    // What replication would bring, told apart by its name.
    await replica.ensurePerson(person)
    await replica.addPasskey({ ...key, name: 'On the replica' })
    await replica.link(link)
    t.equal((await directory.passkey(key.id))?.passkey.name, 'On the replica')
    t.same(await directory.linkedPerson('naver', link.upstreamSub), { link, person })

    t.equal(await directory.recordPasskeyUse(key.id, 2, 1_700_000_100), true, 'a sign-counter update goes to the primary')
    t.equal((await directory.identity(person.sub))?.passkeys[0]?.counter, 2)
    t.equal((await replica.passkey(key.id))?.passkey.counter, 1, 'the replica was not written')
  })
})
