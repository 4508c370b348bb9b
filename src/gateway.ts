import type { Config } from './config/resolve.js'
import { UnderstudyError } from './errors.js'
import type { Keyring } from './keys/keyring.js'
import { Metrics } from './observability/metrics.js'
import { ClientRegistry } from './oidc/clients.js'
import { cookieNames, type CookieNames } from './sessions/session.js'
import type { Store } from './store/store.js'
import type { Connector } from './upstream/connector.js'

/** The core of one gateway instance: everything the endpoints need, and nothing HTTP. */
export interface Gateway {
  readonly config: Config
  readonly keys: Keyring
  readonly store: Store
  readonly clients: ClientRegistry
  readonly connectors: ReadonlyMap<string, Connector>
  readonly metrics: Metrics
  readonly cookies: CookieNames
  /** Lifetime of the session cookie: the longest outageMaxStaleness of any client (seconds). */
  readonly sessionLifetime: number
  /** Current time in seconds since the epoch. */
  now (): number
  close (): Promise<void>
}

/** Assembles a gateway from its parts; checks that every client's ID-token algorithm has a key. */
export function createGateway (parts: { config: Config, keys: Keyring, store: Store, connectors: Connector[], metrics?: Metrics, now?: () => number }): Gateway {
  const { config, keys, store } = parts
  const missing = config.clients.filter((c) => !keys.signer(c.idTokenSignedResponseAlg))
  if (missing.length > 0) {
    throw new UnderstudyError('US_ERR_KEYS_INVALID', missing.map((c) => `client ${c.clientId}: no ${c.idTokenSignedResponseAlg} signing key`).join('; '))
  }
  const connectors = new Map(parts.connectors.map((c) => [c.id, c]))
  const clock = parts.now ?? (() => Math.floor(Date.now() / 1000))
  return {
    config,
    keys,
    store,
    clients: new ClientRegistry(config.clients),
    connectors,
    metrics: parts.metrics ?? new Metrics(),
    cookies: cookieNames(config.issuer),
    sessionLifetime: Math.max(config.sessions.outageMaxStaleness, ...config.clients.map((c) => c.freshness.outageMaxStaleness)),
    now: clock,
    async close () {
      await Promise.allSettled([...connectors.values()].map((c) => c.close()))
      await store.close()
    },
  }
}
