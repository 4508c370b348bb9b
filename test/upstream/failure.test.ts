import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { UnderstudyError } from '../../src/errors.js'
import { freePort } from '../../harness/free-port.js'
import { classifyUpstreamFailure, type UpstreamFailure } from '../../src/upstream/failure.js'
import { upstreamJson } from '../../src/upstream/http.js'

const http = (status: number) => new UnderstudyError('US_ERR_UPSTREAM_HTTP', `answered ${status}`, { details: { status } })

const CASES: Array<[string, unknown, UpstreamFailure]> = [
  ['a timeout', new UnderstudyError('US_ERR_UPSTREAM_TIMEOUT'), 'transient'],
  ['a network error', new UnderstudyError('US_ERR_UPSTREAM_NETWORK', 'refused', { details: { reason: 'ECONNREFUSED' } }), 'transient'],
  ['every breaker open (no region can serve)', new UnderstudyError('US_ERR_UPSTREAM_UNAVAILABLE', 'open', { details: { breaker: 'open' } }), 'transient'],
  ['a 500', http(500), 'transient'],
  ['a 502', http(502), 'transient'],
  ['a 503', http(503), 'transient'],
  ['a 504', http(504), 'transient'],
  ['a 429', http(429), 'transient'],
  ['a 400 without an OAuth body', http(400), 'fatal'],
  ['a 401 without an OAuth body', http(401), 'fatal'],
  ['a 403 without an OAuth body (a WAF page)', http(403), 'fatal'],
  ['a 404', http(404), 'fatal'],
  ['a 3xx', http(302), 'fatal'],
  ['an HTTP error with no status', new UnderstudyError('US_ERR_UPSTREAM_HTTP'), 'fatal'],
  ['an OAuth error body (invalid_grant)', new UnderstudyError('US_ERR_UPSTREAM_OAUTH', 'invalid_grant', { details: { status: 400, error: 'invalid_grant' } }), 'fatal'],
  ['an answer that fails validation', new UnderstudyError('US_ERR_UPSTREAM_INVALID'), 'fatal'],
  ['an error that is not the upstream\'s (the store)', new UnderstudyError('US_ERR_STORE_UNAVAILABLE'), 'fatal'],
  ['an error that is not an UnderstudyError (a bug)', new TypeError('x is undefined'), 'fatal'],
  ['a thrown non-error', 'boom', 'fatal'],
]

t.test('every upstream failure is classified transient or fatal by one table', async (t) => {
  for (const [what, err, expected] of CASES) t.equal(classifyUpstreamFailure(err), expected, `${what} is ${expected}`)
})

/** A server on 127.0.0.1 answering every request with `status`, `type` and `body`; closed at teardown. */
async function answering (t: Test, status: number, type: string, body: string): Promise<string> {
  const server = createServer((_req, res: ServerResponse) => { res.writeHead(status, { 'content-type': type }).end(body) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    await closed
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`
}

async function classifyAnswer (url: string, timeoutMs = 2_000): Promise<UpstreamFailure> {
  try {
    await upstreamJson(url, { method: 'POST', form: { grant_type: 'refresh_token' }, timeoutMs, operation: 'refresh' })
  } catch (err) {
    return classifyUpstreamFailure(err)
  }
  throw new Error('expected the call to fail')
}

const HTML = 'text/html'
const JSON_TYPE = 'application/json'
const ANSWERS: Array<[string, number, string, string, UpstreamFailure]> = [
  ['a WAF\'s 403 HTML page', 403, HTML, '<html><body><h1>Access denied</h1></body></html>', 'fatal'],
  ['a 401 HTML page', 401, HTML, '<html>Unauthorized</html>', 'fatal'],
  ['a 400 invalid_grant', 400, JSON_TYPE, JSON.stringify({ error: 'invalid_grant' }), 'fatal'],
  ['a 401 invalid_client', 401, JSON_TYPE, JSON.stringify({ error: 'invalid_client' }), 'fatal'],
  ['a 200 that is not a JSON object', 200, HTML, '<html>maintenance</html>', 'fatal'],
  ['a 503 HTML page', 503, HTML, '<html>down for maintenance</html>', 'transient'],
  ['a 500 with an OAuth body', 500, JSON_TYPE, JSON.stringify({ error: 'server_error' }), 'transient'],
  ['a 429 with an OAuth body', 429, JSON_TYPE, JSON.stringify({ error: 'slow_down' }), 'transient'],
]

t.test('answers of a real HTTP server are classified as the table says, as the http layer reports them', async (t) => {
  for (const [what, status, type, body, expected] of ANSWERS) {
    t.equal(await classifyAnswer(await answering(t, status, type, body)), expected, `${what} is ${expected}`)
  }
})

t.test('a refused connection and a server that never answers are transient', async (t) => {
  t.equal(await classifyAnswer(`http://127.0.0.1:${await freePort()}/token`), 'transient', 'refused')
  const silent = createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise((resolve) => silent.close(resolve))
    silent.closeAllConnections()
    await closed
  })
  t.equal(await classifyAnswer(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/token`, 200), 'transient', 'timed out')
})
