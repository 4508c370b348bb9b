import { chmod, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { startGateway } from '../../src/cli/start.js'
import { validateConfig } from '../../src/config/load.js'
import { isUnderstudyError } from '../../src/errors.js'
import { writeKeySets } from '../../src/keys/generate.js'
import { exposedKeyFiles } from '../../src/keys/permissions.js'
import { DEV_KEYS, startStack } from '../helpers/stack.js'

const DEV_TLS = { cert: DEV_KEYS.signing.replace('signing.jwks.json', 'tls.crt'), key: DEV_KEYS.signing.replace('signing.jwks.json', 'tls.key') }

/** A gateway config with `issuer` and `keys`; its upstream is down, which does not keep the gateway from starting. */
function config (issuer: string, keys: { signing: string, sealing: string }, extra: Record<string, unknown> = {}) {
  return validateConfig({
    issuer,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    keys,
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:9', clientId: 'gw', regions: [{ name: 'primary', url: 'http://127.0.0.1:9' }], healthCheck: { interval: 3600 } }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/cb'], providers: ['idp'] }],
    ...extra,
  }, { env: {} })
}

/** Copies of the committed dev files under other names, with `mode`. */
async function devCopies (t: Test, mode: number) {
  const dir = t.testdir({})
  const keys = { signing: join(dir, 'a.json'), sealing: join(dir, 'b.json') }
  const tls = { cert: join(dir, 'c.pem'), key: join(dir, 'd.pem') }
  for (const [to, from] of [[keys.signing, DEV_KEYS.signing], [keys.sealing, DEV_KEYS.sealing], [tls.cert, DEV_TLS.cert], [tls.key, DEV_TLS.key]] as const) {
    await copyFile(from, to)
    await chmod(to, mode)
  }
  return { keys, tls }
}

/** Fresh keys in a test directory, with `mode`. */
async function freshKeys (t: Test, mode: number) {
  const keys = await writeKeySets(t.testdir({}))
  for (const file of Object.values(keys)) await chmod(file, mode)
  return keys
}

const silent = () => createLogger({ level: 'silent', destination: new Writable({ write (_c, _e, done) { done() } }) })

t.test('key files that every user may read or write are reported with their mode; owner and group access is fine', async (t) => {
  const modes: Record<string, number> = { a: 0o644, b: 0o604, c: 0o602, d: 0o666, e: 0o640, f: 0o440, g: 0o660, h: 0o600, i: 0o400 }
  const dir = t.testdir(Object.fromEntries(Object.keys(modes).map((name) => [name, 'k'])))
  for (const [name, mode] of Object.entries(modes)) await chmod(join(dir, name), mode)
  const exposed = await exposedKeyFiles(Object.keys(modes).map((name) => join(dir, name)))
  t.same(exposed, [
    { path: join(dir, 'a'), mode: '0644' },
    { path: join(dir, 'b'), mode: '0604' },
    { path: join(dir, 'c'), mode: '0602' },
    { path: join(dir, 'd'), mode: '0666' },
  ], 'owner and group modes (0640, 0440 as a secret volume with fsGroup, 0660, 0600, 0400) are fine')
  t.same(await exposedKeyFiles([join(dir, 'missing')]), [], 'a missing file is the keyring\'s to report')
  t.same(await exposedKeyFiles([join(dir, 'a')], 'win32'), [], 'Windows has no such modes')
})

t.test('a gateway whose key files every user may read refuses to start, naming each file and its mode', async (t) => {
  const keys = await freshKeys(t, 0o600)
  await chmod(keys.sealing, 0o644)
  const err = await startGateway(config('http://127.0.0.1:1', keys), { logger: silent() }).then(() => undefined, (e: unknown) => e)
  t.ok(isUnderstudyError(err, 'US_ERR_KEYS_EXPOSED'), 'US_ERR_KEYS_EXPOSED')
  t.match((err as Error).message, `${keys.sealing} has mode 0644: every user of the host may read or write it`)
  t.notMatch((err as Error).message, keys.signing, 'the 0600 signing key file is fine')
})

t.test('a gateway whose key files are 0440, as the Deployment mounts them with fsGroup, starts', async (t) => {
  const stack = await startStack({ config: { keys: await freshKeys(t, 0o440) } })
  t.teardown(() => stack.close())
  t.equal((await fetch(`${stack.issuer}/readyz`)).status, 200, 'the gateway serves')
})

t.test('the committed dev keys, copied under other names, are refused at start for an issuer that is not local', async (t) => {
  const { keys, tls } = await devCopies(t, 0o600)
  const err = await startGateway(config('https://login.example.com', keys, { listen: { host: '127.0.0.1', port: 0, tls } }), { logger: silent() }).then(() => undefined, (e: unknown) => e)
  t.ok(isUnderstudyError(err, 'US_ERR_KEYS_DEV'), 'US_ERR_KEYS_DEV')
  t.same((err as { details: { files: string[] } }).details.files, [keys.signing, keys.sealing, tls.key], 'the signing, sealing and TLS key files')
  t.match((err as Error).message, `${keys.signing} holds the committed development keys (certs/dev)`)
  t.match((err as Error).message, 'not https://login.example.com')
})

t.test('the committed dev keys start a gateway whose issuer is on 127.0.0.1 or localhost, whatever their mode', async (t) => {
  const { keys, tls } = await devCopies(t, 0o644)
  const stack = await startStack({ config: { keys } })
  t.teardown(() => stack.close())
  t.equal((await fetch(`${stack.issuer}/readyz`)).status, 200, 'on 127.0.0.1')
  const local = await startGateway(config('https://localhost:8443', keys, { listen: { host: '127.0.0.1', port: 0, tls } }), { logger: silent() })
  t.teardown(() => local.close())
  t.match(local.url, /^https:/, 'on localhost, with the dev TLS pair')
})
