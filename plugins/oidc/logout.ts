import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { logout, type LogoutOutcome } from '../../src/oidc/logout.js'
import type { RawParams } from '../../src/oidc/params.js'
import { applyCookies } from '../cookies.js'
import { sendPage } from '../html.js'
import { formBody } from './authorize.js'
import { endpointDeps } from './deps.js'

/** RP-initiated logout (`end_session_endpoint`), GET or POST; the confirmation page POSTs back here. */
const logoutRoutes: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  const deps = endpointDeps(gw)
  const handle = async (request: FastifyRequest, reply: FastifyReply, params: RawParams) => {
    const outcome = await logout(deps, params, request.cookies[gw.cookies.session], request.log)
    if (outcome.result === 'confirm') return confirmPage(reply, outcome)
    // Whatever the browser held is over: ended now, or revoked or unreadable before.
    applyCookies(reply, gw, [{ name: gw.cookies.session, value: '', maxAge: 0 }])
    if (outcome.location) return reply.header('cache-control', 'no-store').redirect(outcome.location, request.method === 'POST' ? 303 : 302)
    if (outcome.result === 'no-session') return sendPage(reply, 200, 'You are signed out', ['There is no understudy session in this browser to end: you are already signed out here. You can close this window.'])
    return sendPage(reply, 200, 'You are signed out', ['You have been signed out of understudy. You can close this window.'])
  }
  const confirmPage = (reply: FastifyReply, outcome: LogoutOutcome) => sendPage(reply, 200, 'Sign out of understudy?', [
    'A site asked to sign out an account other than the one signed in to understudy in this browser.',
    'Sign out of understudy here? If you did not ask to sign out, close this window and nothing changes.',
  ], { action: `${gw.config.issuer}/logout`, fields: outcome.confirmation!, button: 'Sign out', ...(outcome.location === undefined ? {} : { redirectsTo: outcome.location }) })
  const html = { config: { html: true } }
  app.get('/logout', html, async (request, reply) => handle(request, reply, request.query as RawParams))
  app.post('/logout', html, async (request, reply) => handle(request, reply, formBody(request)))
}

export default logoutRoutes
