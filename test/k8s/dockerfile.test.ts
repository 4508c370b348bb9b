import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import t from 'tap'
import { parse } from 'yaml'

// Docker cannot build here (no engine), so these are static checks of what a build would do.

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')

interface Instruction { command: string, args: string, stage: string }

/** The Dockerfile's instructions, continuation lines joined, comments dropped, each with the stage it belongs to. */
function instructions (text: string): { args: Map<string, string>, steps: Instruction[] } {
  const args = new Map<string, string>()
  const steps: Instruction[] = []
  let stage = ''
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  for (const line of lines) {
    const [, command = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const upper = command.toUpperCase()
    if (upper === 'ARG' && stage === '') {
      const [name = '', value = ''] = rest.split('=')
      args.set(name, value)
    }
    if (upper === 'FROM') stage = /\bAS\s+(\S+)/i.exec(rest)?.[1] ?? `#${steps.filter((s) => s.command === 'FROM').length}`
    steps.push({ command: upper, args: rest, stage })
  }
  return { args, steps }
}

/** Whether .dockerignore keeps `path` out of the build context (Docker's rules: the last matching pattern wins; a pattern matching a parent folder matches its contents). */
function ignored (patterns: string[], path: string): boolean {
  const parts = path.split('/')
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let excluded = false
  for (const raw of patterns) {
    const negated = raw.startsWith('!')
    const glob = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '')
    const regex = new RegExp(`^${glob.split('**').map((s) => s.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}$`)
    if (candidates.some((c) => regex.test(c))) excluded = !negated
  }
  return excluded
}

