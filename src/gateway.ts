import type { Config } from './config/resolve.js'
import { UnderstudyError } from './errors.js'
import type { Keyring } from './keys/keyring.js'
import { silentLogger, type Logger } from './log.js'
import { Metrics } from './observability/metrics.js'
import { ClientRegistry } from './oidc/clients.js'
import { HealthChecks } from './resilience/health-check.js'
import { BreakerRegistry } from './resilience/registry.js'
import { cookieNames, type CookieNames } from './sessions/session.js'
import type { Store } from './store/store.js'
import type { Connector } from './upstream/connector.js'
import { UpstreamRouter } from './upstream/router.js'

/** The core of one gateway instance: everything the endpoints need, and nothing HTTP. */
export interface Gateway {
  readonly config: Config
  readonly keys: Keyring
  readonly store: Store
  readonly clients: ClientRegistry
  /** Each provider's region router (breakers, failover), by provider id. */
  readonly upstreams: ReadonlyMap<string, UpstreamRouter>
  readonly breakers: BreakerRegistry
  readonly metrics: Metrics
  readonly log: Logger
  readonly cookies: CookieNames
  /** Lifetime of the session cookie: the longest outageMaxStaleness of any client (seconds). */
  readonly sessionLifetime: number
  /** Current time in seconds since the epoch. */
  now (): number
  close (): Promise<void>
}

export interface GatewayParts {
  config: Config
  keys: Keyring
  store: Store
  connectors: Connector[]
  metrics?: Metrics
  log?: Logger
  /** Start active health checks (default true). */
  healthChecks?: boolean
  now?: () => number
}

/** Assembles a gateway from its parts; checks that every client's ID-token algorithm has a key. */
export function createGateway (parts: GatewayParts): Gateway {
  const { config, keys, store } = parts
  const missing = config.clients.filter((c) => !keys.signer(c.idTokenSignedResponseAlg))
  if (missing.length > 0) {
    throw new UnderstudyError('US_ERR_KEYS_INVALID', missing.map((c) => `client ${c.clientId}: no ${c.idTokenSignedResponseAlg} signing key`).join('; '))
  }
  const metrics = parts.metrics ?? new Metrics()
  const log = parts.log ?? silentLogger
  const breakers = new BreakerRegistry(config.providers, { metrics, log })
  const upstreams = new Map(parts.connectors.map((c) => [c.id, new UpstreamRouter(c, breakers.forProvider(c.id), { metrics, log })]))
  for (const connector of parts.connectors) for (const region of connector.regions) region.warm?.()
  const intervals = new Map(config.providers.map((p) => [p.id, p.healthCheck.interval]))
  const checks = parts.healthChecks === false ? undefined : new HealthChecks(upstreams.values(), (id) => intervals.get(id) ?? 5, log)
  return {
    config,
    keys,
    store,
    clients: new ClientRegistry(config.clients),
    upstreams,
    breakers,
    metrics,
    log,
    cookies: cookieNames(config.issuer),
    sessionLifetime: Math.max(config.sessions.outageMaxStaleness, ...config.clients.map((c) => c.freshness.outageMaxStaleness)),
    now: parts.now ?? (() => Math.floor(Date.now() / 1000)),
    async close () {
      await checks?.stop()
      breakers.shutdown()
      await Promise.allSettled(parts.connectors.map((c) => c.close()))
      await store.close()
    },
  }
}
