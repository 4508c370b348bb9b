import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { copyDatabase } from '../helpers/pglite-template.js'

// The gateway's build (tsconfig.build.json, what the image ships) compiled into a scratch folder,
// next to package.json and node_modules but with no harness: as in the image.
// Emitted without type checking (--noCheck; type errors are the type-check's to report), file by
// file (--isolatedModules: the sources are written for that, as tsx runs them, so the output is the same as
// `npm run build`'s, and tsc need not resolve every import across files to emit): a fraction of a full build's CPU.
const root = new URL('../..', import.meta.url).pathname
const dir = await mkdtemp(join(tmpdir(), 'understudy-dist-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--sourceMap', 'false', '--noCheck', '--isolatedModules'], { encoding: 'utf8' })
await copyFile(join(root, 'package.json'), join(dir, 'package.json'))
await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))

async function files (folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => join(e.parentPath, e.name))
}

async function cli (...args: string[]): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(process.execPath, [join(dir, 'dist/src/cli/main.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += String(chunk) })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stderr }
}

t.test('the gateway build holds the gateway only: no harness, no test peer, no redis-server', async (t) => {
  const compiled = await files(join(dir, 'dist'))
  t.ok(compiled.some((f) => f.endsWith('/dist/src/cli/main.js')), `the CLI is compiled (tsc: ${tsc.stdout.slice(0, 300)})`)
  t.same(await readdir(join(dir, 'dist')).then((names) => names.sort()), ['plugins', 'src'], 'dist/ holds src/ and plugins/ only')
  for (const file of compiled) {
    const text = await readFile(file, 'utf8')
    const where = file.slice(dir.length + 1)
    t.notMatch(text, /from '(oidc-provider|openid-client|playwright-core)'|import\('(oidc-provider|openid-client|playwright-core)'\)/, `${where} imports no test peer`)
    t.notMatch(text, /['"]redis-server['"]/, `${where} starts no redis-server`)
    t.notMatch(text, /from '[^']*harness\//, `${where} imports nothing from the harness statically`)
  }
})

t.test('run without the harness, the game day says what is missing and exits non-zero', async (t) => {
  const { code, stderr } = await cli('gameday', '--scenario', 'monkey', '--duration', '5s')
  t.equal(code, 2)
  t.match(stderr, /^the game day needs a clone of the repository with dev dependencies: /)
  t.match(stderr, /npm ci && npm run build:harness/)
})

t.test('run without the harness, the demo stack says what is missing and exits non-zero', async (t) => {
  const { code, stderr } = await cli('start')
  t.equal(code, 2)
  t.match(stderr, /^the demo stack \(`understudy start` with no config\) needs a clone of the repository with dev dependencies: /)
})

t.test('the compiled embedded directory runs PGlite in its worker, from dist/ and with no TypeScript loader', async (t) => {
  t.ok(existsSync(join(dir, 'dist/src/directory/embedded-worker.js')), 'the worker is in the build')
  // The database in a folder of the scratch build, which the file's teardown removes: a copy of one that
  // exists, as creating one costs seconds of CPU (test/directory checks creation) and opening it runs the same worker.
  const dataDir = join(dir, 'directory')
  await copyDatabase(dataDir, 'empty')
  const script = `const { EmbeddedDatabase } = await import(${JSON.stringify(pathToFileURL(join(dir, 'dist/src/directory/embedded.js')).href)})
const db = await EmbeddedDatabase.open(${JSON.stringify(dataDir)}, 60000)
await db.query('CREATE TABLE t (id INT PRIMARY KEY)')
const inserted = await db.transaction((tx) => tx.query('INSERT INTO t (id) VALUES (1) RETURNING id'))
process.stdout.write(JSON.stringify(inserted))
await db.close()`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += String(chunk) })
  child.stderr.on('data', (chunk) => { stderr += String(chunk) })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, `it ran and exited by itself (stderr: ${stderr.slice(0, 500)})`)
  t.same(JSON.parse(stdout || 'null'), [{ id: 1 }])
})
