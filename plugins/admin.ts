import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { healthReport } from '../src/health.js'
import type { RegionBreaker } from '../src/resilience/breaker.js'
import { mergePolicyPatch } from '../src/resilience/policy.js'
import { requireAdminToken } from './admin-auth.js'
import adminIdentities from './admin-identities.js'
import { AdminError } from './errors.js'

type BreakerParams = { Params: { provider: string, region: string } }

/** One admin change as the audit trail records it. */
interface Change {
  /** The `audit` field of the log line and `data.action` of the incident event. */
  action: string
  /** How the incident timeline groups it. */
  kind: 'policy' | 'drain' | 'fault'
  message: string
  provider?: string
  region?: string
  data?: Record<string, unknown>
}

/**
 * The admin API (DESIGN §4): breakers, live policy, drills, drain, faults,
 * and backup login's identities (admin-identities.ts).
 * Bearer `admin.token` on every route. Every change is logged at `warn` and
 * recorded as an incident event, both naming the client address (the admin
 * listener never trusts X-Forwarded-For, so it is the peer's own).
 */
const admin: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  app.addHook('preHandler', requireAdminToken(gw.config.admin.token, { now: () => gw.now() * 1000 }))
  app.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })
  // Registered here, behind the token check above.
  await app.register(adminIdentities)

  const audit = async (request: FastifyRequest, change: Change): Promise<void> => {
    const { action, kind, message, provider, region, data } = change
    request.log.warn({ audit: action, from: request.ip, provider, region, ...data }, message)
    await gw.incidents.record({ kind, ...(provider ? { provider } : {}), ...(region ? { region } : {}), message: `${message} (admin API, from ${request.ip})`, data: { action, from: request.ip, ...data } })
  }

  app.get('/admin/breakers', async () => ({ breakers: gw.breakers.all().map(view) }))

  app.patch<BreakerParams>('/admin/breakers/:provider/:region', async (request) => {
    const breaker = find(request.params)
    const result = mergePolicyPatch(breaker.policy, request.body)
    if (!result.ok) throw new AdminError('invalid_policy', 'the policy change is invalid', result.problems)
    const { old, shared } = await gw.policies.set(breaker.provider, breaker.region, result.policy)
    await audit(request, { action: 'breaker.policy.changed', kind: 'policy', message: 'breaker policy changed', ...at(breaker), data: { old, new: result.policy, shared } })
    return { ...view(breaker), shared }
  })

  app.delete<BreakerParams>('/admin/breakers/:provider/:region/policy', async (request) => {
    const breaker = find(request.params)
    const { old, shared } = await gw.policies.reset(breaker.provider, breaker.region)
    await audit(request, { action: 'breaker.policy.reset', kind: 'policy', message: 'breaker policy reset to the config', ...at(breaker), data: { old, new: breaker.policy, shared } })
    return { ...view(breaker), shared }
  })

  app.post<BreakerParams>('/admin/breakers/:provider/:region/open', async (request) => {
    const breaker = find(request.params)
    breaker.pinOpen()
    await audit(request, { action: 'breaker.forced.open', kind: 'policy', message: 'breaker forced open (drill)', ...at(breaker) })
    return view(breaker)
  })

  app.post<BreakerParams>('/admin/breakers/:provider/:region/close', async (request) => {
    const breaker = find(request.params)
    breaker.release()
    await audit(request, { action: 'breaker.forced.close', kind: 'policy', message: 'breaker returned to normal operation', ...at(breaker) })
    return view(breaker)
  })

  app.post('/admin/drain', async (request) => {
    app.lifecycle.drain('admin')
    await audit(request, { action: 'drain', kind: 'drain', message: `instance ${gw.config.region} draining: /readyz answers 503` })
    return { status: 'draining' }
  })

  app.post('/admin/undrain', async (request) => {
    app.lifecycle.undrain()
    await audit(request, { action: 'undrain', kind: 'drain', message: `instance ${gw.config.region} back in rotation` })
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
      const result = faults.add(request.body)
      if (!result.ok) throw new AdminError('invalid_fault', 'the fault is invalid', result.problems)
      const { fault } = result
      await audit(request, { action: 'fault.injected', kind: 'fault', message: `injected ${fault.kind} until ${fault.expiresAt}`, ...('provider' in fault.target ? fault.target : {}), data: { fault } })
      return reply.code(201).send(fault)
    })
    app.delete('/admin/faults', async (request) => {
      const cleared = faults.list()
      faults.clear()
      await audit(request, { action: 'fault.cleared', kind: 'fault', message: 'every injected fault cleared', data: { ids: cleared.map((f) => f.id) } })
      return { faults: [] }
    })
    app.delete<{ Params: { id: string } }>('/admin/faults/:id', async (request) => {
      const { id } = request.params
      if (!faults.remove(id)) throw new AdminError('not_found', 'no such fault')
      await audit(request, { action: 'fault.removed', kind: 'fault', message: 'injected fault removed', data: { id } })
      return { faults: faults.list() }
    })
  }

  function find (params: { provider: string, region: string }): RegionBreaker {
    const breaker = gw.breakers.get(params.provider, params.region)
    if (!breaker) throw new AdminError('not_found', `no breaker ${params.provider}/${params.region}`)
    return breaker
  }
}

function at (breaker: RegionBreaker): { provider: string, region: string } {
  return { provider: breaker.provider, region: breaker.region }
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
