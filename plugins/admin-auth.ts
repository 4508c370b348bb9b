import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * A preHandler that admits only `Authorization: Bearer <admin.token>`,
 * compared in constant time. Without a configured token the admin API is closed.
 */
export function requireAdminToken (token: string | undefined) {
  const expected = token ? createHash('sha256').update(token).digest() : undefined
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? ''
    const match = /^Bearer +(\S+)$/i.exec(header)
    const presented = createHash('sha256').update(match?.[1] ?? '').digest()
    if (!expected || !match || !timingSafeEqual(presented, expected)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="understudy-admin"').header('cache-control', 'no-store')
        .send({ error: 'unauthorized', error_description: expected ? 'a valid admin bearer token is required' : 'the admin API is disabled: no admin.token is configured' })
    }
  }
}
