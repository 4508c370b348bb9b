import type { FastifyPluginAsync } from 'fastify'

/** Prometheus text exposition of the contract metrics; open on the admin port. */
const metrics: FastifyPluginAsync = async (app) => {
  app.get('/metrics', async (_request, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').header('cache-control', 'no-store').send(await app.gateway.metrics.text())
  })
}

export default metrics
