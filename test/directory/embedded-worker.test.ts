import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { until } from '../../harness/poll.js'
import { EmbeddedDatabase } from '../../src/directory/embedded.js'
import { GuardedDirectory } from '../../src/directory/guarded.js'
import { refusedByDatabase } from '../../src/directory/sql.js'
import { SqlDirectory } from '../../src/directory/sql-directory.js'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'

// PGlite in its worker thread. One database for the whole file: the first test creates it (seconds of
// work, and what it measures), and each later test opens it again, once the one before has closed it.
const dataDir = join(t.testdir(), 'pglite')

/** What happened to a 10 ms interval on this thread while `work` ran: how many of its ticks came, of how many the time allowed. */
async function ticksDuring<T> (work: () => Promise<T>): Promise<{ result: T, ticks: number, possible: number, longestGapMs: number }> {
  let ticks = 0
  let last = performance.now()
  let longestGapMs = 0
  const interval = setInterval(() => {
    const now = performance.now()
    longestGapMs = Math.max(longestGapMs, now - last)
    last = now
    ticks++
  }, 10)
  const started = performance.now()
  try {
    const result = await work()
    const took = performance.now() - started
    longestGapMs = Math.max(longestGapMs, performance.now() - last)
    return { result, ticks, possible: Math.floor(took / 10), longestGapMs: Math.round(longestGapMs) }
  } finally {
    clearInterval(interval)
  }
}

t.test('the event loop keeps turning while PGlite creates the database and while it runs a burst of statements', async (t) => {
  // Relative, not absolute: PGlite on this thread lets through almost none of the ticks; in its worker, most of them.
  const created = await ticksDuring(() => EmbeddedDatabase.open(dataDir, 10_000))
  const db = created.result
  t.teardown(() => db.close())
  t.ok(created.ticks >= created.possible / 4, `while the database was created, ${created.ticks} of ${created.possible} ticks came (longest gap ${created.longestGapMs} ms)`)

  const directory = new SqlDirectory(db)
  await directory.migrate()
  const burst = await ticksDuring(() => Promise.all([
    ...Array.from({ length: 150 }, async (_, i) => {
      const person = await directory.ensurePerson({ sub: `kakao-${i}`, provider: 'kakao', upstreamSub: String(i), createdAt: 1_700_000_000 })
      return directory.identity(person.sub)
    }),
    db.query('SELECT count(*) FROM generate_series(1, 2000000)'),
  ]))
  t.equal(burst.result.length, 151)
  t.ok(burst.ticks >= burst.possible / 4, `during a burst of statements and a slow one, ${burst.ticks} of ${burst.possible} ticks came (longest gap ${burst.longestGapMs} ms)`)
})

t.test('a transaction whose caller hangs, or whose statement outlasts the timeout, is rolled back, and the statements waiting behind it get their answers', async (t) => {
  // 4 s, not the default 1 s: the hung transaction is rolled back after half of it, and the statement queued
  // behind it must still answer within its own 4 s on a loaded 2-core machine.
  const db = await EmbeddedDatabase.open(dataDir, 4_000)
  t.teardown(() => db.close())
  await db.query('CREATE TABLE hung (id INT PRIMARY KEY)')
  let inserted = false
  // Never settles: the caller inserts a row, then hangs inside its transaction.
  void db.transaction(async (tx) => {
    await tx.query('INSERT INTO hung (id) VALUES (1)')
    inserted = true
    return new Promise<never>(() => undefined)
  })
  await until(() => inserted, 5_000, 'the hung transaction has inserted its row')
  t.same(await db.query('SELECT id FROM hung'), [], 'a statement behind it answers, without the uncommitted row')
  t.equal(await db.transaction(async (tx) => (await tx.query('INSERT INTO hung (id) VALUES (1) RETURNING id')).length), 1, 'and another transaction takes the same key')

  // The second statement sleeps past the 4 s timeout: the caller is told, and the worker rolls back when the sleep ends.
  await t.rejects(db.transaction(async (tx) => {
    await tx.query('INSERT INTO hung (id) VALUES (2)')
    await tx.query('SELECT pg_sleep(5)')
  }), { code: 'US_ERR_DIRECTORY_UNAVAILABLE', message: /did not answer within 4000 ms/ })
  t.same(await db.query('SELECT id FROM hung ORDER BY id'), [{ id: 1 }], 'the row of the transaction that timed out is not there')
})

