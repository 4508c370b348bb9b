import net from 'node:net'
import pg from 'pg'
import t, { type Test } from 'tap'
import { until } from '../../harness/poll.js'
import { startFaultProxy } from '../../harness/fault-proxy.js'
import { freePort } from '../../harness/free-port.js'
import { createDirectory } from '../../src/directory/create.js'
import { DIRECTORY_CAPACITY, GuardedDirectory } from '../../src/directory/guarded.js'
import { PostgresDatabase } from '../../src/directory/postgres.js'
import { SqlDirectory } from '../../src/directory/sql-directory.js'
import type { Logger } from '../../src/log.js'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { freshSchema, noPostgres } from './postgres-schema.js'

const TIMEOUT_MS = 500
const unavailable = { code: 'US_ERR_DIRECTORY_UNAVAILABLE' }

/** A log that keeps its lines, to check what an outage reports. */
function captureLog (): Logger & { lines: Array<{ level: string, msg?: string }> } {
  const lines: Array<{ level: string, msg?: string }> = []
  const keep = (level: string) => (_obj: object, msg?: string) => { lines.push({ level, ...(msg === undefined ? {} : { msg }) }) }
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') }
}

/** A TCP server on 127.0.0.1 that accepts connections and never says a word: a hung database. Returns its port. */
async function silentServer (t: Test): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => undefined) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return (server.address() as net.AddressInfo).port
}

/** A directory straight on `url`, without the breaker, closed at `t`'s teardown. */
function rawDirectory (t: Test, url: string): SqlDirectory {
  const directory = new SqlDirectory(new PostgresDatabase({ url, timeoutMs: TIMEOUT_MS, log: silentLogger }))
  t.teardown(() => directory.close())
  return directory
}

/** How long `work` took to settle (ms), whatever the outcome. */
async function timed (work: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await work().catch(() => undefined)
  return performance.now() - started
}

/** understudy_directory_errors_total by database (primary, replica). */
async function errorCounts (metrics: Metrics): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.directoryErrors.get()).values.map((v) => [String(v.labels.database), v.value]))
}

t.test('a port nobody listens on fails directory calls at once with US_ERR_DIRECTORY_UNAVAILABLE', async (t) => {
  const port = await freePort()
  const directory = rawDirectory(t, `postgres://postgres:secret@127.0.0.1:${port}/test`)
  const started = performance.now()
  const err = await directory.hasBackupMethod('anyone').catch((e: unknown) => e)
  const took = performance.now() - started
  t.match(err, { ...unavailable, details: { database: `postgres://127.0.0.1:${port}/test` } }, 'named without its password')
  t.notMatch(String((err as Error).message), /secret/)
  t.ok(took < TIMEOUT_MS, `refused in ${Math.round(took)} ms`)
  await t.rejects(directory.migrate(), unavailable, 'migrating too: an outage, not a schema problem')
  t.equal(await directory.ping(), false)
})

t.test('a database that accepts connections and never answers fails each call within the timeout', async (t) => {
  const directory = rawDirectory(t, `postgres://postgres@127.0.0.1:${await silentServer(t)}/test`)
  const calls: Array<[string, () => Promise<unknown>]> = [['a read', () => directory.passkey('id')], ['a write', () => directory.recordPasskeyUse('id', 2, 1)], ['a migration', () => directory.migrate()]]
  for (const [what, call] of calls) {
    const started = performance.now()
    await t.rejects(call(), unavailable, what)
    const took = performance.now() - started
    t.ok(took >= TIMEOUT_MS * 0.8 && took < TIMEOUT_MS + 1_000, `${what} gave up after ${Math.round(took)} ms`)
  }
})

t.test('while the database is down the guarded directory fails fast, counts the failure and logs it once', async (t) => {
  const metrics = new Metrics({ defaults: false })
  const log = captureLog()
  const inner = new SqlDirectory(new PostgresDatabase({ url: `postgres://postgres@127.0.0.1:${await silentServer(t)}/test`, timeoutMs: TIMEOUT_MS, log: silentLogger }))
  const directory = new GuardedDirectory(inner, { database: 'hung', timeoutMs: TIMEOUT_MS, metrics, log })
  t.teardown(() => directory.close())

  const first = await timed(() => t.rejects(directory.hasBackupMethod('kakao-1'), unavailable))
  t.ok(first >= TIMEOUT_MS * 0.8, `the first call waited for the timeout (${Math.round(first)} ms)`)
  t.equal(directory.available, false)
  const calls: Array<() => Promise<unknown>> = [() => directory.identity('kakao-1'), () => directory.link({ sub: 'kakao-1', provider: 'naver', upstreamSub: 'n-1', linkedAt: 0 }), () => directory.recordPasskeyUse('id', 2, 0), () => directory.declineOffer('kakao-1', 0), () => directory.removePasskey('kakao-1', 'id')]
  for (const [i, call] of calls.entries()) {
    const took = await timed(() => t.rejects(call(), { ...unavailable, details: { refused: true, role: 'primary' } }))
    t.ok(took < TIMEOUT_MS / 5, `call ${i + 2} failed fast (${Math.round(took)} ms)`)
  }
  t.equal(await directory.ping(), false)
  t.same(await errorCounts(metrics), { primary: 1 }, 'one failure reached the database; refusals are not failures')
  t.same(log.lines.filter((l) => l.level === 'warn').map((l) => l.msg), ['directory unreachable: backup logins that need it fail until it answers again'])
})

