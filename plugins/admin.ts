import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { healthReport } from '../src/health.js'
import type { RegionBreaker } from '../src/resilience/breaker.js'
import { isUnderstudyError } from '../src/errors.js'
import { mergePolicyPatch } from '../src/resilience/policy.js'
import { requireAdminToken } from './admin-auth.js'

type BreakerParams = { Params: { provider: string, region: string } }

/** The admin API (DESIGN §4): breakers, live policy, drills, drain. Bearer `admin.token` on every route. */
const admin: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  app.addHook('preHandler', requireAdminToken(gw.config.admin.token))
  app.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  app.get('/admin/breakers', async () => ({ breakers: gw.breakers.all().map(view) }))

  app.patch<BreakerParams>('/admin/breakers/:provider/:region', async (request, reply) => {
    const breaker = find(request.params, reply)
    if (!breaker) return reply
    const result = mergePolicyPatch(breaker.policy, request.body)
    if (!result.ok) return reply.code(400).send({ error: 'invalid_policy', problems: result.problems })
    const old = await gw.policies.set(breaker.provider, breaker.region, result.policy)
    request.log.warn({ audit: 'breaker.policy.changed', provider: breaker.provider, region: breaker.region, old, new: result.policy }, 'breaker policy changed')
    await gw.incidents.record({ kind: 'policy', provider: breaker.provider, region: breaker.region, message: 'breaker policy changed by an operator', data: { old, new: result.policy } })
    return view(breaker)
  })

  app.delete<BreakerParams>('/admin/breakers/:provider/:region/policy', async (request, reply) => {
    const breaker = find(request.params, reply)
    if (!breaker) return reply
    const old = await gw.policies.reset(breaker.provider, breaker.region)
    request.log.warn({ audit: 'breaker.policy.reset', provider: breaker.provider, region: breaker.region, old, new: breaker.policy }, 'breaker policy reset to the config')
    return view(breaker)
  })

  app.post<BreakerParams>('/admin/breakers/:provider/:region/open', async (request, reply) => {
    const breaker = find(request.params, reply)
    if (!breaker) return reply
    breaker.pinOpen()
    request.log.warn({ audit: 'breaker.forced.open', provider: breaker.provider, region: breaker.region }, 'breaker forced open')
    await gw.incidents.record({ kind: 'policy', provider: breaker.provider, region: breaker.region, message: 'breaker forced open by an operator (drill)' })
    return view(breaker)
  })

  app.post<BreakerParams>('/admin/breakers/:provider/:region/close', async (request, reply) => {
    const breaker = find(request.params, reply)
    if (!breaker) return reply
    breaker.release()
    request.log.warn({ audit: 'breaker.forced.close', provider: breaker.provider, region: breaker.region }, 'breaker returned to normal operation')
    return view(breaker)
  })

  app.post('/admin/drain', async (request) => {
    app.lifecycle.drain('admin')
    request.log.warn({ audit: 'drain' }, 'instance draining: /readyz answers 503')
    await gw.incidents.record({ kind: 'drain', message: `instance ${gw.config.region} drained by an operator` })
    return { status: 'draining' }
  })

  app.post('/admin/undrain', async (request) => {
    app.lifecycle.undrain()
    request.log.warn({ audit: 'undrain' }, 'instance back in rotation')
    return { status: app.lifecycle.draining ? 'draining' : 'ready' }
  })

  app.get('/admin/incidents', async () => ({ incidents: await gw.incidents.incidents() }))

  // What the public /healthz leaves out: breaker states as they are, when each region went down, peers by host.
  app.get('/admin/health', async () => healthReport(gw, app.lifecycle))

  // Fault injection exists only when the config enables chaos; otherwise these routes are not there at all.
  const faults = gw.faults
  if (faults) {
    app.get('/admin/faults', async () => ({ faults: faults.list() }))
    app.post('/admin/faults', async (request, reply) => {
      try {
        const fault = faults.add(request.body)
        request.log.warn({ audit: 'fault.injected', fault }, 'fault injected')
        await gw.incidents.record({ kind: 'fault', ...('provider' in fault.target ? fault.target : {}), message: `injected ${fault.kind} until ${fault.expiresAt}`, data: { ...fault } })
        return reply.code(201).send(fault)
      } catch (err) {
        if (isUnderstudyError(err)) return reply.code(400).send({ error: 'invalid_fault', problems: err.details.problems })
        throw err
      }
    })
    app.delete('/admin/faults', async (request) => {
      faults.clear()
      request.log.warn({ audit: 'fault.cleared' }, 'every injected fault cleared')
      return { faults: [] }
    })
    app.delete<{ Params: { id: string } }>('/admin/faults/:id', async (request, reply) => {
      if (!faults.remove(request.params.id)) return reply.code(404).send({ error: 'not_found', error_description: 'no such fault' })
      request.log.warn({ audit: 'fault.cleared', id: request.params.id }, 'injected fault cleared')
      return { faults: faults.list() }
    })
  }

  function find (params: { provider: string, region: string }, reply: FastifyReply): RegionBreaker | undefined {
    const breaker = gw.breakers.get(params.provider, params.region)
    if (!breaker) reply.code(404).send({ error: 'not_found', error_description: `no breaker ${params.provider}/${params.region}` })
    return breaker
  }
}

/** One breaker as the admin API shows it (DESIGN §9). */
function view (breaker: RegionBreaker) {
  return {
    provider: breaker.provider,
    region: breaker.region,
    state: breaker.state,
    since: new Date(breaker.since).toISOString(),
    pinned: breaker.pinnedOpen,
    stats: breaker.stats(),
    policy: breaker.policy,
    policySource: breaker.policySource,
  }
}

export default admin
