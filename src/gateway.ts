import type { BackupDeps } from './backup/deps.js'
import type { IdentityEvents } from './backup/identity-events.js'
import { rpFor } from './backup/passkeys.js'
import type { Config } from './config/resolve.js'
import type { Directory } from './directory/directory.js'
import { UnderstudyError } from './errors.js'
import type { Keyring } from './keys/keyring.js'
import { silentLogger, type Logger } from './log.js'
import { Metrics } from './observability/metrics.js'
import { ClientRegistry } from './oidc/clients.js'
import type { LoginOutcome } from './observability/metrics.js'
import { FaultInjector } from './resilience/fault-injector.js'
import { OutageEventIds } from './notify/event-id.js'
import { watchOutages } from './notify/outage-events.js'
import { Webhooks, type WebhookOptions } from './notify/webhooks.js'
import { HealthChecks } from './resilience/health-check.js'
import { PolicyOverrides } from './resilience/policy-overrides.js'
import { IncidentRecorder } from './resilience/incident-recorder.js'
import { SharedEventLog, type EventLog } from './resilience/incidents.js'
import { reportRejectedDocuments } from './store/documents.js'
import { watchSealUsage } from './sessions/seal.js'
import { BreakerRegistry } from './resilience/registry.js'
import { cookieNames, type BackupMethod, type CookieNames } from './sessions/session.js'
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
  readonly incidents: IncidentRecorder
  /** Live breaker policy overrides, shared through the store. */
  readonly policies: PolicyOverrides
  /** Run-time fault injection; present only when `chaos.enabled`. */
  readonly faults?: FaultInjector
  readonly metrics: Metrics
  readonly log: Logger
  readonly cookies: CookieNames
  /** Lifetime of the session cookie: the longest outageMaxStaleness of any client (seconds). */
  readonly sessionLifetime: number
  /** Backup login (DESIGN §10): the directory, the policy and the WebAuthn relying party; absent when `backupLogin` is not configured. */
  readonly backup?: BackupDeps
  /** Changes to people's backup login methods, sent to the webhooks subscribed to `identity.*`. */
  readonly identityEvents: IdentityEvents
  /** Counts a login outcome in the metrics and the incident timeline; a backup login also names its method. */
  recordLogin (client: string, provider: string, outcome: LoginOutcome, method?: BackupMethod['method']): void
  /** Current time in seconds since the epoch. */
  now (): number
  close (): Promise<void>
}

export interface GatewayParts {
  config: Config
  keys: Keyring
  store: Store
  connectors: Connector[]
  /** The fault injector the store was built with (`chaos.enabled`); a new one, with no store layer to fail, otherwise. */
  faults?: FaultInjector
  metrics?: Metrics
  log?: Logger
  /** Where incident events go (default: in memory). */
  events?: EventLog
  /** Webhook delivery tuning (tests). */
  webhookOptions?: WebhookOptions
  /** The directory (guarded, migrated), when `backupLogin` is configured. */
  directory?: Directory
  /** Start active health checks (default true). */
  healthChecks?: boolean
  now?: () => number
}

