import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { BrowserOutcome } from '../../src/oidc/answer.js'
import { authorize } from '../../src/oidc/authorize.js'
import { callback } from '../../src/oidc/callback.js'
import type { RawParams } from '../../src/oidc/params.js'
import { isState } from '../../src/oidc/transaction.js'
import { sendBackupPage } from '../backup/pages.js'
import { applyCookies } from '../cookies.js'
import { endpointDeps } from './deps.js'

/** The browser-facing endpoints: `/authorize` (GET and POST) and the upstream's `/callback/:provider`. */
const authorizeRoutes: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  const deps = endpointDeps(gw)
  const html = { config: { html: true } }

  const handleAuthorize = async (request: FastifyRequest, reply: FastifyReply, params: RawParams) => {
    const outcome = await authorize(deps, params, request.cookies[gw.cookies.session], request.log)
    // Only a new upstream transaction spends the address's budget: an SSO or cached login costs the upstream nothing.
    if (outcome.upstream) await app.chargeUpstreamTransaction(request, reply)
    return sendOutcome(request, reply, outcome)
  }
  app.get('/authorize', html, async (request, reply) => handleAuthorize(request, reply, request.query as RawParams))
  app.post('/authorize', html, async (request, reply) => handleAuthorize(request, reply, formBody(request)))

  app.get<{ Params: { provider: string } }>('/callback/:provider', html, async (request, reply) => {
    const query = request.query as RawParams
    // The transaction cookie is spent whatever the outcome.
    if (isState(query.state)) {
      applyCookies(reply, gw, [{ name: gw.cookies.transaction(query.state), value: '', maxAge: 0 }])
    }
    const outcome = await callback(deps, request.params.provider, query, (name) => request.cookies[name], request.log)
    return sendOutcome(request, reply, outcome)
  })
}

/** Sends a browser-facing outcome: its cookies, then a backup page (200) or the redirect (303 after a POST, so the browser GETs it). */
export function sendOutcome (request: FastifyRequest, reply: FastifyReply, outcome: BrowserOutcome): FastifyReply {
  const gw = request.server.gateway
  applyCookies(reply, gw, outcome.cookies)
  if (outcome.page !== undefined) return sendBackupPage(reply, gw, outcome)
  return reply.header('cache-control', 'no-store').redirect(outcome.location, request.method === 'POST' ? 303 : 302)
}

/** A form body as protocol parameters; anything else (JSON, none) counts as no parameters. */
export function formBody (request: FastifyRequest): RawParams {
  const type = request.headers['content-type'] ?? ''
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return {}
  return (request.body ?? {}) as RawParams
}

export default authorizeRoutes
