import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { Directory, Passkey, Person } from '../../src/directory/directory.js'
import { MIGRATIONS } from '../../src/directory/migrations.js'
import type { Sql } from '../../src/directory/sql.js'

/** A directory on an empty, never migrated database, and raw SQL on that same database. */
export interface ConformanceBackend {
  directory: Directory
  sql: Sql
}

const T0 = 1_700_000_000

/**
 * The behaviour every Directory backend shares (the store's conformance
 * suite in shape). One database per run, migrated by the first test; every
 * later test works on people of its own (random subs), so the suite also
 * runs on a database that other tests share.
 */
export function directoryConformance (t: Test, name: string, open: () => Promise<ConformanceBackend>): void {
  t.test(`${name} directory conformance`, async (t) => {
    const { directory, sql } = await open()
    t.teardown(() => directory.close())
    const person = async (label = 'someone', provider = 'kakao'): Promise<Person> =>
      directory.ensurePerson({ sub: `${label}-${randomUUID()}`, provider, upstreamSub: randomUUID(), createdAt: T0 })
    const passkey = (sub: string, overrides: Partial<Passkey> = {}): Passkey => ({
      id: randomUUID(),
      sub,
      publicKey: new Uint8Array([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0xff, 0x00]),
      counter: 0,
      transports: ['internal', 'hybrid'],
      name: 'Passkey on Chrome, 3 Dec 2026',
      deviceType: 'multiDevice',
      backedUp: true,
      createdAt: T0 + 60,
      ...overrides,
    })
    const versions = async () => (await sql.query<{ version: unknown }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version))

    t.test('two concurrent migrations of an empty database apply every migration exactly once', async (t) => {
      await Promise.all([directory.migrate(), directory.migrate()])
      t.same(await versions(), MIGRATIONS.map((m) => m.version))
      t.equal(await directory.ping(), true)
    })

    t.test('migrating again changes nothing and keeps the data', async (t) => {
      const someone = await person()
      await directory.migrate()
      await directory.migrate()
      t.same(await versions(), MIGRATIONS.map((m) => m.version))
      t.same((await directory.identity(someone.sub))?.person, someone)
    })

    t.test('a schema migrated by a newer understudy is refused with US_ERR_DIRECTORY_MIGRATION', async (t) => {
      const newer = Math.max(...MIGRATIONS.map((m) => m.version)) + 1
      await sql.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [newer, 'from a newer understudy', T0])
      try {
        await t.rejects(directory.migrate(), { code: 'US_ERR_DIRECTORY_MIGRATION', details: { version: newer } })
      } finally {
        await sql.query('DELETE FROM schema_migrations WHERE version = $1', [newer])
      }
      await directory.migrate()
    })

    t.test('ensurePerson records a new person and returns the stored record for a known one', async (t) => {
      const sub = `person-${randomUUID()}`
      const first = { sub, provider: 'kakao', upstreamSub: 'k-1', createdAt: T0 }
      t.same(await directory.ensurePerson(first), first)
      t.same(await directory.ensurePerson({ sub, provider: 'naver', upstreamSub: 'n-1', createdAt: T0 + 500 }), first, 'the first record stands')
    })

    t.test('identity() is undefined for a person never recorded, and lists everything about a recorded one', async (t) => {
      t.equal(await directory.identity(`nobody-${randomUUID()}`), undefined)
      const someone = await person()
      t.same(await directory.identity(someone.sub), { person: someone, links: [], passkeys: [] })
      const link = { sub: someone.sub, provider: 'naver', upstreamSub: randomUUID(), linkedAt: T0 + 10 }
      const key = passkey(someone.sub)
      t.equal(await directory.link(link), 'linked')
      t.equal(await directory.addPasskey(key), true)
      await directory.declineOffer(someone.sub, T0 + 30 * 86_400)
      t.same(await directory.identity(someone.sub), { person: someone, links: [link], passkeys: [key], offerDeclinedUntil: T0 + 30 * 86_400 })
    })

    t.test('hasBackupMethod is false without links or passkeys and true with either', async (t) => {
      const [linked, withPasskey, neither] = [await person(), await person(), await person()]
      t.equal(await directory.link({ sub: linked.sub, provider: 'google', upstreamSub: randomUUID(), linkedAt: T0 }), 'linked')
      t.equal(await directory.addPasskey(passkey(withPasskey.sub)), true)
      t.equal(await directory.hasBackupMethod(linked.sub), true)
      t.equal(await directory.hasBackupMethod(withPasskey.sub), true)
      t.equal(await directory.hasBackupMethod(neither.sub), false)
      t.equal(await directory.hasBackupMethod(`nobody-${randomUUID()}`), false)
      t.equal(await directory.unlink(linked.sub, 'google'), true)
      t.equal(await directory.hasBackupMethod(linked.sub), false, 'not after the only link is removed')
    })

    t.test('a linked identity leads to its person, and linking it again is already-linked', async (t) => {
      const someone = await person()
      const upstreamSub = randomUUID()
      t.equal(await directory.linkedPerson('naver', upstreamSub), undefined)
      t.equal(await directory.link({ sub: someone.sub, provider: 'naver', upstreamSub, linkedAt: T0 }), 'linked')
      t.same(await directory.linkedPerson('naver', upstreamSub), { link: { sub: someone.sub, provider: 'naver', upstreamSub, linkedAt: T0 }, person: someone }, 'the link as made, and its person')
      t.equal(await directory.link({ sub: someone.sub, provider: 'naver', upstreamSub, linkedAt: T0 + 99 }), 'already-linked')
      t.same((await directory.identity(someone.sub))?.links, [{ sub: someone.sub, provider: 'naver', upstreamSub, linkedAt: T0 }], 'the first link stands')
      t.equal(await directory.linkedPerson('google', upstreamSub), undefined, 'the same id at another provider is another identity')
    })

    t.test('an identity linked to one person is taken for every other', async (t) => {
      const [owner, other] = [await person('owner'), await person('other')]
      const upstreamSub = randomUUID()
      t.equal(await directory.link({ sub: owner.sub, provider: 'naver', upstreamSub, linkedAt: T0 }), 'linked')
      t.equal(await directory.link({ sub: other.sub, provider: 'naver', upstreamSub, linkedAt: T0 }), 'taken')
      t.same((await directory.linkedPerson('naver', upstreamSub))?.person, owner)
      t.same((await directory.identity(other.sub))?.links, [])
    })

    t.test('of people linking one identity at once exactly one gets it', async (t) => {
      const people = await Promise.all(Array.from({ length: 6 }, () => person('racer')))
      const upstreamSub = randomUUID()
      const results = await Promise.all(people.map((p) => directory.link({ sub: p.sub, provider: 'naver', upstreamSub, linkedAt: T0 })))
      t.same(results.filter((r) => r === 'linked').length, 1)
      t.same(results.filter((r) => r === 'taken').length, people.length - 1)
      const winner = people[results.indexOf('linked')]!
      t.same((await directory.linkedPerson('naver', upstreamSub))?.person, winner)
    })

    t.test('a person has at most one link per provider: a second identity there is taken and replaces nothing', async (t) => {
      const someone = await person()
      const [first, second] = [randomUUID(), randomUUID()]
      t.equal(await directory.link({ sub: someone.sub, provider: 'naver', upstreamSub: first, linkedAt: T0 }), 'linked')
      t.equal(await directory.link({ sub: someone.sub, provider: 'naver', upstreamSub: second, linkedAt: T0 }), 'taken')
      t.same((await directory.linkedPerson('naver', first))?.person, someone)
      t.equal(await directory.linkedPerson('naver', second), undefined)
      t.equal(await directory.link({ sub: someone.sub, provider: 'google', upstreamSub: second, linkedAt: T0 }), 'linked', 'another provider is another link')
    })

    t.test('unlink removes the link to that provider only, and the identity can be linked again', async (t) => {
      const [someone, later] = [await person(), await person('later')]
      const [naver, google] = [randomUUID(), randomUUID()]
      await directory.link({ sub: someone.sub, provider: 'naver', upstreamSub: naver, linkedAt: T0 })
      await directory.link({ sub: someone.sub, provider: 'google', upstreamSub: google, linkedAt: T0 })
      t.equal(await directory.unlink(later.sub, 'naver'), false, 'not another person\'s link')
      t.equal(await directory.unlink(someone.sub, 'naver'), true)
      t.equal(await directory.unlink(someone.sub, 'naver'), false, 'there is none any more')
      t.equal(await directory.linkedPerson('naver', naver), undefined)
      t.same((await directory.linkedPerson('google', google))?.person, someone)
      t.equal(await directory.link({ sub: later.sub, provider: 'naver', upstreamSub: naver, linkedAt: T0 + 5 }), 'linked')
      t.same(await directory.linkedPerson('naver', naver), { link: { sub: later.sub, provider: 'naver', upstreamSub: naver, linkedAt: T0 + 5 }, person: later }, 'the new link, with its own time')
    })

    t.test('linking, adding a passkey or declining the offer for a person never recorded is a caller error, not an outage', async (t) => {
      const sub = `nobody-${randomUUID()}`
      const noPerson = { message: /no person/ }
      await t.rejects(directory.link({ sub, provider: 'naver', upstreamSub: randomUUID(), linkedAt: T0 }), noPerson)
      await t.rejects(directory.addPasskey(passkey(sub)), noPerson)
      await t.rejects(directory.declineOffer(sub, T0), noPerson)
      t.equal(await directory.identity(sub), undefined, 'nothing was recorded')
    })

    t.test('a passkey is stored field for field and found with its person', async (t) => {
      const someone = await person()
      const key = passkey(someone.sub, { counter: 4_294_967_000, transports: ['usb'], deviceType: 'singleDevice', backedUp: false, lastUsedAt: T0 + 90 })
      t.equal(await directory.addPasskey(key), true)
      const found = await directory.passkey(key.id)
      t.same(found, { passkey: key, person: someone })
      t.ok(found?.passkey.publicKey instanceof Uint8Array, 'the public key is bytes')
      t.equal(await directory.passkey(randomUUID()), undefined)
    })

    t.test('a credential id already registered is refused, for the same person or another', async (t) => {
      const [owner, other] = [await person('owner'), await person('other')]
      const key = passkey(owner.sub)
      t.equal(await directory.addPasskey(key), true)
      t.equal(await directory.addPasskey({ ...key, name: 'again' }), false)
      t.equal(await directory.addPasskey({ ...key, sub: other.sub, name: 'stolen' }), false)
      t.same(await directory.passkey(key.id), { passkey: key, person: owner })
      t.same((await directory.identity(other.sub))?.passkeys, [])
    })

    t.test('a use moves the counter forward, and a counter that does not move forward is refused', async (t) => {
      const someone = await person()
      const key = passkey(someone.sub, { counter: 5 })
      await directory.addPasskey(key)
      t.equal(await directory.recordPasskeyUse(key.id, 6, T0 + 100), true)
      t.equal(await directory.recordPasskeyUse(key.id, 6, T0 + 200), false, 'the same counter again')
      t.equal(await directory.recordPasskeyUse(key.id, 3, T0 + 300), false, 'a counter that went back: a cloned authenticator')
      t.equal(await directory.recordPasskeyUse(key.id, 0, T0 + 400), false, 'a counter that fell to 0')
      t.equal(await directory.recordPasskeyUse(key.id, 4_294_967_295, T0 + 500), true, 'the largest 32-bit counter')
      const found = await directory.passkey(key.id)
      t.equal(found?.passkey.counter, 4_294_967_295)
      t.equal(found?.passkey.lastUsedAt, T0 + 500, 'the last accepted use')
      t.equal(await directory.recordPasskeyUse(randomUUID(), 1, T0), false, 'an unknown credential')
    })

    t.test('of concurrent uses with the same counter exactly one wins', async (t) => {
      const someone = await person()
      const key = passkey(someone.sub, { counter: 10 })
      await directory.addPasskey(key)
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => directory.recordPasskeyUse(key.id, 11, T0 + i)))
      t.equal(results.filter(Boolean).length, 1)
      t.equal((await directory.passkey(key.id))?.passkey.counter, 11)
    })

    t.test('an authenticator that keeps no counter (always 0) is accepted every time', async (t) => {
      const someone = await person()
      const key = passkey(someone.sub, { counter: 0 })
      await directory.addPasskey(key)
      t.same(await Promise.all([directory.recordPasskeyUse(key.id, 0, T0 + 1), directory.recordPasskeyUse(key.id, 0, T0 + 2)]), [true, true])
      t.equal(await directory.recordPasskeyUse(key.id, 0, T0 + 3), true)
      t.equal((await directory.passkey(key.id))?.passkey.lastUsedAt, T0 + 3)
      t.equal(await directory.recordPasskeyUse(key.id, 1, T0 + 4), true, 'and one that starts counting moves forward')
      t.equal(await directory.recordPasskeyUse(key.id, 0, T0 + 5), false, 'and may not fall back to 0')
    })

    t.test('renamePasskey renames only the person\'s own passkey', async (t) => {
      const [owner, other] = [await person('owner'), await person('other')]
      const key = passkey(owner.sub)
      await directory.addPasskey(key)
      t.equal(await directory.renamePasskey(other.sub, key.id, 'mine now'), false)
      t.equal(await directory.renamePasskey(owner.sub, randomUUID(), 'missing'), false)
      t.equal(await directory.renamePasskey(owner.sub, key.id, 'Work laptop'), true)
      t.equal((await directory.passkey(key.id))?.passkey.name, 'Work laptop')
    })

    t.test('removePasskey removes only the person\'s own passkey', async (t) => {
      const [owner, other] = [await person('owner'), await person('other')]
      const [kept, removed] = [passkey(owner.sub, { createdAt: T0 + 1 }), passkey(owner.sub, { createdAt: T0 + 2 })]
      await directory.addPasskey(kept)
      await directory.addPasskey(removed)
      t.equal(await directory.removePasskey(other.sub, removed.id), false, 'not another person\'s')
      t.equal(await directory.removePasskey(owner.sub, removed.id), true)
      t.equal(await directory.removePasskey(owner.sub, removed.id), false, 'there is none any more')
      t.equal(await directory.passkey(removed.id), undefined)
      t.same((await directory.identity(owner.sub))?.passkeys, [kept])
    })

    t.test('declining the offer records until when, and declining again moves it', async (t) => {
      const someone = await person()
      t.equal((await directory.identity(someone.sub))?.offerDeclinedUntil, undefined, 'never declined')
      await directory.declineOffer(someone.sub, T0 + 86_400)
      t.equal((await directory.identity(someone.sub))?.offerDeclinedUntil, T0 + 86_400)
      await directory.declineOffer(someone.sub, T0 + 2 * 86_400)
      t.equal((await directory.identity(someone.sub))?.offerDeclinedUntil, T0 + 2 * 86_400)
    })
  })
}