/** Assembles a gateway from its parts; checks that every client's ID-token algorithm has a key. */
export function createGateway (parts: GatewayParts): Gateway {
  const { config, keys, store } = parts
  const faults = config.chaos.enabled ? parts.faults ?? new FaultInjector() : undefined
  const missing = config.clients.filter((c) => !keys.signer(c.idTokenSignedResponseAlg))
  if (missing.length > 0) {
    throw new UnderstudyError('US_ERR_KEYS_INVALID', missing.map((c) => `client ${c.clientId}: no ${c.idTokenSignedResponseAlg} signing key`).join('; '))
  }
  const metrics = parts.metrics ?? new Metrics()
  const log = parts.log ?? silentLogger
  metrics.chaosEnabled.set(faults ? 1 : 0)
  if (faults) log.warn({ chaos: true }, 'chaos is enabled: an admin-token holder can inject faults (/admin/faults); never enable it in production')
  metrics.countSeals(keys.sealingKeys)
  watchSealUsage(keys, (kid, seals) => {
    log.warn({ kid, seals }, 'this process has sealed 2^30 tokens or more under one sealing key; the fleet-wide count must stay far below 2^32 (AES-GCM): put a new sealing key first (certs/README.md)')
  })
  const onRejected = reportRejectedDocuments({ metrics, log })
  const breakers = new BreakerRegistry(config.providers, { metrics, log })
  const regionsOf = new Map(config.providers.map((p) => [p.id, p.regions.map((r) => r.name)]))
  const incidents = new IncidentRecorder(parts.events ?? new SharedEventLog(store.shared, onRejected), { instance: config.region, logger: log, regionsOf: (id) => regionsOf.get(id) ?? [], troubled: (id) => breakers.forProvider(id).some((b) => b.state !== 'closed') })
  breakers.on('transition', (t) => {
    // A failed half-open trial is not news: every reset timeout of a long outage would push the incident's start out of the capped log.
    if (t.from !== 'closed' && t.to !== 'closed') return
    incidents.record({ kind: 'breaker', provider: t.provider, region: t.region, message: `${t.region}: ${t.from} → ${t.to} (${t.reason})`, data: { from: t.from, to: t.to } })
  })
  const policies = new PolicyOverrides(breakers, store.shared, (id) => config.providers.find((p) => p.id === id)?.breaker, { log, onRejected })
  void policies.sync()
  const webhooks = new Webhooks(config.webhooks, { metrics, log }, parts.webhookOptions)
  watchOutages(breakers, config.region, new OutageEventIds(store), (event) => webhooks.emit(event))
  const onFailover = (provider: string, from: string, to: string) => {
    incidents.record({ kind: 'failover', provider, region: from, message: `failed over from ${from} to ${to}`, data: { from, to } })
  }
  const upstreams = new Map(parts.connectors.map((c) => [c.id, new UpstreamRouter(c, breakers.forProvider(c.id), { metrics, log, onFailover, ...(faults ? { faults } : {}) })]))
  for (const connector of parts.connectors) for (const region of connector.regions) region.warm?.()
  const intervals = new Map(config.providers.map((p) => [p.id, p.healthCheck.interval]))
  const checks = parts.healthChecks === false ? undefined : new HealthChecks(upstreams.values(), (id) => intervals.get(id) ?? 5, log)
  const backup: BackupDeps | undefined = config.backupLogin !== undefined && parts.directory !== undefined
    ? { directory: parts.directory, policy: config.backupLogin, rp: rpFor(config.issuer) }
    : undefined
  const identityEvents: IdentityEvents = {
    emit (event) {
      log.info({ event: event.type, actor: event.actor, provider: event.provider }, 'a person\'s backup login methods changed')
      webhooks.emitIdentity(event, config.region)
    },
  }
  return {
    config,
    keys,
    store,
    ...(backup ? { backup } : {}),
    identityEvents,
    clients: new ClientRegistry(config.clients),
    upstreams,
    breakers,
    incidents,
    policies,
    ...(faults ? { faults } : {}),
    metrics,
    log,
    cookies: cookieNames(config.issuer),
    sessionLifetime: Math.max(config.sessions.outageMaxStaleness, ...config.clients.map((c) => c.freshness.outageMaxStaleness)),
    recordLogin (client, provider, outcome, method) {
      metrics.logins.inc({ client, provider, outcome })
      if (outcome === 'backup' && method !== undefined) metrics.backupLogins.inc({ client, method })
      incidents.onLogin(client, provider, outcome)
    },
    now: parts.now ?? (() => Math.floor(Date.now() / 1000)),
    async close () {
      await checks?.stop()
      policies.close()
      webhooks.close()
      await incidents.close()
      breakers.shutdown()
      await Promise.allSettled(parts.connectors.map((c) => c.close()))
      await parts.directory?.close()
      await store.close()
    },
  }
}
