import { Writable } from 'node:stream'
import Fastify, { LogController } from 'fastify'
import t from 'tap'
import { createLogger } from '../../src/cli/logger.js'
import { accessLog, requestLogger } from '../../plugins/request-logger.js'

/** A Fastify app logging through the lazy request logger into `lines`, counting the pino children it makes; `access` logs as plugins/server.ts does. */
function app (level: string, options: { access?: boolean } = {}) {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({ write (chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)); done() } })
  const logger = createLogger({ level, destination })
  let children = 0
  // pino's children inherit from their parent, this counting wrapper included.
  const child = logger.child
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) { children++; return child.apply(this, args) } as typeof logger.child
  // With `access`, logging as plugins/server.ts does: Fastify's request lines off, the access line on.
  const fastify = Fastify({ loggerInstance: logger, childLoggerFactory: requestLogger, genReqId: () => 'req-1', logController: new LogController({ disableRequestLogging: options.access === true }) })
  if (options.access) fastify.addHook('onResponse', accessLog(fastify.log))
  fastify.get('/quiet', async (request) => {
    request.log.debug({ n: 1 }, 'below the level')
    return { level: request.log.level }
  })
  fastify.get('/loud', async (request) => {
    request.log.warn({ n: 2 }, 'at the level')
    request.log.child({ step: 'inner' }).error('from a grandchild')
    return {}
  })
  // Children made from now on are the requests' (Fastify makes some of its own while it starts).
  const ready = fastify.ready().then(() => { children = 0 })
  return { fastify, lines, children: async () => { await ready; return children } }
}

t.test('at warn, a request that logs nothing makes no pino child and writes nothing', async (t) => {
  const { fastify, lines, children } = app('warn')
  await fastify.ready()
  const reply = await fastify.inject('/quiet')
  t.same(reply.json(), { level: 'warn' }, 'the request logger reports its parent\'s level')
  t.equal(await children(), 0, 'no child was made')
  t.same(lines, [])
  await fastify.close()
})

t.test('a line at an enabled level carries the request id, as a pino child writes it', async (t) => {
  const { fastify, lines, children } = app('warn')
  await fastify.ready()
  await fastify.inject('/loud')
  t.equal(await children(), 2, 'the request\'s child, made at its first line, and the grandchild')
  t.match(lines[0], { level: 40, reqId: 'req-1', n: 2, msg: 'at the level', service: 'understudy' })
  t.match(lines[1], { level: 50, reqId: 'req-1', step: 'inner', msg: 'from a grandchild' }, 'children of the request logger keep its bindings')
  await fastify.close()
})

t.test('at info, Fastify\'s request lines are written with the request id', async (t) => {
  const { fastify, lines } = app('info')
  await fastify.inject('/quiet')
  t.same(lines.map((l) => [l.reqId, l.msg]), [['req-1', 'incoming request'], ['req-1', 'request completed']])
  await fastify.close()
})

t.test('the access line: one per finished request, with route, status, time and the URL\'s secrets masked, and no pino child', async (t) => {
  const { fastify, lines, children } = app('info', { access: true })
  await fastify.inject('/quiet?code=secret-code&x=1')
  t.equal(lines.length, 1, 'one line, not Fastify\'s two')
  t.match(lines[0], { level: 30, msg: 'request completed', reqId: 'req-1', route: '/quiet', req: { method: 'GET', url: '/quiet?code=[redacted]&x=1' }, res: { statusCode: 200 }, responseTime: Number })
  t.notOk(JSON.stringify(lines).includes('secret-code'))
  t.equal(await children(), 0, 'written through the parent logger')
  await fastify.close()
})
