import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { isUnderstudyError, type UnderstudyError } from '../../src/errors.js'
import { safeUrl, upstreamJson, upstreamProbe, UPSTREAM_MAX_BODY_BYTES } from '../../src/upstream/http.js'

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

/** A server on 127.0.0.1 answering with `handler`; closed at teardown. */
async function serve (t: Test, handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += String(chunk) })
    req.on('end', () => handler(req, res, body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    await closed
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function failure (promise: Promise<unknown>): Promise<UnderstudyError> {
  try {
    await promise
  } catch (err) {
    if (isUnderstudyError(err)) return err
    throw err
  }
  throw new Error('expected the call to fail')
}

const json = (status: number, body: unknown): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

t.test('a JSON object answer is returned parsed', async (t) => {
  const url = await serve(t, json(200, { issuer: 'https://idp.example' }))
  t.same(await upstreamJson(url, { timeoutMs: 1000, operation: 'discovery' }), { issuer: 'https://idp.example' })
})

t.test('a form and a bearer token are sent as a urlencoded POST with an Authorization header', async (t) => {
  let seen: { method?: string, type?: string, authorization?: string, body?: string } = {}
  const url = await serve(t, (req, res, body) => {
    seen = { method: req.method, type: req.headers['content-type'], authorization: req.headers.authorization, body }
    json(200, {})(req, res, body)
  })
  await upstreamJson(url, { form: { a: 'x y', skipped: undefined, b: '&=' }, bearer: 'tok', timeoutMs: 1000, operation: 'token' })
  t.same(seen, { method: 'POST', type: 'application/x-www-form-urlencoded', authorization: 'Bearer tok', body: 'a=x+y&b=%26%3D' })
})

t.test('a server that never answers times out as US_ERR_UPSTREAM_TIMEOUT', async (t) => {
  const url = await serve(t, () => {})
  const started = Date.now()
  const err = await failure(upstreamJson(url, { timeoutMs: 200, operation: 'token' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_TIMEOUT')
  t.ok(Date.now() - started < 2000, 'gives up near the deadline')
})

t.test("an abort by the caller's signal is a timeout too", async (t) => {
  const url = await serve(t, () => {})
  const err = await failure(upstreamJson(url, { signal: AbortSignal.timeout(100), timeoutMs: 10_000, operation: 'token' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_TIMEOUT')
})

t.test('a refused connection is US_ERR_UPSTREAM_NETWORK', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  const err = await failure(upstreamJson(`http://127.0.0.1:${port}/`, { timeoutMs: 1000, operation: 'discovery' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_NETWORK')
  t.equal(err.details.reason, 'ECONNREFUSED')
})

t.test('a connection reset is US_ERR_UPSTREAM_NETWORK', async (t) => {
  const url = await serve(t, (req) => req.socket.destroy())
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'discovery' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_NETWORK')
})

t.test('a 503 is US_ERR_UPSTREAM_HTTP with its status', async (t) => {
  const url = await serve(t, json(503, { error: 'temporarily_unavailable' }))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'token' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_HTTP')
  t.equal(err.details.status, 503)
})

t.test('a 429 is US_ERR_UPSTREAM_HTTP with its status, even with an OAuth error body', async (t) => {
  const url = await serve(t, json(429, { error: 'slow_down' }))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'token' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_HTTP', 'rate limiting is a sign of load, not a protocol error')
  t.equal(err.details.status, 429)
})

t.test('a 400 with an OAuth error is US_ERR_UPSTREAM_OAUTH with the error and description', async (t) => {
  const url = await serve(t, json(400, { error: 'invalid_grant', error_description: 'code expired' }))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'token' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_OAUTH')
  t.same(err.details, { status: 400, error: 'invalid_grant', error_description: 'code expired', operation: 'token', url: `${url}/` })
})

t.test('a 404 without an OAuth error is US_ERR_UPSTREAM_HTTP', async (t) => {
  const url = await serve(t, (_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not found</h1>'))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'userinfo' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_HTTP')
  t.equal(err.details.status, 404)
})

t.test('a 200 that is not JSON is US_ERR_UPSTREAM_INVALID', async (t) => {
  const url = await serve(t, (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'discovery' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
})

t.test('a 200 with JSON that is not an object is US_ERR_UPSTREAM_INVALID', async (t) => {
  const url = await serve(t, json(200, ['not', 'an', 'object']))
  const err = await failure(upstreamJson(url, { timeoutMs: 1000, operation: 'jwks' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
})

t.test('a body over the size cap is rejected as US_ERR_UPSTREAM_INVALID', async (t) => {
  const big = JSON.stringify({ padding: 'x'.repeat(UPSTREAM_MAX_BODY_BYTES) })
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    // Chunked, with no content-length to trust: the cap must hold while reading.
    res.write(big.slice(0, 1000))
    res.end(big.slice(1000))
  })
  const err = await failure(upstreamJson(url, { timeoutMs: 5000, operation: 'jwks' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_INVALID')
  t.match(err.message, /more than 1048576 bytes/)
})

t.test('errors name the URL without its query', async (t) => {
  const url = await serve(t, json(400, { error: 'invalid_request' }))
  const err = await failure(upstreamJson(`${url}/token?code=SECRET-CODE&access_token=SECRET-TOKEN`, { timeoutMs: 1000, operation: 'token' }))
  t.notMatch(err.message, /SECRET/)
  t.notMatch(JSON.stringify(err.details), /SECRET/)
  t.equal(err.details.url, `${url}/token`)
})

t.test('safeUrl keeps only the origin and path', async (t) => {
  t.equal(safeUrl('https://user:pw@idp.example:8443/a/b?code=1#frag'), 'https://idp.example:8443/a/b')
  t.equal(safeUrl('not a url'), '(invalid url)')
})

t.test('a probe counts any answer below 500 as up and 500 or more as down', async (t) => {
  const url = await serve(t, (req, res) => {
    res.statusCode = req.url === '/down' ? 502 : 404
    res.end('whatever')
  })
  t.equal(await upstreamProbe(`${url}/up`, { timeoutMs: 1000, operation: 'probe' }), 404)
  const err = await failure(upstreamProbe(`${url}/down`, { timeoutMs: 1000, operation: 'probe' }))
  t.equal(err.code, 'US_ERR_UPSTREAM_HTTP')
  t.equal(err.details.status, 502)
})
