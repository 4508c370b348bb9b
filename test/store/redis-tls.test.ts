import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ConfigError, validateConfig } from '../../src/config/load.js'
import { isUnderstudyError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { createRedisStore } from '../../src/store/create.js'
import { RedisStore } from '../../src/store/redis.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { freeTcpPort, issue, noOpenssl, testCa, type TestCa } from '../helpers/tls.js'
import { storeConformance } from './conformance.js'

const TIMEOUTS = { commandTimeoutMs: 500, connectTimeoutMs: 1_000 }
/** The ACL user the gateway logs in as, and its password. */
const USER = 'gateway'
const PASSWORD = 'gateway-secret'

interface TlsRedis { server: RedisServer, tlsPort: number, ca: TestCa }

/**
 * A real redis-server with a TLS port whose certificate names localhost only
 * (no IP address), the default user behind requirepass and an ACL user for
 * the gateway. Its plain port stays for the helper's readiness check and the
 * assertions' redis-cli.
 */
async function startTlsRedis (t: Test, options: { clientCertificates?: boolean } = {}): Promise<TlsRedis> {
  const ca = await testCa(t, 'redis-ca')
  const leaf = await issue(ca, 'redis', ['localhost'], 'serverAuth')
  const tlsPort = await freeTcpPort()
  const server = await RedisServer.start(t, {
    password: 'default-user-secret',
    args: [
      '--tls-port', String(tlsPort), '--tls-cert-file', leaf.cert, '--tls-key-file', leaf.key, '--tls-ca-cert-file', ca.cert,
      '--tls-auth-clients', options.clientCertificates ? 'yes' : 'no',
      '--user', USER, 'on', `>${PASSWORD}`, '~understudy:*', '&*', '+@all',
    ],
  })
  return { server, tlsPort, ca }
}

/** A RedisStore opened on `url` with `tls`, closed in `t`'s teardown. */
async function open (t: Test, url: string, tls?: { ca?: string, servername?: string, cert?: string, key?: string }): Promise<RedisStore> {
  const store = await RedisStore.open({ url, ...(tls ? { tls } : {}), ...TIMEOUTS, log: silentLogger })
  t.teardown(() => store.close())
  return store
}

/** Asserts that `store` never got a connection and that its commands fail. */
async function refused (t: Test, store: RedisStore, why: string): Promise<void> {
  t.equal(store.ready, false, `${why}: no connection`)
  await t.rejects(store.isRevoked(randomUUID()), `${why}: commands fail`)
}

t.test('Redis over TLS', { skip: noRedis || noOpenssl }, async (t) => {
  const redis = await startTlsRedis(t)
  const url = `rediss://${USER}:${PASSWORD}@localhost:${redis.tlsPort}`
  storeConformance(t, 'redis over rediss:// with a password', () => RedisStore.open({ url, tls: { ca: redis.ca.cert }, ...TIMEOUTS, log: silentLogger }))

  t.test('over rediss:// with a user, its password and tls.ca the store writes to the TLS port', async (t) => {
    const store = await open(t, url, { ca: redis.ca.cert })
    t.equal(store.ready, true, 'connected over TLS')
    const id = randomUUID()
    await store.revoke(id, 60)
    t.equal(await store.isRevoked(id), true)
    t.equal((await redis.server.cli('exists', `understudy:revoked:{${id}}`)).trim(), '1', 'the tombstone is in that Redis')
    const wrongPassword = await open(t, `rediss://${USER}:not-the-password@localhost:${redis.tlsPort}`, { ca: redis.ca.cert })
    await t.rejects(wrongPassword.isRevoked(id), 'a wrong password is refused over TLS too')
  })

  t.test('a server certificate from another CA is refused, and so is one the system CAs do not know', async (t) => {
    const other = await testCa(t, 'other-ca')
    await refused(t, await open(t, url, { ca: other.cert }), 'another CA')
    await refused(t, await open(t, url), 'no tls.ca (the system CAs)')
  })

  t.test('a certificate that does not name the URL host is refused unless tls.servername names it', async (t) => {
    const byAddress = `rediss://${USER}:${PASSWORD}@127.0.0.1:${redis.tlsPort}`
    await refused(t, await open(t, byAddress, { ca: redis.ca.cert }), 'the certificate names localhost, not 127.0.0.1')
    await refused(t, await open(t, byAddress, { ca: redis.ca.cert, servername: 'redis.example' }), 'a servername the certificate does not name')
    const store = await open(t, byAddress, { ca: redis.ca.cert, servername: 'localhost' })
    t.equal(store.ready, true, 'servername localhost: connected')
    const id = randomUUID()
    await store.revoke(id, 60)
    t.equal(await store.isRevoked(id), true)
  })

  t.test('a missing or empty tls file stops the connection with its path and a config error code', async (t) => {
    const missing = join(redis.ca.dir, 'no-such-ca.crt')
    const empty = join(redis.ca.dir, 'empty-ca.crt')
    await writeFile(empty, '')
    for (const [file, message] of [[missing, `store.redis.tls.ca: cannot read ${missing}`], [empty, `store.redis.tls.ca: ${empty} holds no PEM`]] as const) {
      const err = await RedisStore.open({ url, tls: { ca: file }, ...TIMEOUTS, log: silentLogger }).catch((e: unknown) => e)
      t.ok(isUnderstudyError(err) && err.code === 'US_ERR_CONFIG_INVALID', 'US_ERR_CONFIG_INVALID')
      t.equal((err as Error).message, message)
    }
  })
})

t.test('a Redis that requires client certificates accepts tls.cert and tls.key and refuses a client without them', { skip: noRedis || noOpenssl }, async (t) => {
  const redis = await startTlsRedis(t, { clientCertificates: true })
  const url = `rediss://${USER}:${PASSWORD}@localhost:${redis.tlsPort}`
  const client = await issue(redis.ca, 'gateway', ['understudy-gateway'], 'clientAuth')
  const store = await open(t, url, { ca: redis.ca.cert, ...client })
  t.equal(store.ready, true, 'connected with the client certificate')
  const id = randomUUID()
  await store.revoke(id, 60)
  t.equal(await store.isRevoked(id), true)
  await refused(t, await open(t, url, { ca: redis.ca.cert }), 'no client certificate')
  const stranger = await issue(await testCa(t, 'stranger-ca'), 'stranger', ['stranger'], 'clientAuth')
  await refused(t, await open(t, url, { ca: redis.ca.cert, ...stranger }), 'a client certificate from another CA')
})

t.test("the gateway's store copies tombstones to a peer over rediss:// with a password, and reads them back from it", { skip: noRedis || noOpenssl }, async (t) => {
  const local = await RedisServer.start(t)
  const peer = await startTlsRedis(t)
  // Through the config, as an operator writes it: the CA file relative to the config's folder.
  const config = validateConfig({
    issuer: 'https://login.example.com',
    keys: { signing: 'keys/signing.jwks.json', sealing: 'keys/sealing.jwks.json' },
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
    store: {
      kind: 'redis',
      redis: {
        url: local.url,
        peers: [`rediss://${USER}:\${PEER_PASSWORD}@localhost:${peer.tlsPort}`],
        tls: { ca: 'redis-ca.crt' },
        commandTimeout: '300ms',
        peerTimeout: '300ms',
      },
    },
  }, { baseDir: peer.ca.dir, env: { PEER_PASSWORD: PASSWORD } })
  t.equal(config.store.redis?.tls?.ca, peer.ca.cert, 'tls.ca is resolved against the config\'s folder')
  const store = await createRedisStore(config.store, { log: silentLogger, metrics: new Metrics({ defaults: false }) })
  t.teardown(() => store.close())
  const id = randomUUID()
  await store.revoke(id, 60)
  await until(async () => (await peer.server.cli('exists', `understudy:revoked:{${id}}`)).trim() === '1', 5_000, 'the tombstone reaches the peer over TLS')
  await local.cli('del', `understudy:revoked:{${id}}`)
  t.equal(await store.isRevoked(id), true, 'a local miss is answered by the peer over TLS')
})

t.test('check-config refuses TLS settings and credentials that cannot work', async (t) => {
  const base = {
    issuer: 'https://login.example.com',
    keys: { signing: 'keys/signing.jwks.json', sealing: 'keys/sealing.jwks.json' },
    providers: [{ id: 'kakao', kind: 'oidc', issuer: 'https://kauth.kakao.com', clientId: 'id', regions: [{ name: 'primary', url: 'https://kauth.kakao.com' }] }],
    clients: [{ clientId: 'shop', redirectUris: ['https://shop.example/callback'], providers: ['kakao'] }],
  }
  const problems = (redis: Record<string, unknown>, env: Record<string, string> = {}) => {
    try {
      validateConfig({ ...base, store: { kind: 'redis', redis } }, { env })
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems.map((p) => `${p.path}: ${p.message}`)
    }
  }
  const sentinels = { sentinels: [{ host: 's1', port: 26379 }], name: 'understudy' }
  t.same(problems({ url: 'rediss://cache:6380', peers: ['rediss://:p@peer:6380'], tls: { ca: 'ca.pem', servername: 'redis.internal' } }), [], 'tls with rediss:// URLs is fine')
  t.same(problems({ ...sentinels, username: 'gateway', password: 'p', peers: ['rediss://gateway:p@peer:6380'], tls: { ca: 'ca.pem' } }), [], 'sentinels with an ACL user and a TLS peer are fine')
  t.match(problems({ url: 'redis://cache:6379', tls: { ca: 'ca.pem' } }), [/^\/store\/redis\/tls: applies to rediss:\/\/ URLs/], 'tls without any rediss:// URL')
  t.match(problems({ url: 'rediss://cache:6380', tls: { cert: 'client.pem' } }), [/^\/store\/redis\/tls: a client certificate needs both cert and key/], 'a client certificate without its key')
  t.match(problems({ url: 'redis://cache:6379', username: 'gateway' }), [/^\/store\/redis\/username: username is for sentinels/, /^\/store\/redis\/username: a user needs its password/])
  t.match(problems({ ...sentinels, username: 'gateway' }), [/^\/store\/redis\/username: a user needs its password/])
  const emptyPassword = problems({ ...sentinels, peers: ['rediss://gateway:${PEER_PASSWORD}@peer:6380'] }, { PEER_PASSWORD: '' })
  t.match(emptyPassword, [/^\/store\/redis\/peers\/0: names a user but no password/], 'a peer URL whose password variable is empty')
  t.notOk(emptyPassword.some((p) => p.includes('peer:6380')), 'the message does not repeat the URL')
  t.match(problems({ url: 'redis://' }), [/^\/store\/redis\/url: not a Redis URL/])
})
