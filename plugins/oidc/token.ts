import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { OAuthError } from '../../src/oidc/errors.js'
import type { RawParams } from '../../src/oidc/params.js'
import { introspect, revoke } from '../../src/oidc/revocation.js'
import { token, type TokenResponse } from '../../src/oidc/token.js'
import { authenticatedClient } from './client-auth.js'
import { endpointDeps } from './deps.js'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }
const TOKEN_HEADERS = { ...NO_STORE, 'content-type': 'application/json; charset=utf-8' }

/** The back-channel endpoints that authenticate clients: token, revocation (RFC 7009), introspection (RFC 7662). */
const tokenRoutes: FastifyPluginAsync = async (app) => {
  const deps = endpointDeps(app.gateway)

  app.post('/token', async (request, reply) => {
    const response = await token(deps, form(request), authenticatedClient(request), request.log)
    return reply.headers(TOKEN_HEADERS).send(tokenResponseJson(response))
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

/**
 * The token response as JSON, the same bytes JSON.stringify writes for it.
 * The three tokens are compact JWS or JWE serializations, base64url segments
 * joined by dots, which JSON never escapes: they go in as they are, where
 * JSON.stringify would scan them character by character (about 3 KB per
 * response, some 4 % of an SSO flow's instructions). The scope is escaped as usual.
 */
export function tokenResponseJson (response: TokenResponse): string {
  return `{"access_token":"${response.access_token}","token_type":"Bearer","expires_in":${JSON.stringify(response.expires_in)},"id_token":"${response.id_token}","refresh_token":"${response.refresh_token}","scope":${JSON.stringify(response.scope)}}`
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
