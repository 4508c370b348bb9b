import type { FastifyPluginAsync } from 'fastify'

/** Probes for load balancers and Kubernetes (DESIGN §6); served on the public and the admin port. `/healthz` is the public report, from a snapshot (the detail is `GET /admin/health`). */
const health: FastifyPluginAsync = async (app) => {
  const noStore = { 'cache-control': 'no-store' }
  app.get('/livez', async (_request, reply) => reply.headers(noStore).send({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const { lifecycle } = app
    if (lifecycle.ready) return reply.headers(noStore).send({ status: 'ready' })
    return reply.code(503).headers(noStore).send({ status: lifecycle.draining ? 'draining' : 'starting', ...(lifecycle.drainReason ? { reason: lifecycle.drainReason } : {}) })
  })
  app.get('/healthz', async (_request, reply) => {
    const report = await app.publicStatus.health()
    return reply.code(report.status === 'down' ? 503 : 200).headers(noStore).send(report)
  })
}

export default health
