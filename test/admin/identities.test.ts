import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { AdminErrorCodes } from '../../plugins/errors.js'
import { DIRECTORY_RETRY_AFTER } from '../../plugins/admin-identities.js'
import { buildAdminServer } from '../../plugins/server.js'
import { createLogger } from '../../src/cli/logger.js'
import { validateConfig } from '../../src/config/load.js'
import type { Passkey } from '../../src/directory/directory.js'
import { createGateway } from '../../src/gateway.js'
import { loadKeyring } from '../../src/keys/keyring.js'
import { Lifecycle } from '../../src/lifecycle.js'
import { PublicStatus } from '../../src/public-status.js'
import { subjectFor } from '../../src/sessions/session.js'
import { MemoryStore } from '../../src/store/memory.js'
import { createConnector } from '../../src/upstream/registry.js'
import { ADMIN_TOKEN, waitFor } from '../helpers/admin.js'
import { MemoryDirectory } from '../helpers/memory-directory.js'
import { DEV_KEYS } from '../helpers/stack.js'
import { signedWith, webhookReceiver, type Receiver } from '../helpers/webhook-receiver.js'

const keys = await loadKeyring(DEV_KEYS)
const SECRET = 'the-support-desk-webhook-secret'
const ALICE = subjectFor('idp', 'alice')
const BOB = subjectFor('idp', 'bob')
const T0 = 1_764_000_000

function passkey (id: string, sub: string, fields: Partial<Passkey> = {}): Passkey {
  return { id, sub, publicKey: new Uint8Array([0xa5, 1, 2, 3, 0x26]), counter: 7, transports: ['internal', 'hybrid'], name: `Passkey ${id}`, deviceType: 'singleDevice', backedUp: false, createdAt: T0, ...fields }
}

interface Fixture { app: FastifyInstance, directory: MemoryDirectory, hook: Receiver, logs: Array<Record<string, any>> }

/**
 * The admin listener of a gateway with backup login on (unless `backupLogin`
 * is false), over an in-memory directory holding alice (two passkeys, a link
 * to google) and bob (one passkey); identity webhooks go to a local receiver.
 */
async function adminApp (t: Test, options: { backupLogin?: boolean, rateLimits?: Record<string, unknown> } = {}): Promise<Fixture> {
  const hook = await webhookReceiver(t)
  const provider = (id: string, port: number) => ({ id, kind: 'oidc', issuer: `http://127.0.0.1:${port}`, clientId: 'c', clientSecret: 's', regions: [{ name: 'primary', url: `http://127.0.0.1:${port}` }] })
  const config = validateConfig({
    issuer: 'http://localhost:1',
    region: 'eu-west',
    keys: DEV_KEYS,
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    providers: [provider('idp', 2), provider('google', 3)],
    clients: [{ clientId: 'shop', clientSecret: 'shop-secret', redirectUris: ['http://localhost:1/cb'], providers: ['idp'] }],
    webhooks: [{ url: hook.url, allowHttp: true, events: ['identity.passkey.removed', 'identity.unlinked'], secret: SECRET }],
    ...(options.backupLogin === false ? {} : { backupLogin: {} }),
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
  }, { env: {} })
  const directory = new MemoryDirectory()
  await directory.ensurePerson({ sub: ALICE, provider: 'idp', upstreamSub: 'alice', createdAt: T0 })
  await directory.ensurePerson({ sub: BOB, provider: 'idp', upstreamSub: 'bob', createdAt: T0 })
  await directory.addPasskey(passkey('cHhrLWFsaWNlLXBob25l', ALICE, { name: 'Passkey on Chrome, 3 Dec 2026', deviceType: 'multiDevice', backedUp: true, lastUsedAt: T0 + 60 }))
  await directory.addPasskey(passkey('a2V5LWFsaWNlLXl1Ymk', ALICE, { name: 'YubiKey' }))
  await directory.addPasskey(passkey('cHhrLWJvYg', BOB))
  await directory.link({ sub: ALICE, provider: 'google', upstreamSub: 'g-1234', linkedAt: T0 + 30 })
  const logs: Array<Record<string, any>> = []
  const logger = createLogger({ destination: { write: (line: string) => { logs.push(JSON.parse(line)) } } })
  const gw = createGateway({ config, keys, store: new MemoryStore(), connectors: config.providers.map((p) => createConnector(p, { timeoutMs: 500 })), healthChecks: false, log: logger, directory, webhookOptions: { retryDelaysMs: [] } })
  const lifecycle = new Lifecycle()
  const app = await buildAdminServer(gw, lifecycle, { logger, publicStatus: new PublicStatus(gw, lifecycle) })
  t.teardown(async () => { await app.close(); await gw.close() })
  return { app, directory, hook, logs }
}

