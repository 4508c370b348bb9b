import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { OAuthError } from '../../src/oidc/errors.js'
import type { RawParams } from '../../src/oidc/params.js'
import { introspect, revoke } from '../../src/oidc/revocation.js'
import { token } from '../../src/oidc/token.js'
import { authenticatedClient } from './client-auth.js'
import { endpointDeps } from './deps.js'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/** The back-channel endpoints that authenticate clients: token, revocation (RFC 7009), introspection (RFC 7662). */
const tokenRoutes: FastifyPluginAsync = async (app) => {
  const deps = endpointDeps(app.gateway)

  app.post('/token', async (request, reply) => {
    const response = await token(deps, form(request), authenticatedClient(request), request.log)
    return reply.headers(NO_STORE).send(response)
  })
  app.post('/revoke', async (request, reply) => {
    await revoke(deps, form(request), authenticatedClient(request), request.log)
    return reply.headers(NO_STORE).send()
  })
  app.post('/introspect', async (request, reply) => {
    const response = await introspect(deps, form(request), authenticatedClient(request), request.log)
    return reply.headers(NO_STORE).send(response)
  })
}

/** Back-channel requests must be form-encoded (RFC 6749 §3.2). */
function form (request: FastifyRequest): RawParams {
  const type = request.headers['content-type'] ?? ''
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new OAuthError('invalid_request', 'the request body must be application/x-www-form-urlencoded')
  }
  return (request.body ?? {}) as RawParams
}

export default tokenRoutes
