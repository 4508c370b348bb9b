import type { FastifyPluginAsync } from 'fastify'
import { discoveryDocument } from '../../src/oidc/discovery.js'

/** Discovery and the public signing keys; both cacheable for a short while. */
const discovery: FastifyPluginAsync = async (app) => {
  const document = JSON.stringify(discoveryDocument({ issuer: app.gateway.config.issuer, keys: app.gateway.keys }))
  const jwks = JSON.stringify(app.gateway.keys.publicJwks)
  app.get('/.well-known/openid-configuration', async (_request, reply) => {
    return reply.header('cache-control', 'public, max-age=300').type('application/json').send(document)
  })
  app.get('/jwks', async (_request, reply) => {
    return reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(jwks)
  })
}

export default discovery