/** One admin call; `token` null sends none. */
async function call (app: FastifyInstance, method: 'GET' | 'DELETE', url: string, token: string | null = ADMIN_TOKEN): Promise<{ status: number, headers: Record<string, unknown>, body: any }> {
  const reply = await app.inject({ method, url, headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  return { status: reply.statusCode, headers: reply.headers, body: reply.body === '' ? undefined : reply.json() }
}

t.test('GET /admin/identities/:sub lists a person\'s ways to log in, without keys, counters or other providers\' subjects', async (t) => {
  const { app } = await adminApp(t)
  const reply = await call(app, 'GET', `/admin/identities/${ALICE}`)
  t.equal(reply.status, 200)
  t.equal(reply.headers['cache-control'], 'no-store')
  t.same(reply.body, {
    sub: ALICE,
    provider: 'idp',
    links: [{ provider: 'google', linkedAt: T0 + 30 }],
    passkeys: [
      { id: 'cHhrLWFsaWNlLXBob25l', name: 'Passkey on Chrome, 3 Dec 2026', createdAt: T0, lastUsedAt: T0 + 60, synced: true },
      { id: 'a2V5LWFsaWNlLXl1Ymk', name: 'YubiKey', createdAt: T0, synced: false },
    ],
  })
  t.notMatch(JSON.stringify(reply.body), /publicKey|counter|g-1234|upstreamSub|transports/)
})

t.test('every identity route needs the admin token', async (t) => {
  const { app, directory } = await adminApp(t)
  const routes: Array<['GET' | 'DELETE', string]> = [
    ['GET', `/admin/identities/${ALICE}`],
    ['DELETE', `/admin/identities/${ALICE}/passkeys/a2V5LWFsaWNlLXl1Ymk`],
    ['DELETE', `/admin/identities/${ALICE}/links/google`],
  ]
  for (const [method, url] of routes) {
    for (const token of [null, 'not-the-admin-token-but-long-enough-to-be-one']) {
      const reply = await call(app, method, url, token)
      t.equal(reply.status, 401, `${method} ${url} ${token ? 'with a wrong token' : 'without a token'}`)
      t.equal(reply.body.error, 'unauthorized')
      t.equal(reply.headers['www-authenticate'], 'Bearer realm="understudy-admin"')
    }
  }
  t.equal(directory.passkeys.size, 3, 'nothing was removed')
  t.equal(directory.links.length, 1)
})

t.test('removing a passkey answers 204, sends identity.passkey.removed with actor admin, and leaves an audit line', async (t) => {
  const { app, directory, hook, logs } = await adminApp(t)
  const reply = await call(app, 'DELETE', `/admin/identities/${ALICE}/passkeys/a2V5LWFsaWNlLXl1Ymk`)
  t.equal(reply.status, 204)
  t.equal(reply.body, undefined, 'no body')
  t.same([...directory.passkeys.keys()].sort(), ['cHhrLWFsaWNlLXBob25l', 'cHhrLWJvYg'])
  await waitFor(() => hook.received.length === 1, 'the webhook')
  const { id, at, ...event } = hook.received[0]!.event
  t.same(event, { type: 'identity.passkey.removed', instance: 'eu-west', sub: ALICE, passkey: 'a2V5LWFsaWNlLXl1Ymk', actor: 'admin', message: 'a passkey was removed by an administrator (admin API)' })
  t.ok(signedWith(hook.received[0]!, SECRET), 'signed with the receiver\'s secret')
  const audit = logs.filter((l) => l.audit === 'identity.passkey.removed')
  t.equal(audit.length, 1)
  t.match(audit[0], { level: 40, from: '127.0.0.1', sub: ALICE, passkey: 'a2V5LWFsaWNlLXl1Ymk' })
  t.equal((await call(app, 'DELETE', `/admin/identities/${ALICE}/passkeys/a2V5LWFsaWNlLXl1Ymk`)).status, 404, 'a second removal finds nothing')
  t.equal((await call(app, 'GET', `/admin/identities/${ALICE}`)).body.passkeys.length, 1)
})

t.test('unlinking a provider answers 204 and sends identity.unlinked with actor admin', async (t) => {
  const { app, directory, hook } = await adminApp(t)
  t.equal((await call(app, 'DELETE', `/admin/identities/${ALICE}/links/google`)).status, 204)
  t.same(directory.links, [])
  t.equal(await directory.linkedPerson('google', 'g-1234'), undefined, 'the google identity leads to nobody now')
  await waitFor(() => hook.received.length === 1, 'the webhook')
  t.match(hook.received[0]!.event, { type: 'identity.unlinked', sub: ALICE, provider: 'google', actor: 'admin', instance: 'eu-west' })
  t.ok(signedWith(hook.received[0]!, SECRET))
})

t.test('a person, passkey or link the directory does not have is 404 not_found, and nothing is sent', async (t) => {
  const { app, directory, hook } = await adminApp(t)
  const nobody = subjectFor('idp', 'carol')
  const cases: Array<['GET' | 'DELETE', string, string]> = [
    ['GET', `/admin/identities/${nobody}`, 'a person the directory never recorded'],
    ['DELETE', `/admin/identities/${nobody}/passkeys/cHhrLWJvYg`, 'a passkey of someone else, named under a person unknown'],
    ['DELETE', `/admin/identities/${ALICE}/passkeys/cHhrLWJvYg`, 'bob\'s passkey named under alice'],
    ['DELETE', `/admin/identities/${ALICE}/passkeys/bm8tc3VjaC1rZXk`, 'a passkey nobody has'],
    ['DELETE', `/admin/identities/${BOB}/links/google`, 'a link bob does not have'],
    ['DELETE', `/admin/identities/${ALICE}/links/kakao`, 'a provider that is not even configured'],
  ]
  for (const [method, url, what] of cases) {
    const reply = await call(app, method, url)
    t.equal(reply.status, 404, what)
    t.equal(reply.body.error, 'not_found', what)
    t.type(reply.body.error_description, 'string')
  }
  t.ok(directory.passkeys.has('cHhrLWJvYg'), 'bob\'s passkey is still there')
  t.equal(directory.links.length, 1)
  t.same(hook.received, [], 'no webhook for a change that did not happen')
})

t.test('path parameters of the wrong shape are 400 invalid_params naming each one, before the directory is asked', async (t) => {
  const { app, directory } = await adminApp(t)
  const cases: Array<['GET' | 'DELETE', string, string[]]> = [
    ['GET', '/admin/identities/alice', ['/sub']],
    ['GET', `/admin/identities/${ALICE}x`, ['/sub']],
    ['GET', `/admin/identities/${ALICE.slice(0, 42)}.`, ['/sub']],
    ['GET', `/admin/identities/${encodeURIComponent(`${ALICE.slice(0, 40)}' OR`)}`, ['/sub']],
    ['DELETE', `/admin/identities/${ALICE}/passkeys/${encodeURIComponent('a+b/c==')}`, ['/id']],
    ['DELETE', `/admin/identities/${ALICE}/links/-google`, ['/provider']],
    ['DELETE', `/admin/identities/${ALICE}/links/${'g'.repeat(65)}`, ['/provider']],
    ['DELETE', `/admin/identities/short/passkeys/${encodeURIComponent('<script>')}`, ['/sub', '/id']],
  ]
  directory.down = true
  for (const [method, url, paths] of cases) {
    const reply = await call(app, method, url)
    t.equal(reply.status, 400, url)
    t.equal(reply.body.error, 'invalid_params')
    t.same(reply.body.problems.map((p: { path: string }) => p.path), paths, `${url}: ${paths.join(', ')}`)
    t.match(reply.body.problems[0].message, /^must be /)
  }
  const long = await call(app, 'DELETE', `/admin/identities/${ALICE}/passkeys/${'A'.repeat(300)}`)
  t.equal(long.status, 414, 'a parameter longer than the router takes is refused before any route')
  t.equal(long.body.error, 'invalid_request')
})

t.test('while the directory cannot answer, the identity routes are 503 directory_unavailable with Retry-After', async (t) => {
  const { app, directory, hook, logs } = await adminApp(t)
  directory.down = true
  for (const [method, url] of [['GET', `/admin/identities/${ALICE}`], ['DELETE', `/admin/identities/${ALICE}/passkeys/a2V5LWFsaWNlLXl1Ymk`], ['DELETE', `/admin/identities/${ALICE}/links/google`]] as const) {
    const reply = await call(app, method, url)
    t.equal(reply.status, 503, `${method} ${url}`)
    t.same(reply.body, { error: 'directory_unavailable', error_description: 'the directory cannot answer right now; try again shortly' })
    t.equal(reply.headers['retry-after'], String(DIRECTORY_RETRY_AFTER))
  }
  t.equal(logs.filter((l) => l.msg === 'admin request failed' && l.err?.message === 'the directory is down (test)').length, 3, 'each logged at warn with its cause')
  t.equal(logs.filter((l) => l.msg === 'unhandled error').length, 0, 'never an unexpected error')
  directory.down = false
  t.equal((await call(app, 'GET', `/admin/identities/${ALICE}`)).status, 200, 'and answer again once it does')
  t.same(hook.received, [])
})

t.test('with backup login off, the identity routes are 404 backup_login_off', async (t) => {
  const { app } = await adminApp(t, { backupLogin: false })
  for (const [method, url] of [['GET', `/admin/identities/${ALICE}`], ['DELETE', `/admin/identities/${ALICE}/passkeys/cHhrLWJvYg`], ['DELETE', `/admin/identities/${ALICE}/links/google`]] as const) {
    const reply = await call(app, method, url)
    t.equal(reply.status, 404, `${method} ${url}`)
    t.equal(reply.body.error, 'backup_login_off')
    t.match(reply.body.error_description, /backup login is off on this gateway/)
  }
  t.equal((await call(app, 'GET', `/admin/identities/${ALICE}`, null)).status, 401, 'the token is still checked first')
})

t.test('the identity routes spend the one admin budget of the caller\'s address', async (t) => {
  const { app } = await adminApp(t, { rateLimits: { enabled: true, admin: { max: 3, window: '1m' } } })
  t.equal((await call(app, 'GET', '/admin/breakers')).status, 200)
  t.equal((await call(app, 'GET', `/admin/identities/${ALICE}`)).status, 200)
  t.equal((await call(app, 'GET', `/admin/identities/${BOB}`, 'a-wrong-token-spends-the-budget-too-0000')).status, 401)
  const over = await call(app, 'DELETE', `/admin/identities/${ALICE}/links/google`)
  t.equal(over.status, 429)
  t.ok(Number(over.headers['retry-after']) >= 1)
})

t.test('docs/operations.md documents exactly the admin error codes, each with its status', async (t) => {
  const doc = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8')
  const documented = Object.fromEntries([...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map(([, code, status]) => [code, Number(status)]))
  t.same(documented, AdminErrorCodes)
})
