import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createDirectory } from '../../src/directory/create.js'
import { EmbeddedDatabase } from '../../src/directory/embedded.js'
import { SqlDirectory } from '../../src/directory/sql-directory.js'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { copyDatabase } from '../helpers/pglite-template.js'
import { directoryConformance } from './conformance.js'

// On a copy of a database created once per machine, never migrated: creating one is what the next test checks.
// A database opened from its files reads its catalog as the first statements need it (the first migration
// took up to 1.2 s on a loaded machine): the timeout leaves room for that, as the suite checks behaviour, not speed.
directoryConformance(t, 'embedded (PGlite)', async () => {
  const dataDir = join(t.testdir(), 'conformance')
  await copyDatabase(dataDir, 'empty')
  const db = await EmbeddedDatabase.open(dataDir, 5_000)
  return { directory: new SqlDirectory(db), sql: db }
})

t.test('the embedded directory creates directory.path, keeps its files there, and what it holds outlives a restart', async (t) => {
  const path = join(t.testdir(), 'not', 'there', 'yet')
  // A 5 s statement timeout: the first statements on a database just created can take over a second on a loaded machine.
  const config = { kind: 'embedded' as const, path, timeout: 5 }
  const first = await createDirectory(config, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
  const person = { sub: 'kakao-123', provider: 'kakao', upstreamSub: '123', createdAt: 1_700_000_000 }
  await first.ensurePerson(person)
  t.equal(await first.link({ sub: person.sub, provider: 'naver', upstreamSub: 'n-9', linkedAt: 1_700_000_100 }), 'linked')
  await first.close()
  t.ok(existsSync(join(path, 'pglite', 'PG_VERSION')), 'PGlite keeps its files under directory.path')

  const again = await createDirectory(config, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
  t.teardown(() => again.close())
  t.same((await again.linkedPerson('naver', 'n-9'))?.person, person)
})
