import type { FastifyRequest } from 'fastify'
import type { Client } from '../../src/oidc/clients.js'
import { Params } from '../../src/oidc/params.js'
import { formBody } from './authorize.js'

const authenticated = new WeakMap<FastifyRequest, Client>()

/**
 * The client a back-channel request authenticates as (client_secret_basic,
 * client_secret_post or none), checked once per request: the token rate limit
 * keys on it before the route runs, and the route uses the same answer.
 * Throws invalid_client (or invalid_request) as `ClientRegistry.authenticate` does.
 */
export function authenticatedClient (request: FastifyRequest): Client {
  let client = authenticated.get(request)
  if (client === undefined) {
    client = request.server.gateway.clients.authenticate(request.headers.authorization, new Params(formBody(request)))
    authenticated.set(request, client)
  }
  return client
}
