import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import type { RateLimits } from '../src/config/resolve.js'
import { OAuthError } from '../src/oidc/errors.js'
import type { RateLimitCounter } from '../src/rate-limit/counter.js'
import { authenticatedClient } from './oidc/client-auth.js'

type Limit = 'token' | 'authorize' | 'admin'

export interface RateLimitPluginOptions {
  limits: RateLimits
  counter: RateLimitCounter
  /** Which listener this is: its routes map to different limits. */
  surface: 'public' | 'admin'
}

/** Which limit guards a route, by its URL pattern; routes that match none (probes, discovery, /metrics, userinfo) are not limited. */
function limitFor (surface: RateLimitPluginOptions['surface'], url: string): Limit | undefined {
  if (surface === 'admin') return url.startsWith('/admin/') ? 'admin' : undefined
  if (/^\/(token|revoke|introspect)$/.test(url)) return 'token'
  if (/^\/(authorize|logout)$/.test(url) || url.startsWith('/callback/')) return 'authorize'
  return undefined
}

/**
 * Rate limits (@fastify/rate-limit) on the routes that take credentials or
 * start work upstream. Over a limit the answer is 429 with Retry-After, shaped
 * by the one error handler: OAuth JSON on back-channel and admin routes, an
 * HTML page on browser routes. Must be registered before the routes it guards.
 */
const rateLimitPlugin: FastifyPluginAsync<RateLimitPluginOptions> = async (app, options) => {
  const { limits, counter, surface } = options
  if (!limits.enabled) {
    app.log.warn({ surface }, 'rate limits are disabled (rateLimits.enabled: false)')
    return
  }
  // A counter that fails lets the request through: the Redis counter already falls back to this process, so this is the last resort.
  // The X-RateLimit-* headers go only on the 429 (with Retry-After): on every other answer they were
  // three headers per request that no OAuth client reads (bench/README.md, "Profile findings").
  const quiet = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false }
  await app.register(rateLimit, { global: false, store: storeOf(counter), skipOnError: true, addHeadersOnExceeding: quiet })
  app.addHook('onRoute', (route: RouteOptions) => {
    const limit = limitFor(surface, route.url ?? '')
    if (limit === undefined) return
    const { max, window } = limits[limit]
    const hook = app.rateLimit({
      max,
      timeWindow: window * 1000,
      keyGenerator: (request) => `${limit}:${route.url}:${limit === 'token' ? clientKey(request) : `ip:${request.ip}`}`,
      onExceeded: () => app.gateway.metrics.rateLimited.inc({ limit, route: route.url ?? '' }),
      errorResponseBuilder: (_request, context) => {
        const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
        return new OAuthError('invalid_request', `too many requests; retry after ${seconds} seconds`, { status: 429, retryAfter: seconds })
      },
    }) as unknown as onRequestHookHandler
    // The token limit keys on the authenticated client, so it runs once the body is parsed; the others run before any work.
    const stage = limit === 'token' ? 'preHandler' : 'onRequest'
    route[stage] = [...[route[stage] ?? []].flat() as onRequestHookHandler[], hook]
  })
}

/**
 * A confidential client that authenticates is limited as itself; anything
 * else (a public client, a wrong secret, no client) by its IP address, so
 * that guessing a client's secret never uses up that client's own budget.
 */
function clientKey (request: FastifyRequest): string {
  try {
    const client = authenticatedClient(request)
    if (!client.public) return `client:${client.clientId}`
  } catch {
    // Failed authentication is answered by the route itself; here it only decides the key.
  }
  return `ip:${request.ip}`
}

/** Adapts a counter to @fastify/rate-limit's store interface; keys already name their limit and route. */
function storeOf (counter: RateLimitCounter): FastifyRateLimitStoreCtor {
  return class CounterStore implements FastifyRateLimitStore {
    incr (key: string, callback: (error: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number): void {
      counter.incr(key, timeWindow).then(({ current, ttlMs }) => callback(null, { current, ttl: ttlMs }), (err: Error) => callback(err))
    }

    child (): FastifyRateLimitStore {
      return this
    }
  }
}

/** Rate limits for one listener (DESIGN §9 limits, issue 8). */
export default fp(rateLimitPlugin, { name: 'understudy-rate-limit', fastify: '5.x', dependencies: ['understudy-gateway'] })
