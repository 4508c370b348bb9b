import { readFile } from 'node:fs/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildAdminServer, buildPublicServer } from '../../plugins/server.js'
import type { Config } from '../config/resolve.js'
import type { Directory } from '../directory/directory.js'
import { createGateway, type Gateway } from '../gateway.js'
import { DocumentMac } from '../keys/document-mac.js'
import { buildKeyring, loadKeyring, type Keyring } from '../keys/keyring.js'
import { assertSafeKeyFiles } from '../keys/permissions.js'
import { Lifecycle } from '../lifecycle.js'
import { buildInfo } from '../observability/build-info.js'
import { Metrics } from '../observability/metrics.js'
import { PublicStatus } from '../public-status.js'
import { FaultInjector } from '../resilience/fault-injector.js'
import { createRateLimitCounter } from '../rate-limit/counter.js'
import { createStore } from '../store/create.js'
import { reportRejectedDocuments } from '../store/documents.js'
import { BACKUP_TTL_SEC } from '../upstream/cached.js'
import { createConnector } from '../upstream/registry.js'

/** A running gateway: both listeners, their URLs, and a graceful stop. */
export interface RunningGateway {
  gateway: Gateway
  lifecycle: Lifecycle
  publicServer: FastifyInstance
  adminServer: FastifyInstance
  url: string
  adminUrl: string
  /** Drains (readyz 503 for `drainDelayMs`), lets in-flight requests finish, closes listeners and the store. */
  close (drainDelayMs?: number): Promise<void>
}

export interface StartOptions {
  logger: Logger
  /** Keys already in memory (the demo); otherwise read from `config.keys`. */
  keys?: { signing: { keys: object[] }, sealing: { keys: object[] } }
  /** The gateway's clock, seconds since the epoch (tests that need a login to be old without waiting). */
  now?: () => number
  /** The directory to use instead of the one `directory` configures (tests). */
  directory?: Directory
}

/**
 * Builds and starts a gateway from a validated config, and logs the `listening` line.
 * A start that fails part way (a port in use, a bad TLS file, a directory that
 * cannot be opened) closes what it had opened, last first, before it rejects:
 * a Redis connection, a directory or a listener left open would keep the
 * process running instead of exiting with the error. A `directory` passed in
 * is closed with the rest once the gateway holds it, as `close` does.
 */
export async function startGateway (config: Config, options: StartOptions): Promise<RunningGateway> {
  const opened: Array<() => Promise<unknown>> = []
  try {
    return await start(config, options, opened)
  } catch (err) {
    for (const close of opened.reverse()) {
      try {
        await close()
      } catch (closeErr) {
        options.logger.warn({ err: closeErr }, 'closing after a failed start failed')
      }
    }
    throw err
  }
}

/** The start itself; `opened` collects how to close each thing it opens, for a start that fails after it. */
async function start (config: Config, options: StartOptions, opened: Array<() => Promise<unknown>>): Promise<RunningGateway> {
  const { logger } = options
  if (!options.keys) await assertSafeKeyFiles(config)
  const keys: Keyring = options.keys ? await buildKeyring(options.keys.signing, options.keys.sealing) : await loadKeyring(config.keys)
  const metrics = new Metrics()
  const faults = config.chaos.enabled ? new FaultInjector() : undefined
  const store = await createStore(config, { log: logger, metrics, faults })
  opened.push(() => store.close())
  // The breaker's per-call signal is the real deadline; this only bounds calls made outside a breaker (background metadata fetches).
  const connectors = config.providers.map((p) => createConnector(p, {
    timeoutMs: Math.max(10_000, p.breaker.timeout * 1000),
    backups: { shared: store.shared, mac: new DocumentMac(keys, { maxAgeSec: BACKUP_TTL_SEC }), onRejected: reportRejectedDocuments({ metrics, log: logger }) },
    onStale: ({ provider, region, document, err }) => {
      metrics.metadataStale.inc({ provider, region, document })
      logger.warn({ err, provider, region, document }, 'upstream metadata fetch failed; serving the copy kept from before')
    },
  }))
  opened.push(() => Promise.allSettled(connectors.map((c) => c.close())))
  // Imported only when backup login is on: the directory's drivers (pg) are not loaded by a gateway that never uses them.
  const directory = config.backupLogin === undefined ? undefined : options.directory ?? await (await import('../directory/create.js')).createDirectory(config.directory, { log: logger, metrics })
  if (directory && directory !== options.directory) opened.push(() => directory.close())
  const gateway = createGateway({ config, keys, store, faults, connectors, metrics, log: logger, ...(directory ? { directory } : {}), ...(options.now ? { now: options.now } : {}) })
  // The gateway closes all of the above (and a directory passed in) itself.
  opened.splice(0, opened.length, () => gateway.close())
  const lifecycle = new Lifecycle()
  const https = config.listen.tls ? { cert: await readFile(config.listen.tls.cert), key: await readFile(config.listen.tls.key) } : undefined
  const rateLimitCounter = createRateLimitCounter(config, { log: logger, metrics, ...(options.now ? { now: () => options.now!() * 1000 } : {}) })
  opened.push(() => rateLimitCounter.close())
  const publicStatus = new PublicStatus(gateway, lifecycle)
  const publicServer = await buildPublicServer(gateway, lifecycle, { logger, rateLimitCounter, publicStatus, ...(https ? { https } : {}) })
  opened.push(() => publicServer.close())
  const adminServer = await buildAdminServer(gateway, lifecycle, { logger, rateLimitCounter, publicStatus })
  opened.push(() => adminServer.close())
  const url = await publicServer.listen({ host: config.listen.host, port: config.listen.port })
  const adminUrl = await adminServer.listen({ host: config.admin.host, port: config.admin.port })
  lifecycle.markReady()
  // DESIGN §2: whatever logging.level says, the line that tells where the gateway listens is written.
  logger.child({}, { level: 'info' }).info({ url, adminUrl, issuer: config.issuer, region: config.region, ...buildInfo() }, 'listening')
  return {
    gateway,
    lifecycle,
    publicServer,
    adminServer,
    url,
    adminUrl,
    async close (drainDelayMs = 0) {
      lifecycle.drain('shutdown')
      if (drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, drainDelayMs))
      await Promise.allSettled([publicServer.close(), adminServer.close()])
      await rateLimitCounter.close()
      await gateway.close()
    },
  }
}

/** Closes the gateway on SIGTERM/SIGINT: readyz turns 503 at once, in-flight requests finish, exit 0. */
export function closeOnSignals (running: { close (drainDelayMs?: number): Promise<void> }, logger: Logger, drainDelayMs: number): void {
  closeWithGrace({ delay: drainDelayMs + 10_000 }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error; shutting down')
    else logger.info({ signal }, 'shutting down: draining')
    await running.close(signal ? drainDelayMs : 0)
    logger.info({}, 'stopped')
  })
}