t.test('a killed worker fails the calls in flight at once; the breaker opens, and its probe brings a new worker up on the same files', async (t) => {
  const timeoutMs = 5_000
  const db = await EmbeddedDatabase.open(dataDir, timeoutMs)
  const directory = new GuardedDirectory(new SqlDirectory(db), { database: 'embedded', timeoutMs, probeIntervalMs: 100, metrics: new Metrics({ defaults: false }), log: silentLogger })
  t.teardown(() => directory.close())
  await directory.migrate()
  const person = await directory.ensurePerson({ sub: 'kakao-killed', provider: 'kakao', upstreamSub: 'killed', createdAt: 1_700_000_000 })

  // A transaction runs a statement that takes far longer than the timeout, and a statement waits behind it.
  let begun = false
  const inTransaction = db.transaction(async (tx) => {
    await tx.query('SELECT 1')
    begun = true
    return tx.query('SELECT count(*) FROM generate_series(1, 100000000)')
  }).catch((err: unknown) => err)
  await until(() => begun, timeoutMs, 'the transaction has begun')
  const waiting = db.query('SELECT 1').catch((err: unknown) => err)
  const started = performance.now()
  await db.terminateWorker()
  const [txError, waitingError] = await Promise.all([inTransaction, waiting])
  const took = performance.now() - started
  const stopped = { code: 'US_ERR_DIRECTORY_UNAVAILABLE', message: /worker exited/ }
  t.match(txError, stopped, 'the transaction\'s statement in flight fails')
  t.match(waitingError, stopped, 'and so does the statement waiting behind it')
  t.ok(took < timeoutMs / 2, `without waiting for the timeout (${Math.round(took)} ms)`)

  await t.rejects(directory.identity(person.sub), { code: 'US_ERR_DIRECTORY_UNAVAILABLE' }, 'the next call finds the worker gone')
  t.equal(directory.available, false, 'the breaker is open')
  await until(() => directory.available, 30_000, 'the probe finds a new worker answering')
  t.same((await directory.identity(person.sub))?.person, person, 'what was committed before the crash is there')
  t.equal(await directory.link({ sub: person.sub, provider: 'naver', upstreamSub: 'n-1', linkedAt: 1_700_000_100 }), 'linked', 'and the new worker writes')
})

t.test('a database error crosses from the worker with its SQLSTATE, so a refused statement is told from an outage', async (t) => {
  const db = await EmbeddedDatabase.open(dataDir, 2_000)
  t.teardown(() => db.close())
  await db.query('CREATE TABLE refused (id INT PRIMARY KEY)')
  await db.query('INSERT INTO refused (id) VALUES (1)')
  const err = await db.query('INSERT INTO refused (id) VALUES (1)').catch((e: unknown) => e)
  t.match(err, { code: 'US_ERR_DIRECTORY_UNAVAILABLE', details: { sqlState: '23505' }, message: /23505 duplicate key/ })
  t.equal(refusedByDatabase(err), true)
  t.match(await db.transaction(async (tx) => tx.query('SELECT * FROM nowhere')).catch((e: unknown) => e), { details: { sqlState: '42P01' } })
  t.same(await db.query('SELECT id FROM refused'), [{ id: 1 }], 'the database works on')
})

t.test('a data directory PGlite cannot use fails the open with the directory\'s error', async (t) => {
  const file = join(t.testdir(), 'a-file')
  await writeFile(file, 'not a folder')
  await t.rejects(EmbeddedDatabase.open(file, 2_000), { code: 'US_ERR_DIRECTORY_UNAVAILABLE', details: { database: `embedded:${file}` } })
})

t.test('close() closes PGlite and ends the worker, once; later calls fail at once, and the files open again', async (t) => {
  const db = await EmbeddedDatabase.open(dataDir, 2_000)
  await db.query('CREATE TABLE kept (id INT PRIMARY KEY)')
  await db.query('INSERT INTO kept (id) VALUES (7)')
  await Promise.all([db.close(), db.close()])
  await db.close()
  await t.rejects(db.query('SELECT 1'), { code: 'US_ERR_DIRECTORY_UNAVAILABLE', message: /is closed/ })
  await t.rejects(db.transaction(async () => 1), { code: 'US_ERR_DIRECTORY_UNAVAILABLE', message: /is closed/ })
  const again = await EmbeddedDatabase.open(dataDir, 2_000)
  t.teardown(() => again.close())
  t.same(await again.query('SELECT id FROM kept'), [{ id: 7 }])
})