async function sourceFiles (dir: string): Promise<string[]> {
  const entries = await readdir(new URL(`${dir}/`, root), { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => `${e.parentPath}/${e.name}`)
}

const { args, steps } = instructions(await read('Dockerfile'))
const dockerignore = (await read('.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
const froms = steps.filter((s) => s.command === 'FROM')
const finalStage = froms.at(-1)?.stage ?? ''
const runtime = steps.filter((s) => s.stage === finalStage)

t.test('the Dockerfile builds in stages and the runtime stage takes only the build output from them', async (t) => {
  t.ok(froms.length >= 2, `${froms.length} stages`)
  const names = froms.map((f) => f.stage)
  for (const copy of steps.filter((s) => s.command === 'COPY' && s.args.includes('--from='))) {
    const from = /--from=(\S+)/.exec(copy.args)?.[1]
    t.ok(from && names.indexOf(from) >= 0 && names.indexOf(from) < names.indexOf(copy.stage), `COPY --from=${from} names an earlier stage`)
  }
  t.ok(runtime.some((s) => s.command === 'COPY' && /--from=\S+\s+\/app\/dist\b/.test(s.args)), 'the runtime stage copies the compiled dist/')
  t.ok(steps.some((s) => s.stage !== finalStage && s.command === 'RUN' && s.args.includes('npm run build')), 'an earlier stage compiles')
})

t.test('the image is based on a Node.js LTS line', async (t) => {
  for (const from of froms) {
    const image = from.args.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? '')
    const major = Number(/^node:(\d+)/.exec(image)?.[1])
    t.ok(major >= 22 && major % 2 === 0, `${image}: an even (LTS) major, 22 or later`)
  }
})

t.test('the runtime stage installs production dependencies only and runs as a non-root user', async (t) => {
  t.ok(runtime.some((s) => s.command === 'RUN' && /\bnpm ci\b[^&;]*--omit=dev/.test(s.args)), 'RUN npm ci --omit=dev')
  const users = runtime.filter((s) => s.command === 'USER')
  const user = users.at(-1)?.args.split(':')[0]
  t.ok(user && user !== 'root' && user !== '0', `USER ${user}`)
  const lastUser = runtime.lastIndexOf(users.at(-1)!)
  t.notOk(runtime.slice(lastUser).some((s) => s.command === 'RUN'), 'nothing runs as root after USER')
})

t.test('every path the Dockerfile copies from the build context exists and is not excluded by .dockerignore', async (t) => {
  const copies = steps.filter((s) => (s.command === 'COPY' || s.command === 'ADD') && !s.args.includes('--from='))
  t.ok(copies.length > 0)
  for (const copy of copies) {
    const words = copy.args.split(/\s+/).filter((w) => !w.startsWith('--'))
    for (const source of words.slice(0, -1)) {
      const path = source.replace(/^\.\//, '').replace(/\/$/, '')
      t.ok(existsSync(new URL(path, root)), `${path} exists`)
      t.notOk(ignored(dockerignore, path), `${path} is in the build context`)
    }
  }
  for (const secret of ['certs/dev/signing.jwks.json', 'certs/dev/sealing.jwks.json', 'node_modules/yaml/package.json', 'dist/src/cli/main.js', '.git/HEAD']) {
    t.ok(ignored(dockerignore, secret), `${secret} stays out of the build context`)
  }
})

t.test('the image starts the compiled CLI with the config path and ports the Kubernetes manifests use', async (t) => {
  const entrypoint = JSON.parse(runtime.find((s) => s.command === 'ENTRYPOINT')?.args ?? '[]') as string[]
  const cmd = JSON.parse(runtime.find((s) => s.command === 'CMD')?.args ?? '[]') as string[]
  t.same(entrypoint, ['node', 'dist/src/cli/main.js'])
  t.ok(existsSync(new URL('src/cli/main.ts', root)), 'dist/src/cli/main.js is compiled from src/cli/main.ts')
  const deployment = parse(await read('k8s/base/deployment.yaml')) as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }
  t.same(cmd, deployment.spec.template.spec.containers[0]!.args, 'CMD is what the Deployment passes')
  const config = parse(await read('k8s/base/config.yaml')) as { listen: { port: number }, admin: { port: number } }
  const exposed = runtime.filter((s) => s.command === 'EXPOSE').flatMap((s) => s.args.split(/\s+/).map((p) => Number(p.split('/')[0])))
  t.same(exposed.sort(), [config.listen.port, config.admin.port].sort(), 'EXPOSE the public and admin ports')
})

t.test('the image, the Deployment and npm start run Node with the same heap flags, the ones the benchmark measures', async (t) => {
  const env = runtime.find((s) => s.command === 'ENV' && s.args.startsWith('NODE_OPTIONS='))?.args
  const flags = /^NODE_OPTIONS="([^"]+)"$/.exec(env ?? '')?.[1]
  t.ok(flags, `the runtime stage sets NODE_OPTIONS (${env})`)
  t.match(flags, /--max-old-space-size=\d+/, 'the old space is capped')
  t.match(flags, /--max-semi-space-size=\d+/, 'the young generation is sized')
  const deployment = parse(await read('k8s/base/deployment.yaml')) as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string, value: string }> }> } } } }
  t.equal(deployment.spec.template.spec.containers[0]!.env.find((e) => e.name === 'NODE_OPTIONS')?.value, flags, 'the Deployment passes the same')
  const pkg = JSON.parse(await read('package.json')) as { scripts: Record<string, string> }
  t.equal(pkg.scripts.start, `node ${flags} dist/src/cli/main.js start`, 'npm start passes the same')
  const { shippedNodeOptions } = await import('../../bench/lib/child.js')
  t.same(shippedNodeOptions(), flags!.split(' '), 'the benchmark starts its gateway with them')
})

t.test('the compiled gateway imports only production dependencies', async (t) => {
  const pkg = JSON.parse(await read('package.json')) as { dependencies: Record<string, string> }
  const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules])
  const packageOf = (specifier: string) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
  const bare = (specifier: string) => !specifier.startsWith('.') && !specifier.startsWith('node:')
  for (const file of [...await sourceFiles('src'), ...await sourceFiles('plugins')]) {
    const text = await readFile(file, 'utf8')
    const where = file.slice(root.pathname.length)
    // A static import of a dev dependency would stop the CLI from loading at all; type-only imports are erased by tsc.
    for (const [, specifier] of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s+'([^']+)'/gm)) {
      if (bare(specifier!)) t.ok(allowed.has(packageOf(specifier!)), `${where} imports ${specifier}, a production dependency`)
    }
    for (const [, specifier] of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) {
      if (bare(specifier!)) t.ok(allowed.has(packageOf(specifier!)), `${where} loads ${specifier}, a production dependency`)
    }
  }
})
