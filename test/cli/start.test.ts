import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { waitFor } from '../helpers/admin.js'

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname
const TS_LOADER = import.meta.resolve('../../harness/ts-loader.mjs')
// The committed dev keys (helpers/stack.js has them too, but importing it loads the whole gateway into this process, which only spawns it).
const DEV_KEYS = {
  signing: fileURLToPath(new URL('../../certs/dev/signing.jwks.json', import.meta.url)),
  sealing: fileURLToPath(new URL('../../certs/dev/sealing.jwks.json', import.meta.url)),
}

function cli (args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, ['--import', TS_LOADER, MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The child's "listening" log line, or undefined when its stdout ends without one (it crashed or exited). */
async function listeningLine (child: ChildProcess): Promise<Record<string, string> | undefined> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as Record<string, string>
    if (entry.msg === 'listening') return entry
  }
  return undefined
}

async function configFile (overrides: Record<string, unknown> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-cli-'))
  const file = join(dir, 'understudy.json')
  await writeFile(file, JSON.stringify({
    issuer: 'http://127.0.0.1:1',
    region: 'cli-test',
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: 'cli-test-admin-token-of-32-characters' },
    keys: DEV_KEYS,
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:9', clientId: 'gw', clientSecret: '${IDP_SECRET}', regions: [{ name: 'primary', url: 'http://127.0.0.1:9' }] }],
    clients: [{ clientId: 'shop', clientSecret: 's', redirectUris: ['https://shop.example/cb'], providers: ['idp'] }],
    ...overrides,
  }))
  return file
}

