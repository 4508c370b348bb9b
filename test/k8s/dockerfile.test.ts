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

/** Expands `${NAME}` and `${NAME:+word}` as BuildKit does (the two forms the Dockerfile's FROM lines use); any other form throws. */
function expand (word: string, values: Map<string, string>): string {
  let out = ''
  for (let i = 0; i < word.length; i++) {
    if (!word.startsWith('${', i)) {
      out += word[i]
      continue
    }
    let depth = 0
    let end = i
    for (; end < word.length; end++) {
      if (word.startsWith('${', end)) depth++
      else if (word[end] === '}' && --depth === 0) break
    }
    const [, name = '', modifier, alternative = ''] = /^(\w+)(?:(:\+)(.*))?$/s.exec(word.slice(i + 2, end)) ?? []
    if (!name) throw new Error(`unsupported substitution in ${word}`)
    const value = values.get(name) ?? ''
    out += modifier === undefined ? value : value ? expand(alternative, values) : ''
    i = end
  }
  return out
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
/** The stage with a RUN that matches `pattern`. */
const stageRunning = (pattern: RegExp) => steps.find((s) => s.command === 'RUN' && pattern.test(s.args))?.stage
const PRODUCTION_INSTALL = /\bnpm ci\b[^&;]*--omit=dev/
const IMAGE_REFERENCE = '${NODE_IMAGE}${NODE_IMAGE_DIGEST:+@${NODE_IMAGE_DIGEST}}'

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
  t.ok(froms.length > 0, 'the Dockerfile has FROM lines')
  for (const from of froms) {
    const image = expand(from.args.split(/\s+/)[0]!, args)
    const major = Number(/^node:(\d+)/.exec(image)?.[1])
    t.ok(major >= 22 && major % 2 === 0, `${image}: an even (LTS) major, 22 or later`)
  }
})

t.test('the runtime stage takes the compiled gateway, the production dependencies and package.json, nothing else', async (t) => {
  const deps = stageRunning(PRODUCTION_INSTALL)
  const build = stageRunning(/\bnpm run build\b/)
  t.ok(deps && deps !== finalStage, `production dependencies are installed in a stage of their own (${deps})`)
  t.notOk(steps.some((s) => s.stage === deps && s.command === 'RUN' && /\bnpm (ci|install|i)\b/.test(s.args) && !PRODUCTION_INSTALL.test(s.args)), 'and nothing else is installed there')
  const copies = runtime.filter((s) => s.command === 'COPY' || s.command === 'ADD').map((s) => s.args.replace(/\s+/g, ' '))
  t.same(copies.sort(), [`--from=${build} /app/dist ./dist`, `--from=${deps} /app/node_modules ./node_modules`, 'package.json ./'].sort(), 'package.json ("type": "module", the version), node_modules, dist')
  const buildSources = steps.filter((s) => s.stage === build && s.command === 'COPY' && !s.args.includes('--from=')).flatMap((s) => s.args.split(/\s+/).slice(0, -1))
  t.same(buildSources.sort(), ['package-lock.json', 'package.json', 'plugins', 'src', 'tsconfig.build.json', 'tsconfig.json'].sort(), 'the build stage compiles from the gateway\'s sources only')
  const tsconfig = JSON.parse(await read('tsconfig.build.json')) as { include: string[] }
  t.same(tsconfig.include.sort(), ['plugins', 'src'], 'and dist/ is the gateway: tsconfig.build.json compiles src/ and plugins/ only')
  for (const elsewhere of ['harness/x.ts', 'test/x.ts', 'bench/x.ts']) t.ok(ignored(dockerignore, elsewhere), `${elsewhere.split('/')[0]}/ is not even in the build context`)
})

t.test('the runtime stage has no npm, npx, corepack or yarn, and no shell: the entrypoint is node and the probes are HTTP', async (t) => {
  t.notOk(runtime.some((s) => s.command === 'RUN' && /(^|[;&|]\s*)(npm|npx|corepack|yarn)\b/.test(s.args)), 'nothing in the runtime stage runs a package manager')
  const runs = runtime.filter((s) => s.command === 'RUN')
  t.equal(runs.length, 1, 'one RUN: the one that removes them')
  const removal = runs[0]?.args ?? ''
  for (const path of ['/usr/local/lib/node_modules', '/usr/local/bin/npm', '/usr/local/bin/npx', '/usr/local/bin/corepack', '/usr/local/bin/yarn', '/usr/local/bin/yarnpkg', '/opt/yarn-*', '/usr/local/bin/docker-entrypoint.sh']) {
    t.ok(removal.split(/\s+/).includes(path), `removes ${path}`)
  }
  for (const shell of ['sh', 'dash', 'bash', 'rbash']) {
    for (const dir of ['/bin', '/usr/bin']) t.ok(removal.split(/\s+/).includes(`${dir}/${shell}`), `removes ${dir}/${shell}`)
  }
  t.ok(removal.lastIndexOf('/bin/sh') > removal.lastIndexOf('/usr/local/lib/node_modules'), 'the shell goes last, after what the shell removes')
  t.notOk(runtime.some((s) => s.command === 'SHELL'), 'no SHELL instruction')
  for (const command of ['ENTRYPOINT', 'CMD']) {
    const args = runtime.find((s) => s.command === command)?.args ?? ''
    t.ok(args.startsWith('['), `${command} is in exec form: no shell starts the process`)
  }
  const deployment = parse(await read('k8s/base/deployment.yaml')) as { spec: { template: { spec: { containers: Array<Record<string, any>>, initContainers?: unknown[] } } } }
  const [gateway] = deployment.spec.template.spec.containers
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    t.ok(gateway?.[probe]?.httpGet, `${probe} is httpGet`)
    t.notOk(gateway?.[probe]?.exec, `${probe} runs no command in the container`)
  }
  t.notOk(gateway?.command, 'the Deployment keeps the image\'s entrypoint')
  t.notOk(gateway?.lifecycle, 'and runs no hook in the container')
  t.notOk(deployment.spec.template.spec.initContainers, 'no init container runs the image')
})

t.test('every stage is built from one base image, pinned by NODE_IMAGE_DIGEST once it is filled in', async (t) => {
  t.ok(froms.length >= 3, `${froms.length} stages`)
  for (const from of froms) t.equal(from.args.split(/\s+/)[0], IMAGE_REFERENCE, `FROM ${from.args}: the one image reference`)
  t.ok(args.has('NODE_IMAGE_DIGEST'), 'ARG NODE_IMAGE_DIGEST is declared before the first FROM')
  const digest = args.get('NODE_IMAGE_DIGEST') ?? ''
  const image = args.get('NODE_IMAGE') ?? ''
  t.match(digest, /^(sha256:[0-9a-f]{64})?$/, 'NODE_IMAGE_DIGEST is empty or one sha256 digest')
  const sample = `sha256:${'0'.repeat(64)}`
  t.equal(expand(IMAGE_REFERENCE, new Map([['NODE_IMAGE', image], ['NODE_IMAGE_DIGEST', sample]])), `${image}@${sample}`, 'with a digest, the reference is tag@digest (the tag for people, the digest decides)')
  t.equal(expand(IMAGE_REFERENCE, new Map([['NODE_IMAGE', image], ['NODE_IMAGE_DIGEST', '']])), image, 'without one, the tag alone')
  t.match(digest, /^sha256:[0-9a-f]{64}$/, 'the digest is filled in', { todo: digest ? false : 'no registry access where this was written: look it up as docs/operations.md says' })
})

t.test('the runtime stage runs as a non-root user', async (t) => {
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
