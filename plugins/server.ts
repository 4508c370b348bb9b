import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import type { Server as HttpsServer } from 'node:https'
import Fastify, { LogController, type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Logger as PinoLogger } from 'pino'
import type { Config } from '../src/config/resolve.js'
import type { Gateway } from '../src/gateway.js'
import type { Lifecycle } from '../src/lifecycle.js'
import type { PublicStatus } from '../src/public-status.js'
import { frameworkErrors, installErrorHandler } from './errors.js'
import admin from './admin.js'
import gatewayPlugin from './gateway.js'
import metrics from './metrics.js'
import status from './status.js'
import health from './health.js'
import backupRoutes from './backup/routes.js'
import authorizeRoutes from './oidc/authorize.js'
import discovery from './oidc/discovery.js'
import logoutRoutes from './oidc/logout.js'
import tokenRoutes from './oidc/token.js'
import userinfoRoutes from './oidc/userinfo.js'
import rateLimit from './rate-limit.js'
import { accessLog, requestLogger } from './request-logger.js'
import { MemoryCounter, type RateLimitCounter } from '../src/rate-limit/counter.js'

/** Deliberate limits: over them the answer is 4xx (413, 414, 431), never 5xx. */
export const LIMITS = {
  bodyBytes: 64 * 1024,
  headerBytes: 16 * 1024,
  urlParamLength: 256,
}

export interface ServerOptions {
  logger: PinoLogger
  https?: { cert: Buffer, key: Buffer }
  /** Rate-limit counters shared by both listeners (Redis with store.kind redis); default: this listener's own, in memory. */
  rateLimitCounter?: RateLimitCounter
  /** Public health and status snapshots, shared by both listeners. */
  publicStatus: PublicStatus
}

/** Creates a Fastify instance with the timeouts, limits and logging every listener shares. */
function createFastify (options: Pick<ServerOptions, 'logger' | 'https'>, trustProxy: FastifyServerOptions['trustProxy'], logging: Config['logging']): FastifyInstance {
  const app = fastifyWithLimits(options, trustProxy)
  if (logging.requests) app.addHook('onResponse', accessLog(app.log))
  return app
}

function fastifyWithLimits (options: Pick<ServerOptions, 'logger' | 'https'>, trustProxy: FastifyServerOptions['trustProxy']): FastifyInstance {
  const base: FastifyServerOptions = {
    loggerInstance: options.logger,
    trustProxy,
    bodyLimit: LIMITS.bodyBytes,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: LIMITS.urlParamLength, ignoreTrailingSlash: false },
    genReqId: requestId,
    childLoggerFactory: requestLogger,
    // One access line at most (logging.requests), written by accessLog: Fastify's own two cost a sixth of an SSO flow.
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors,
  }
  if (options.https) {
    const https: FastifyHttpsOptions<HttpsServer> = { ...(base as FastifyHttpsOptions<HttpsServer>), https: { cert: options.https.cert, key: options.https.key, maxHeaderSize: LIMITS.headerBytes } }
    return Fastify(https) as unknown as FastifyInstance
  }
  return Fastify({ ...base, http: { maxHeaderSize: LIMITS.headerBytes } })
}

/** The public OIDC listener: discovery, JWKS, authorize, callback, token, userinfo, revoke, introspect, logout, probes. */
export async function buildPublicServer (gateway: Gateway, lifecycle: Lifecycle, options: ServerOptions): Promise<FastifyInstance> {
  const app = createFastify(options, gateway.config.trustProxy, gateway.config.logging)
  installErrorHandler(app)
  await app.register(gatewayPlugin, { gateway, lifecycle, publicStatus: options.publicStatus })
  await app.register(rateLimit, { limits: gateway.config.rateLimits, counter: options.rateLimitCounter ?? new MemoryCounter(), surface: 'public' })
  await app.register(cookie)
  await app.register(formbody, { bodyLimit: LIMITS.bodyBytes })
  // A callback hook, not an async one: no promise and microtask hop on every response.
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff')
    done(null, payload)
  })
  await app.register(discovery)
  await app.register(authorizeRoutes)
  await app.register(tokenRoutes)
  await app.register(userinfoRoutes)
  await app.register(logoutRoutes)
  await app.register(backupRoutes)
  await app.register(health)
  await app.register(status)
  return app
}

/** The admin listener: probes, `/metrics` (open), and the admin API (bearer `admin.token`). */
export async function buildAdminServer (gateway: Gateway, lifecycle: Lifecycle, options: ServerOptions): Promise<FastifyInstance> {
  // An internal port: nothing in front of it may say who the client is, so X-Forwarded-For is never read
  // here, and the rate limit, the audit log and the incident events see the peer's own address.
  const app = createFastify({ logger: options.logger }, false, gateway.config.logging)
  installErrorHandler(app)
  await app.register(gatewayPlugin, { gateway, lifecycle, publicStatus: options.publicStatus })
  await app.register(rateLimit, { limits: gateway.config.rateLimits, counter: options.rateLimitCounter ?? new MemoryCounter(), surface: 'admin' })
  await app.register(health)
  await app.register(metrics)
  await app.register(admin)
  return app
}

function requestId (request: IncomingMessage): string {
  const incoming = request.headers['x-request-id']
  return typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID()
}
