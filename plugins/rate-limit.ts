import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { RateLimits } from '../src/config/resolve.js'
import { OAuthError } from '../src/oidc/errors.js'
import { addressKey } from '../src/rate-limit/address.js'
import type { Hit, RateLimitCounter } from '../src/rate-limit/counter.js'
import { authenticatedClient } from './oidc/client-auth.js'

type Limit = 'token' | 'authorize' | 'admin' | 'status'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Charges a new upstream transaction to the request's client address (the
     * `authorize` limit); a 429 OAuthError once the address is over it. Called
     * by a route once it knows the request is about to send the browser upstream.
     */
    chargeUpstreamTransaction (request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
}

export interface RateLimitPluginOptions {
  limits: RateLimits
  counter: RateLimitCounter
  /** Which listener this is: its routes map to different limits. */
  surface: 'public' | 'admin'
}

/** The one budget failed client authentications spend, whichever back-channel route they hit. */
const CLIENT_AUTHENTICATION = 'client-authentication'
/** The one budget every /admin/* request of an address spends, whichever admin route it hits. */
const ADMIN_ROUTES = 'admin-routes'
/** The one budget the public status routes share; the probes (/livez, /readyz) are not among them: a kubelet or load balancer is never refused. */
const STATUS_ROUTES = 'status-routes'
const STATUS_PATHS = new Set(['/status', '/status.json', '/healthz'])

/**
 * Per-address rate limits on what costs the upstream or guesses a secret, and
 * on the public status, never on a login that needs neither, so that a carrier
 * NAT with thousands of phones behind one address is never locked out
 * (SECURITY.md, "Rate limits"):
 * - `authorize`: each new upstream transaction at /authorize (charged by the
 *   route, see chargeUpstreamTransaction) and each /callback/:provider; an SSO or
 *   cached login, which needs no upstream call, is not counted;
 * - `token`: failed client authentications at /token, /revoke, /introspect;
 *   once an address is over, no confidential client authenticates from it until
 *   the window ends, so a right guess is refused like the wrong ones;
 * - `admin`: every /admin/* request on the admin port, before the token check;
 * - `status`: the public /status, /status.json and /healthz, one budget for
 *   the three; their answers come from a snapshot (PublicStatus), so this limit
 *   bounds only what one address spends on rendering and bandwidth.
 * Addresses are keyed per IPv4 address and per IPv6 /64 (addressKey). Over a
 * limit the answer is 429 with Retry-After, shaped by the one error handler.
 */
const rateLimitPlugin: FastifyPluginAsync<RateLimitPluginOptions> = async (app, options) => {
  const { limits, counter, surface } = options
  if (!limits.enabled) {
    app.log.warn({ surface }, 'rate limits are disabled (rateLimits.enabled: false)')
    app.decorate('chargeUpstreamTransaction', async () => undefined)
    return
  }
  const metrics = app.gateway.metrics

  /** Counts (or, with `peek`, reads) the address's hits on `bucket`; a counter that fails lets the request through (the Redis counter already falls back to this process). */
  const hits = async (request: FastifyRequest, limit: Limit, bucket: string, peek = false): Promise<Hit | undefined> => {
    const key = `${limit}:${bucket}:${addressKey(request.ip)}`
    try {
      return peek ? await counter.peek(key) : await counter.incr(key, limits[limit].window * 1000)
    } catch (err) {
      request.log.warn({ err, limit }, 'rate-limit counter failed; the request is let through')
      return undefined
    }
  }

  /** The 429: Retry-After and X-RateLimit-* on it only (on every other answer they were headers no OAuth client reads). */
  const refuse = (request: FastifyRequest, reply: FastifyReply, limit: Limit, hit: Hit): never => {
    metrics.rateLimited.inc({ limit, route: request.routeOptions.url ?? '' })
    const seconds = Math.max(1, Math.ceil(hit.ttlMs / 1000))
    reply.headers({ 'x-ratelimit-limit': String(limits[limit].max), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(seconds) })
    throw new OAuthError('invalid_request', `too many requests; retry after ${seconds} seconds`, { status: 429, retryAfter: seconds })
  }

  /** Charges every request of the route to its address, in the route's own budget or in `bucket`, which several routes share. */
  const perRequest = (limit: Limit, bucket?: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const hit = await hits(request, limit, bucket ?? request.routeOptions.url ?? '')
    if (hit !== undefined && hit.current > limits[limit].max) refuse(request, reply, limit, hit)
  }

  /** Charges failed client authentications to the address, and refuses any authentication from an address over its budget. */
  const clientAuthentication = async (request: FastifyRequest, reply: FastifyReply) => {
    let confidential: boolean
    try {
      confidential = !authenticatedClient(request).public
    } catch {
      // The route answers the failure itself (invalid_client); here it only spends the address's budget.
      const hit = await hits(request, 'token', CLIENT_AUTHENTICATION)
      if (hit !== undefined && hit.current > limits.token.max) refuse(request, reply, 'token', hit)
      return
    }
    // A public client authenticates with nothing secret: nothing to guess, nothing to count.
    if (!confidential) return
    const hit = await hits(request, 'token', CLIENT_AUTHENTICATION, true)
    if (hit !== undefined && hit.current >= limits.token.max) refuse(request, reply, 'token', hit)
  }

  app.decorate('chargeUpstreamTransaction', async (request: FastifyRequest, reply: FastifyReply) => {
    const hit = await hits(request, 'authorize', request.routeOptions.url ?? '')
    if (hit !== undefined && hit.current > limits.authorize.max) refuse(request, reply, 'authorize', hit)
  })

  app.addHook('onRoute', (route: RouteOptions) => {
    const url = route.url ?? ''
    if (surface === 'admin') {
      // One budget for every admin route: a guesser gains nothing by spreading tries over the routes.
      if (url.startsWith('/admin/')) route.onRequest = [...[route.onRequest ?? []].flat(), perRequest('admin', ADMIN_ROUTES)]
      return
    }
    if (url.startsWith('/callback/')) route.onRequest = [...[route.onRequest ?? []].flat(), perRequest('authorize')]
    if (STATUS_PATHS.has(url)) route.onRequest = [...[route.onRequest ?? []].flat(), perRequest('status', STATUS_ROUTES)]
    // Client authentication needs the parsed body: a preHandler.
    if (/^\/(token|revoke|introspect)$/.test(url)) route.preHandler = [...[route.preHandler ?? []].flat(), clientAuthentication]
  })
}

/** Rate limits for one listener (DESIGN §9 limits). */
export default fp(rateLimitPlugin, { name: 'understudy-rate-limit', fastify: '5.x', dependencies: ['understudy-gateway'] })
