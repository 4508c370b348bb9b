import { spawnSync } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Sources of the shipped gateway (what `npm run build` compiles) whose dist/ output is missing or older than they are. */
export async function staleSources (): Promise<{ stale: string[], total: number }> {
  const sources = [...await typescriptFiles(join(ROOT, 'src')), ...await typescriptFiles(join(ROOT, 'plugins'))]
  const stale: string[] = []
  for (const source of sources) {
    const built = join(ROOT, 'dist', relative(ROOT, source)).replace(/\.ts$/, '.js')
    const [from, to] = await Promise.all([stat(source), stat(built).catch(() => undefined)])
    if (to === undefined || to.mtimeMs < from.mtimeMs) stale.push(relative(ROOT, source))
  }
  return { stale, total: sources.length }
}

/**
 * `npm run build` when dist/ is older than src/ or plugins/, so the gateway
 * under test is the code in the checkout; answers what it says of the build
 * (for the output and the results file).
 */
export async function buildIfStale (log: (line: string) => void): Promise<string> {
  const { stale, total } = await staleSources()
  if (stale.length === 0) return 'dist/ was up to date'
  log(`bench: dist/ is stale (${stale.length} of ${total} sources newer than their build, e.g. ${stale.slice(0, 3).join(', ')}): npm run build`)
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' })
  // tsc emits JavaScript despite type errors: someone else's half-finished edit elsewhere should not stop a bench run.
  if (result.status !== 0) log(`bench: npm run build reported problems (JavaScript was still emitted):\n${result.stdout.split('\n').filter((l) => l.includes('error')).slice(0, 10).join('\n')}`)
  return `dist/ was stale (${stale.length} of ${total} sources): rebuilt with npm run build${result.status === 0 ? '' : ' (with type errors elsewhere)'}`
}

async function typescriptFiles (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')).map((e) => join(e.parentPath, e.name))
}
