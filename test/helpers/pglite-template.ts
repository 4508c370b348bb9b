import { createHash, randomUUID } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EmbeddedDatabase, embeddedDataDir } from '../../src/directory/embedded.js'
import { MIGRATIONS } from '../../src/directory/migrations.js'
import { SqlDirectory } from '../../src/directory/sql-directory.js'

/**
 * Embedded (PGlite) databases for tests that need one that exists, copied
 * from a template: creating a database from nothing (initdb, in WebAssembly)
 * costs seconds of CPU each time, copying its files a fraction of one.
 * The templates are made once per machine (per checkout's node_modules), for
 * the PGlite release, the worker that opens it and the migrations: a change
 * to any of them makes new ones. Tests of creation itself must not use
 * this (embedded.test.ts, embedded-worker.test.ts keep such tests).
 *
 * Several test processes may want a template at once: each missing one is
 * built in a folder of its own and renamed into place; a process that loses
 * the race throws its copy away and uses the one that won. A template, once
 * in place, is never written again.
 */

/** `empty`: initialised, never migrated (what the directory conformance suite starts from); `migrated`: every migration applied, as a gateway that ran before leaves it. */
export type TemplateKind = 'empty' | 'migrated'

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/understudy-pglite/', import.meta.url))
const WORKER = new URL('../../src/directory/embedded-worker.js', import.meta.url)
/** Written last into a template: a folder without it (cleaned up by hand, say) is not one. */
const COMPLETE = 'understudy-template-complete'

/** The installed PGlite's version, from the package.json above its entry point (its exports hide the file from a plain import). */
async function pgliteVersion (): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')))
  for (;;) {
    const found = await readFile(join(dir, 'package.json'), 'utf8').then((text) => JSON.parse(text) as { name?: string, version?: string }, () => undefined)
    if (found?.name === '@electric-sql/pglite' && found.version !== undefined) return found.version
    const up = dirname(dir)
    if (up === dir) throw new Error('the package.json of @electric-sql/pglite was not found')
    dir = up
  }
}

/** The templates' name for this PGlite release, this worker (how it calls PGlite.create) and, for `migrated`, these migrations. */
async function templateName (kind: TemplateKind): Promise<string> {
  const hash = createHash('sha256')
  hash.update(await pgliteVersion()).update('\0').update(await readFile(WORKER))
  if (kind === 'migrated') hash.update('\0').update(JSON.stringify(MIGRATIONS))
  return `${kind}-${hash.digest('hex').slice(0, 16)}`
}

async function isComplete (dir: string): Promise<boolean> {
  return stat(join(dir, COMPLETE)).then(() => true, () => false)
}

const pending = new Map<TemplateKind, Promise<string>>()

/** The PGlite data folder of the `kind` template, made first when missing. Read-only: copy it (copyDatabase, seedDirectoryPath). */
export async function templateDataDir (kind: TemplateKind): Promise<string> {
  let made = pending.get(kind)
  if (made === undefined) {
    made = ensure(kind)
    pending.set(kind, made)
    made.catch(() => pending.delete(kind))
  }
  return made
}

async function ensure (kind: TemplateKind): Promise<string> {
  const name = await templateName(kind)
  const final = join(CACHE, name)
  const data = join(final, 'pglite')
  if (await isComplete(final)) return data
  await mkdir(CACHE, { recursive: true })
  const building = join(CACHE, `.building-${name}-${process.pid}-${randomUUID()}`)
  try {
    // The migrated template starts from a copy of the empty one: one initdb per machine, not two.
    if (kind === 'migrated') await cp(await templateDataDir('empty'), join(building, 'pglite'), { recursive: true })
    const db = await EmbeddedDatabase.open(join(building, 'pglite'), 60_000)
    try {
      if (kind === 'migrated') await new SqlDirectory(db).migrate()
    } finally {
      await db.close()
    }
    await mkdir(join(building, COMPLETE))
    try {
      await rename(building, final)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err
      // Another process got there first: its template is as good. A folder left incomplete (by a cleanup, say) is replaced.
      if (!(await isComplete(final))) {
        await rm(final, { recursive: true, force: true })
        await rename(building, final)
      }
    }
  } finally {
    await rm(building, { recursive: true, force: true })
  }
  await prune(kind, name)
  return data
}

/** How old a build folder must be to be taken for one whose process died (a build takes seconds). */
const ABANDONED_MS = 15 * 60_000

/** Templates of the same kind for another PGlite, worker or migration set (never used again by this checkout), and abandoned builds. */
async function prune (kind: TemplateKind, current: string): Promise<void> {
  const entries = await readdir(CACHE)
  const stale = entries.filter((entry) => entry.startsWith(`${kind}-`) && entry !== current)
  for (const entry of entries.filter((e) => e.startsWith('.building-'))) {
    const mtime = await stat(join(CACHE, entry)).then((s) => s.mtimeMs, () => Date.now())
    if (Date.now() - mtime > ABANDONED_MS) stale.push(entry)
  }
  await Promise.all(stale.map(async (entry) => rm(join(CACHE, entry), { recursive: true, force: true })))
}

/** A copy of the `kind` template as the PGlite data folder `dataDir` (what EmbeddedDatabase.open takes); `dataDir` must not hold one yet. */
export async function copyDatabase (dataDir: string, kind: TemplateKind = 'migrated'): Promise<void> {
  await cp(await templateDataDir(kind), dataDir, { recursive: true, errorOnExist: true, force: false })
}

/** Fills `directory.path` of an embedded directory with a copy of the `kind` template, so that the gateway opens a database that exists. */
export async function seedDirectoryPath (path: string, kind: TemplateKind = 'migrated'): Promise<void> {
  await copyDatabase(embeddedDataDir(path), kind)
}
