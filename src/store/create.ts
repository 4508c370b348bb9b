import { redisTuning, type Config } from '../config/resolve.js'
import { UnderstudyError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../observability/metrics.js'
import type { FaultInjector } from '../resilience/fault-injector.js'
import { RevocationFailOpen } from './fail-open.js'
import { GuardedStore } from './guarded.js'
import { MemoryStore } from './memory.js'
import { Peer } from './peer.js'
import { endpointOf, peerTarget, redisTarget } from './redis-connection.js'
import { RedisStore } from './redis.js'
import { ResilientStore } from './resilient.js'
import type { Store } from './store.js'

/** How long a Redis breaker stays open before its background probe tries again (ms). */
const BREAKER_RESET_MS = 1_000

export interface StoreDeps {
  log: Logger
  metrics: Metrics
  /** With `chaos.enabled`: store faults strike the local Redis layer, below the in-process fallback. */
  faults?: FaultInjector
}

/** The store named by `store.kind`. */
export async function createStore (config: Config, deps: StoreDeps): Promise<Store> {
  const { log } = deps
  switch (config.store.kind) {
    case 'memory':
      log.info({ store: 'memory' }, 'using the in-memory store: single instance only')
      return new MemoryStore({ metrics: deps.metrics, log })
    case 'redis':
      return createRedisStore(config.store, deps)
    default:
      throw new UnderstudyError('US_ERR_CONFIG_INVALID', `store kind ${config.store.kind} is not available in this build`)
  }
}

/**
 * The Redis-backed store: the local Redis (standalone, Sentinel or Cluster)
 * and each peer behind its own breaker, with the in-process fallback. Starts
 * even when none of them is reachable: they are picked up when they answer.
 */
export async function createRedisStore (store: Config['store'], deps: StoreDeps): Promise<ResilientStore> {
  const { log, metrics } = deps
  const tuning = redisTuning(store)
  const peerUrls = store.redis?.peers ?? []
  const [local, ...peerStores] = await Promise.all([
    RedisStore.open({ ...redisTarget(store.redis ?? {}), keyPrefix: tuning.keyPrefix, commandTimeoutMs: tuning.commandTimeoutMs, connectTimeoutMs: tuning.connectTimeoutMs, log }),
    ...peerUrls.map((peerUrl) => RedisStore.open({ ...peerTarget(peerUrl, store.redis ?? {}), keyPrefix: tuning.keyPrefix, commandTimeoutMs: tuning.peerTimeoutMs, connectTimeoutMs: tuning.connectTimeoutMs, log })),
  ])
  const guard = (s: RedisStore, label: string, timeoutMs: number, beforeCommand?: (signal: AbortSignal) => Promise<void>) => new GuardedStore(s, { label, timeoutMs, resetTimeoutMs: BREAKER_RESET_MS, metrics, log, beforeCommand })
  const peers = peerStores.map((s, i) => {
    const endpoint = endpointOf(peerUrls[i]!)
    return new Peer(endpoint, guard(s, `peer:${endpoint}`, tuning.peerTimeoutMs), { queueLimit: tuning.peerQueueLimit, metrics })
  })
  log.info({ store: 'redis', redis: local!.target, peers: peers.map((p) => p.endpoint) }, 'using the redis store')
  return new ResilientStore({
    local: guard(local!, 'local', tuning.commandTimeoutMs, deps.faults?.storeHook('local')),
    memory: new MemoryStore({ metrics, log }),
    peers,
    failOpen: new RevocationFailOpen({ boundMs: tuning.revocationFailOpenMs, metrics, log }),
    log,
  })
}