t.test('a burst beyond the directory\'s capacity is refused at once, not counted as a failure: the breaker stays closed', async (t) => {
  const metrics = new Metrics({ defaults: false })
  const log = captureLog()
  // A database that answers, slowly: every call waits until the test lets it answer.
  const releases: Array<() => void> = []
  const slow = { hasBackupMethod: () => new Promise<boolean>((resolve) => releases.push(() => resolve(true))), close: async () => undefined }
  const directory = new GuardedDirectory(slow as unknown as SqlDirectory, { database: 'slow', timeoutMs: 30_000, metrics, log })
  t.teardown(() => directory.close())
  const held = Array.from({ length: DIRECTORY_CAPACITY }, () => directory.hasBackupMethod('kakao-1'))
  const refused = await Promise.all(Array.from({ length: DIRECTORY_CAPACITY + 1 }, () => directory.hasBackupMethod('kakao-1').then(() => undefined, (err: unknown) => err)))
  t.equal(releases.length, DIRECTORY_CAPACITY, 'no refused call reached the database')
  t.match(refused[0], { ...unavailable, message: /calls in flight/, details: { refused: true, role: 'primary', database: 'slow' } }, 'refused as busy, not as down')
  t.ok(refused.every((err) => (err as { code?: string }).code === 'US_ERR_DIRECTORY_UNAVAILABLE'), 'every one of them')
  t.equal(directory.available, true, 'the breaker stays closed: the load says nothing about the database')
  t.same(await errorCounts(metrics), {}, 'no directory error counted')
  t.same(log.lines.filter((l) => l.level === 'warn'), [], 'no outage logged')
  for (const release of releases.splice(0)) release()
  t.same(new Set(await Promise.all(held)), new Set([true]), 'the held calls answer')
  const next = directory.hasBackupMethod('kakao-1')
  for (const release of releases.splice(0)) release()
  t.equal(await next, true, 'with room again, a call goes through')
})