t.test('start --config prints the listening line, serves while the upstream is down, and drains on SIGTERM', async (t) => {
  const child = cli(['start', '--config', await configFile({ shutdown: { drainDelay: '1s' } })], { IDP_SECRET: 'x' })
  t.teardown(() => { child.kill('SIGKILL') })
  const listening = await listeningLine(child)
  t.ok(listening, 'a JSON log line with msg "listening"')
  t.match(listening!.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.match(listening!.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal((await fetch(`${listening!.url}/readyz`)).status, 200, 'ready although the upstream is unreachable')
  const discovery = await (await fetch(`${listening!.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>
  t.equal(discovery.issuer, 'http://127.0.0.1:1')

  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await t.resolves(waitFor(async () => (await fetch(`${listening!.adminUrl}/readyz`)).status === 503, 'readyz answers 503 within drainDelay (1 s)'), 'readyz answers 503 while draining')
  const [code] = await exited
  t.equal(code, 0, 'exits 0 after draining')
})

t.test('start refuses an invalid config with the same report as check-config, exit 2', async (t) => {
  const file = await configFile({ clients: [{ clientId: 'shop', redirectUris: ['not a url'], providers: ['nope'] }] })
  const child = cli(['start', '--config', file], { IDP_SECRET: 'x' })
  let stderr = ''
  child.stderr!.on('data', (chunk) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 2)
  t.match(stderr, /\/clients\/0\/providers\/0: no provider with this id \(got "nope"\)/)
  t.match(stderr, /\/clients\/0\/redirectUris\/0: not an absolute URL/)
})

t.test('an unknown command prints the usage and exits 2', async (t) => {
  const child = cli(['frobnicate'])
  let stderr = ''
  child.stderr!.on('data', (chunk) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 2)
  t.match(stderr, /usage:/)
})

const certs = new URL('../../certs/dev/', import.meta.url).pathname
let shared: Promise<Record<string, string> | undefined> | undefined

/**
 * The "listening" line of one gateway shared by the checks that only read from a running gateway (a start
 * costs seconds of CPU): started with no --config, from the file UNDERSTUDY_CONFIG names, serving HTTPS.
 */
async function sharedGateway (): Promise<Record<string, string> | undefined> {
  shared ??= (async () => {
    const file = await configFile({ region: 'from-env', listen: { host: '127.0.0.1', port: 0, tls: { cert: `${certs}tls.crt`, key: `${certs}tls.key` } } })
    const child = cli(['start'], { UNDERSTUDY_CONFIG: file, IDP_SECRET: 'x' })
    t.teardown(() => { child.kill('SIGKILL') })
    return listeningLine(child)
  })()
  return shared
}

t.test('UNDERSTUDY_CONFIG names the config file when --config is absent', async (t) => {
  t.equal((await sharedGateway())?.region, 'from-env', 'the gateway started with that file')
})

t.test('the listening line and understudy_build_info name the gateway version and the Node.js that runs it', async (t) => {
  const listening = await sharedGateway()
  const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(listening?.node, process.version, 'node is the running release, e.g. v24.22.3')
  t.equal(listening?.version, version, 'version is the package version')
  const metrics = await (await fetch(`${listening!.adminUrl}/metrics`)).text()
  t.match(metrics, `\nunderstudy_build_info{version="${version}",node="${process.version}"} 1\n`)
})

t.test('listen.tls serves HTTPS directly with the given certificate', async (t) => {
  const url = (await sharedGateway())?.url ?? ''
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const ca = await readFile(`${certs}tls.crt`)
  const body = await new Promise<string>((resolve, reject) => {
    https.get(`${url}/livez`, { ca }, (res) => {
      let text = ''
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
  t.same(JSON.parse(body), { status: 'ok' }, 'the dev certificate is valid for 127.0.0.1')
})

/** Every JSON line the child writes to stdout, gathered as they come, and its "listening" line (undefined if stdout ends first). */
function logOf (child: ChildProcess): { lines: Array<Record<string, any>>, listening: Promise<Record<string, any> | undefined> } {
  const lines: Array<Record<string, any>> = []
  const listening = new Promise<Record<string, any> | undefined>((resolve) => {
    const input = createInterface({ input: child.stdout! })
    input.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, any>
      lines.push(entry)
      if (entry.msg === 'listening') resolve(entry)
    })
    input.on('close', () => resolve(undefined))
  })
  return { lines, listening }
}

t.test('with logging.level error the listening line is still written, and no line under error', async (t) => {
  const child = cli(['start', '--config', await configFile({ logging: { level: 'error' } })], { IDP_SECRET: 'x' })
  t.teardown(() => { child.kill('SIGKILL') })
  const log = logOf(child)
  const listening = await log.listening
  t.match(listening, { msg: 'listening', url: /^http:\/\/127\.0\.0\.1:\d+$/ })
  t.equal((await fetch(`${listening!.url}/livez`)).status, 200)
  const closed = once(child, 'close')
  child.kill('SIGTERM')
  await closed
  t.same(log.lines.filter((l) => l.msg !== 'listening' && l.level < 50), [], 'neither the access line nor the start and stop lines')
})

t.test('one access line per finished request by default, none with logging.requests false', async (t) => {
  for (const requests of [true, false]) {
    const child = cli(['start', '--config', await configFile({ logging: { requests } })], { IDP_SECRET: 'x' })
    t.teardown(() => { child.kill('SIGKILL') })
    const log = logOf(child)
    const listening = await log.listening
    await (await fetch(`${listening!.url}/livez?code=secret-code`)).text()
    const closed = once(child, 'close')
    child.kill('SIGTERM')
    await closed
    const access = log.lines.filter((l) => l.msg === 'request completed')
    t.match(access, requests ? [{ route: '/livez', res: { statusCode: 200 }, req: { url: '/livez?code=[redacted]' } }] : [], `requests: ${requests}`)
    t.equal(access.length, requests ? 1 : 0, `requests: ${requests}: ${access.length} access line(s)`)
    t.notOk(log.lines.some((l) => l.msg === 'incoming request'), 'Fastify\'s own request lines are off')
    t.notOk(JSON.stringify(log.lines).includes('secret-code'), 'no secret from the URL')
  }
})
