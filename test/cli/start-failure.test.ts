import net from 'node:net'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { startGateway } from '../../src/cli/start.js'
import { validateConfig } from '../../src/config/load.js'
import { freePort } from '../../harness/free-port.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { DEV_KEYS } from '../helpers/stack.js'

/** A port on 127.0.0.1 that something else holds for the rest of `t`. */
async function takenPort (t: Test): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

/** Whether `port` on 127.0.0.1 can be listened on now (nothing holds it). */
async function free (port: number): Promise<boolean> {
  const server = net.createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** The clients connected to `redis` other than the redis-cli asking. */
async function clients (redis: RedisServer): Promise<string[]> {
  return (await redis.cli('CLIENT', 'LIST')).trim().split('\n').filter((line) => line !== '' && !/\bcmd=client\|list\b/.test(line))
}

function config (redis: RedisServer, listen: number, admin: number) {
  return validateConfig({
    issuer: `http://127.0.0.1:${listen}`,
    region: 'test',
    listen: { host: '127.0.0.1', port: listen },
    admin: { host: '127.0.0.1', port: admin },
    keys: DEV_KEYS,
    store: { kind: 'redis', redis: { url: redis.url } },
    rateLimits: { enabled: true },
    providers: [{ id: 'idp', kind: 'oidc', issuer: 'http://127.0.0.1:9', clientId: 'gw', clientSecret: 's', regions: [{ name: 'primary', url: 'http://127.0.0.1:9' }], healthCheck: { interval: 3600 } }],
    clients: [{ clientId: 'shop', clientSecret: 's', redirectUris: ['https://shop.example/cb'], providers: ['idp'] }],
  }, { env: {} })
}

t.test('a start that fails on a port in use closes what it opened: no Redis connection, no listener is left behind', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const logger = createLogger({ level: 'debug', destination: new Writable({ write (_chunk, _enc, done) { done() } }) })

  t.test('the admin port is taken: the public listener, the store and the rate-limit counters are closed', async (t) => {
    const publicPort = await freePort()
    const err = await startGateway(config(redis, publicPort, await takenPort(t)), { logger }).then(() => undefined, (e: unknown) => e)
    t.match(err, { code: 'EADDRINUSE' }, 'the start rejects with the listen error')
    await until(async () => (await clients(redis)).length === 0, 2_000, 'the Redis connections to close').catch(() => undefined)
    t.same(await clients(redis), [], 'no Redis connection left open')
    t.ok(await free(publicPort), 'the public port is free again')
  })

  t.test('the public port is taken: the store and the rate-limit counters are closed', async (t) => {
    const err = await startGateway(config(redis, await takenPort(t), 0), { logger }).then(() => undefined, (e: unknown) => e)
    t.match(err, { code: 'EADDRINUSE' }, 'the start rejects with the listen error')
    await until(async () => (await clients(redis)).length === 0, 2_000, 'the Redis connections to close').catch(() => undefined)
    t.same(await clients(redis), [], 'no Redis connection left open')
  })
})