t.test('PostgreSQL behind a fault proxy', { skip: noPostgres }, async (t) => {
  /** A URL to a fresh schema, through a proxy to the machine's PostgreSQL that can be made to fail. */
  const proxied = async (t: Test) => {
    const url = new URL(await freshSchema(t))
    const proxy = await startFaultProxy({ target: { host: url.hostname, port: Number(url.port) }, name: 'postgres' })
    t.teardown(() => proxy.close())
    url.port = String(proxy.port)
    return { proxy, url: url.toString() }
  }

  t.test('a gateway starts while its directory is unreachable: down at once, then migrated and up when it answers', async (t) => {
    const { proxy, url } = await proxied(t)
    await proxy.setFault({ kind: 'blackhole' })
    const metrics = new Metrics({ defaults: false })
    const log = captureLog()
    const directory = await createDirectory({ kind: 'postgres', path: '/unused', url, timeout: TIMEOUT_MS / 1000 }, { log, metrics })
    t.teardown(() => directory.close())
    t.equal(directory.available, false, 'the gateway started, with its directory down')
    const took = await timed(() => t.rejects(directory.hasBackupMethod('anyone'), unavailable))
    t.ok(took < TIMEOUT_MS / 5, `a call failed fast (${Math.round(took)} ms)`)

    await proxy.clearFault()
    await until(() => directory.available, 10_000, 'the probe finds the directory answering')
    const person = { sub: 'kakao-1', provider: 'kakao', upstreamSub: '1', createdAt: 1_700_000_000 }
    t.same(await directory.ensurePerson(person), person, 'the probe migrated it')
    t.equal(await directory.ping(), true)
    t.same(log.lines.filter((l) => l.level !== 'debug').map((l) => [l.level, l.msg]), [
      ['warn', 'directory unreachable: backup logins that need it fail until it answers again'],
      ['info', 'using the directory'],
      ['info', 'directory answers again'],
    ])
    t.same(await errorCounts(metrics), { primary: 1 }, 'the failed migration at start is counted')
  })

  t.test('a directory that hangs mid-run opens at its first timed-out call and closes again once it answers', async (t) => {
    const { proxy, url } = await proxied(t)
    const log = captureLog()
    const directory = await createDirectory({ kind: 'postgres', path: '/unused', url, timeout: TIMEOUT_MS / 1000 }, { log, metrics: new Metrics({ defaults: false }) })
    t.teardown(() => directory.close())
    t.equal(await directory.hasBackupMethod('anyone'), false)
    await proxy.setFault({ kind: 'blackhole' })
    await t.rejects(directory.hasBackupMethod('anyone'), unavailable)
    t.equal(directory.available, false)
    await proxy.clearFault()
    await until(() => directory.available, 10_000, 'the directory is up again')
    t.equal(await directory.hasBackupMethod('anyone'), false)
  })

  t.test('with its primary gone, a region logs people in from its replica: the login reads answer, the rest fails fast', async (t) => {
    const { proxy, url } = await proxied(t)
    const replicaUrl = url.replace(`:${proxy.port}/`, `:${proxy.target.port}/`)
    const metrics = new Metrics({ defaults: false })
    const log = captureLog()
    const directory = await createDirectory({ kind: 'postgres', path: '/unused', url, readUrl: replicaUrl, timeout: TIMEOUT_MS / 1000 }, { log, metrics })
    t.teardown(() => directory.close())
    const person = await directory.ensurePerson({ sub: 'kakao-1', provider: 'kakao', upstreamSub: '1', createdAt: 1_700_000_000 })
    const key = { id: 'credential-1', sub: person.sub, publicKey: new Uint8Array([1, 2, 3]), counter: 5, transports: [], name: 'Phone', deviceType: 'singleDevice' as const, backedUp: false, createdAt: 1_700_000_010 }
    await directory.addPasskey(key)
    await directory.link({ sub: person.sub, provider: 'naver', upstreamSub: 'n-1', linkedAt: 1_700_000_020 })

    await proxy.setFault({ kind: 'blackhole' })
    await t.rejects(directory.recordPasskeyUse(key.id, 6, 1_700_000_100), unavailable, 'the counter update needs the primary')
    t.equal(directory.available, false)
    t.same(await directory.passkey(key.id), { passkey: key, person }, 'the passkey is read from the replica')
    t.same((await directory.linkedPerson('naver', 'n-1'))?.person, person, 'and so is the link')
    const took = await timed(() => t.rejects(directory.identity(person.sub), { ...unavailable, details: { refused: true, role: 'primary' } }))
    t.ok(took < TIMEOUT_MS / 5, `the account page fails fast (${Math.round(took)} ms)`)
    t.same(await errorCounts(metrics), { primary: 1 })
    t.same(log.lines.filter((l) => l.level === 'warn').map((l) => l.msg), ['directory unreachable: backup logins that need it fail until it answers again'], 'the replica never went down')
  })

  t.test('a caller error is an answer: it passes through and the guarded directory stays up', async (t) => {
    const metrics = new Metrics({ defaults: false })
    const directory = await createDirectory({ kind: 'postgres', path: '/unused', url: await freshSchema(t), timeout: 1 }, { log: silentLogger, metrics })
    t.teardown(() => directory.close())
    await t.rejects(directory.link({ sub: 'never-recorded', provider: 'naver', upstreamSub: 'n-1', linkedAt: 0 }), { message: /no person/ })
    t.equal(directory.available, true)
    t.same(await errorCounts(metrics), {})
  })

  t.test('a serialization failure fails that one call and is no outage: the directory stays up', async (t) => {
    const schemaUrl = await freshSchema(t)
    const url = new URL(schemaUrl)
    url.searchParams.set('options', `${url.searchParams.get('options')} -c default_transaction_isolation=serializable`)
    const metrics = new Metrics({ defaults: false })
    const directory = await createDirectory({ kind: 'postgres', path: '/unused', url: url.toString(), timeout: 2 }, { log: silentLogger, metrics })
    t.teardown(() => directory.close())
    const person = await directory.ensurePerson({ sub: 'kakao-1', provider: 'kakao', upstreamSub: '1', createdAt: 0 })
    await directory.addPasskey({ id: 'credential-1', sub: person.sub, publicKey: new Uint8Array([1]), counter: 1, transports: [], name: 'Phone', deviceType: 'singleDevice', backedUp: false, createdAt: 0 })
    // Another transaction holds the row; once it commits, a serializable update that waited for it must fail.
    const other = new pg.Client({ connectionString: schemaUrl })
    await other.connect()
    t.teardown(() => other.end())
    await other.query('BEGIN')
    await other.query("UPDATE passkeys SET name = 'Renamed' WHERE id = 'credential-1'")
    const use = directory.recordPasskeyUse('credential-1', 2, 1).catch((err: unknown) => err)
    const blocker = (await other.query('SELECT pg_backend_pid() AS pid')).rows[0].pid
    await until(async () => (await other.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [blocker])).rows[0].n === 1, 5_000, 'the use waits for the row')
    await other.query('COMMIT')
    t.match(await use, { ...unavailable, details: { sqlState: '40001' } })
    t.equal(directory.available, true)
    t.same(await errorCounts(metrics), {})
    t.equal(await directory.recordPasskeyUse('credential-1', 2, 1), true, 'tried again, it is recorded')
  })

  t.test('a gateway refuses to start on a directory migrated by a newer understudy', async (t) => {
    const url = await freshSchema(t)
    const db = new PostgresDatabase({ url, timeoutMs: 2_000, log: silentLogger })
    t.teardown(() => db.close())
    await new SqlDirectory(db).migrate()
    await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, $1, 0)', ['from the future'])
    await t.rejects(createDirectory({ kind: 'postgres', path: '/unused', url, timeout: 1 }, { log: silentLogger, metrics: new Metrics({ defaults: false }) }), { code: 'US_ERR_DIRECTORY_MIGRATION' })
  })
})
