import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { logout } from '../../src/oidc/logout.js'
import type { RawParams } from '../../src/oidc/params.js'
import { applyCookies } from '../cookies.js'
import { sendPage } from '../html.js'
import { formBody } from './authorize.js'

/** RP-initiated logout (`end_session_endpoint`), GET or POST. */
const logoutRoutes: FastifyPluginAsync = async (app) => {
  const gw = app.gateway
  const handle = async (request: FastifyRequest, reply: FastifyReply, params: RawParams) => {
    const outcome = await logout(gw, params, request.cookies[gw.cookies.session], request.log)
    applyCookies(reply, gw, [{ name: outcome.clearCookie, value: '', maxAge: 0 }])
    if (outcome.location) return reply.header('cache-control', 'no-store').redirect(outcome.location, request.method === 'POST' ? 303 : 302)
    return sendPage(reply, 200, 'You are signed out', ['You have been signed out of understudy. You can close this window.'])
  }
  const html = { config: { html: true } }
  app.get('/logout', html, async (request, reply) => handle(request, reply, request.query as RawParams))
  app.post('/logout', html, async (request, reply) => handle(request, reply, formBody(request)))
}

export default logoutRoutes
