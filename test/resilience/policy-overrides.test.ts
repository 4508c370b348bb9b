import t, { type Test } from 'tap'
import type { Logger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import { FaultInjector } from '../../src/resilience/fault-injector.js'
import { PolicyOverrides } from '../../src/resilience/policy-overrides.js'
import { BreakerRegistry } from '../../src/resilience/registry.js'
import { createRedisStore } from '../../src/store/create.js'
import { loadedConfig } from '../helpers/config.js'
import { noRedis, RedisServer } from '../helpers/redis.js'

const SILENT: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

/**
 * One gateway instance's breakers and policy overrides on the Redis at `url`
 * (the composite store of `store.kind: redis`); `faults` strikes its local
 * Redis layer, as a real Redis outage does.
 */
async function instance (t: Test, url: string) {
  const config = loadedConfig({ store: { kind: 'redis', redis: { url, commandTimeout: '300ms' } } })
  const metrics = new Metrics({ defaults: false })
  const faults = new FaultInjector()
  const store = await createRedisStore(config.store, { log: SILENT, metrics, faults })
  const breakers = new BreakerRegistry(config.providers, { metrics, log: SILENT })
  const configured = config.providers[0]!.breaker
  const overrides = new PolicyOverrides(breakers, store.shared, () => configured, { log: SILENT, onRejected: () => {} })
  t.teardown(async () => {
    overrides.close()
    breakers.shutdown()
    await store.close()
  })
  const primary = breakers.get('kakao', 'primary')!
  const storeDown = () => t.match(faults.add({ target: { store: 'local' }, kind: 'error', duration: '1m' }), { ok: true }, 'the local Redis fails every command')
  return { overrides, primary, configured, storeDown }
}

t.test('while the store is down, the instance that set an override keeps it', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const a = await instance(t, redis.url)
  await a.overrides.set('kakao', 'primary', { ...a.configured, timeout: 0.75 })
  a.storeDown()
  await a.overrides.sync()
  t.equal(a.primary.policy.timeout, 0.75)
  t.equal(a.primary.policySource.kind, 'override')
})

t.test('while the store is down, an instance keeps the override it last read from another instance', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const [a, b] = [await instance(t, redis.url), await instance(t, redis.url)]
  await a.overrides.set('kakao', 'primary', { ...a.configured, timeout: 0.75 })
  await b.overrides.sync()
  t.equal(b.primary.policy.timeout, 0.75, 'the override reached instance B')

  b.storeDown()
  await b.overrides.sync()
  t.equal(b.primary.policy.timeout, 0.75, 'the override stays on B while its store is down')
  t.equal(b.primary.policySource.kind, 'override')
})

t.test('a reset on another instance still reaches an instance whose store answers', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const [a, b] = [await instance(t, redis.url), await instance(t, redis.url)]
  await a.overrides.set('kakao', 'primary', { ...a.configured, timeout: 0.75 })
  await b.overrides.sync()
  await a.overrides.reset('kakao', 'primary')
  await b.overrides.sync()
  t.equal(b.primary.policy.timeout, a.configured.timeout, 'back to the config policy')
  t.equal(b.primary.policySource.kind, 'config')
})
