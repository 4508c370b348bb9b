import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { addressKey } from '../src/rate-limit/address.js'
import { AdminError } from './errors.js'

/** At most one warning per client address (IPv6: per /64) and minute: a guessing run shows in the log without flooding it. */
const WARN_EVERY_MS = 60_000
/** Addresses remembered for that; past it the longest-remembered is forgotten (its next failure is logged again). */
const MAX_REMEMBERED = 10_000

export interface AdminAuthOptions {
  /** The clock, in milliseconds (tests move it on). */
  now?: () => number
}

/**
 * A preHandler that admits only `Authorization: Bearer <admin.token>`,
 * compared in constant time. Without a configured token the admin API is
 * closed. Each refusal is logged at `warn` with the client address, at most
 * once a minute per address (the count of the others rides on the next line);
 * the presented token is never logged.
 */
export function requireAdminToken (token: string | undefined, options: AdminAuthOptions = {}) {
  const now = options.now ?? Date.now
  const expected = token ? createHash('sha256').update(token).digest() : undefined
  const warned = new Map<string, { at: number, unlogged: number }>()

  const logFailure = (request: FastifyRequest) => {
    const key = addressKey(request.ip)
    const at = now()
    const last = warned.get(key)
    if (last && at - last.at < WARN_EVERY_MS) {
      last.unlogged++
      return
    }
    // Re-inserted, so that the map's order is the order of the last warnings and the first entry is the oldest.
    warned.delete(key)
    if (warned.size >= MAX_REMEMBERED) warned.delete(warned.keys().next().value!)
    warned.set(key, { at, unlogged: 0 })
    request.log.warn({ audit: 'admin.auth.failed', from: request.ip, method: request.method, route: request.routeOptions.url, unloggedFailures: last?.unlogged ?? 0 }, 'admin authentication failed')
  }

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? ''
    const match = /^Bearer +(\S+)$/i.exec(header)
    const presented = createHash('sha256').update(match?.[1] ?? '').digest()
    if (!expected || !match || !timingSafeEqual(presented, expected)) {
      logFailure(request)
      reply.header('www-authenticate', 'Bearer realm="understudy-admin"')
      throw new AdminError('unauthorized', expected ? 'a valid admin bearer token is required' : 'the admin API is disabled: no admin.token is configured')
    }
  }
}
