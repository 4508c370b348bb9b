import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { buildInfo } from './build-info.js'
import type { SealingKey } from '../keys/keyring.js'

export type LoginOutcome = 'upstream' | 'sso' | 'cached' | 'backup' | 'unavailable' | 'error'
export type BreakerStateValue = 0 | 1 | 2

/**
 * The contract metrics (DESIGN §7), one registry per gateway instance so that
 * several gateways in one process (tests) do not share counters.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly logins = new Counter({ name: 'understudy_logins_total', help: 'Logins answered, by client, provider and outcome (upstream, sso, cached, backup, unavailable, error).', labelNames: ['client', 'provider', 'outcome'] as const, registers: [this.registry] })
  readonly backupLogins = new Counter({ name: 'understudy_backup_logins_total', help: 'Backup logins answered (acr backup), by client and method (passkey, linked); each is also a logins_total outcome backup.', labelNames: ['client', 'method'] as const, registers: [this.registry] })
  readonly breakerState = new Gauge({ name: 'understudy_breaker_state', help: 'Circuit breaker state per provider region: 0 closed, 1 half-open, 2 open.', labelNames: ['provider', 'region'] as const, registers: [this.registry] })
  readonly upstreamDuration = new Histogram({ name: 'understudy_upstream_request_duration_seconds', help: 'Duration of upstream calls by provider, region and operation.', labelNames: ['provider', 'region', 'operation'] as const, buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: [this.registry] })
  readonly failovers = new Counter({ name: 'understudy_upstream_failovers_total', help: 'Calls that moved from one upstream region to the next.', labelNames: ['provider', 'from', 'to'] as const, registers: [this.registry] })
  readonly upstreamBusy = new Counter({ name: 'understudy_upstream_busy_total', help: 'Code exchanges refused at once (US_ERR_UPSTREAM_BUSY, temporarily_unavailable to the relying party) because the provider region already had its capacity in flight; the gateway\'s own load, not counted against the region\'s breaker.', labelNames: ['provider', 'region'] as const, registers: [this.registry] })
  readonly metadataStale = new Counter({ name: 'understudy_upstream_metadata_stale_total', help: 'Upstream discovery or JWKS fetches that failed and were answered with the copy kept from before.', labelNames: ['provider', 'region', 'document'] as const, registers: [this.registry] })
  readonly revalidations = new Counter({ name: 'understudy_revalidations_total', help: 'Revalidations of stale grants with the upstream, by provider and result (vouched, refused, unavailable).', labelNames: ['provider', 'result'] as const, registers: [this.registry] })
  readonly webhookDeliveries = new Counter({ name: 'understudy_webhook_deliveries_total', help: 'Webhook deliveries (outage and identity events) by event and outcome (delivered, retry, failed, dropped).', labelNames: ['event', 'outcome'] as const, registers: [this.registry] })
  readonly storeErrors = new Counter({ name: 'understudy_store_errors_total', help: 'Store operations that failed, by store (local, a peer, the in-process fallback).', labelNames: ['store'] as const, registers: [this.registry] })
  readonly directoryErrors = new Counter({ name: 'understudy_directory_errors_total', help: 'Directory calls (backup login data) that failed, by database (primary; replica: the login reads): a timeout, a lost connection or a database error. Calls refused at once while the database is known to be down are not counted.', labelNames: ['database'] as const, registers: [this.registry] })
  readonly revocationFailOpen = new Counter({ name: 'understudy_store_revocation_fail_open_total', help: 'Revocation checks answered "not revoked" because no store could be reached.', registers: [this.registry] })
  readonly rateLimited = new Counter({ name: 'understudy_rate_limited_total', help: 'Requests refused with 429 by a rate limit, by limit (token, authorize, admin, status) and route.', labelNames: ['limit', 'route'] as const, registers: [this.registry] })
  readonly storeEvictions = new Counter({ name: 'understudy_store_evictions_total', help: 'Live entries the in-process store forgot before they expired because its bound for that kind (claims, tombstones, logouts, families, latest) was reached; the soonest to expire go first.', labelNames: ['kind'] as const, registers: [this.registry] })
  readonly peerDropped = new Counter({ name: 'understudy_store_peer_writes_dropped_total', help: 'Writes to an unreachable peer dropped because its queue was full.', labelNames: ['peer'] as const, registers: [this.registry] })
  readonly documentsRejected = new Counter({ name: 'understudy_store_documents_rejected_total', help: 'Documents read back from the store (upstream discovery and JWKS backups, breaker policies, incident events) that failed their check and were ignored, by kind.', labelNames: ['kind'] as const, registers: [this.registry] })
  #sealingKeys: readonly SealingKey[] = []
  // Read at scrape time from the keyring's counts: sealing a token only bumps a number.
  readonly seals = new Counter({ name: 'understudy_seals_total', help: 'Tokens this process sealed (AES-GCM, random IVs) under each sealing key; the fleet-wide sum per kid must stay far below 2^32.', labelNames: ['kid'] as const, registers: [this.registry], collect: () => this.#collectSeals() })
  readonly chaosEnabled = new Gauge({ name: 'understudy_chaos_enabled', help: '1 when chaos.enabled lets the admin API inject faults (/admin/faults), 0 otherwise; production should always read 0.', registers: [this.registry] })
  readonly build = new Gauge({ name: 'understudy_build_info', help: 'Always 1; its labels say what runs: the gateway version and the Node.js version.', labelNames: ['version', 'node'] as const, registers: [this.registry] })

  constructor (options: { defaults?: boolean } = {}) {
    if (options.defaults ?? true) collectDefaultMetrics({ register: this.registry })
    this.build.set(buildInfo(), 1)
  }

  /** Exposes the seal counts of these keys as `understudy_seals_total{kid}`. */
  countSeals (keys: readonly SealingKey[]): void {
    this.#sealingKeys = keys
  }

  #collectSeals (): void {
    this.seals.reset()
    for (const key of this.#sealingKeys) this.seals.inc({ kid: key.kid }, key.seals)
  }

  /** The Prometheus text exposition. */
  async text (): Promise<string> {
    return this.registry.metrics()
  }
}
