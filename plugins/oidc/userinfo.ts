import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { RawParams } from '../../src/oidc/params.js'
import { userinfo } from '../../src/oidc/userinfo.js'
import { formBody } from './authorize.js'
import { endpointDeps } from './deps.js'

/** The userinfo endpoint, GET or POST (OIDC Core §5.3). */
const userinfoRoutes: FastifyPluginAsync = async (app) => {
  const deps = endpointDeps(app.gateway)
  const handle = async (request: FastifyRequest, reply: FastifyReply, body: RawParams | undefined) => {
    const claims = await userinfo(deps, request.headers.authorization, body)
    return reply.headers({ 'cache-control': 'no-store', pragma: 'no-cache' }).send(claims)
  }
  app.get('/userinfo', async (request, reply) => handle(request, reply, undefined))
  app.post('/userinfo', async (request, reply) => handle(request, reply, formBody(request)))
}

export default userinfoRoutes
