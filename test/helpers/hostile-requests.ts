import { connect } from 'node:net'
import { CLIENTS } from './stack.js'

/**
 * The parts of the hostile-input corpus (test/e2e/garbage.test.ts) that need
 * no login artefacts: hostile redirect URIs, the admin API's cases, and raw
 * socket requests no HTTP library would send.
 */

/** One request of the corpus. */
export interface Case {
  name: string
  method: string
  /** Path and raw query, sent as they are. */
  path: string
  headers?: Record<string, string>
  body?: string
  /** The status this case must get, when it is a limit. */
  expect?: number
  /** A path the router may fail to match: no route's HTML setting applies, so JSON is fine too. */
  routeless?: boolean
  /** The listener: public (default), the admin port with chaos, or the admin port of the instance without. */
  to?: 'public' | 'admin' | 'quiet'
}

const SHOP_CB = CLIENTS.shop.redirectUris[0]!
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Redirect URIs an attacker would like the gateway to send a browser (and a code) to. */
export const HOSTILE_REDIRECTS = [
  'javascript:alert(document.domain)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
  '//evil.example/cb',
  'https://evil.example/cb',
  `${SHOP_CB}/../../../evil`,
  `${SHOP_CB}/..%2F..%2Fevil`,
  `${SHOP_CB}%2F..%2Fevil`,
  `${SHOP_CB}@evil.example`,
  SHOP_CB.replace('http://', 'http://evil.example@'),
  SHOP_CB.replace('http://', 'http://evil.example\\@'),
  SHOP_CB.replace('http://', 'http:\\\\evil.example\\'),
  `${SHOP_CB}%0d%0aLocation:%20https://evil.example`,
  `${SHOP_CB}\r\nLocation: https://evil.example`,
  `${SHOP_CB}?next=https://evil.example`,
  `${SHOP_CB}#@evil.example`,
  SHOP_CB.replace('127.0.0.1', '127.0.0.1.evil.example'),
  SHOP_CB.replace('127.0.0.1', '[::ffff:127.0.0.1]'),
  SHOP_CB.replace('127.0.0.1', '2130706433'),
  SHOP_CB.replace('/cb', '/c\u0430'),
  `${SHOP_CB}\u0000`,
  `${SHOP_CB}\u202e`,
  SHOP_CB.toUpperCase(),
]

const JSON_TYPE = { 'content-type': 'application/json' }
const FAULT = (fields: string) => `{"target":{"provider":"nobody","region":"x"},${fields}}`

/** Bodies for the admin API's PATCH and POST routes: broken, mistyped, hostile, out of range, oversized. */
const ADMIN_BODIES: Array<{ name: string, body?: string, headers?: Record<string, string>, expect?: number, unparseable?: true }> = [
  { name: 'no body' },
  { name: 'an empty JSON body', body: '', headers: JSON_TYPE, unparseable: true },
  { name: 'broken JSON', body: '{"timeout": ', headers: JSON_TYPE, unparseable: true },
  { name: 'JSON null', body: 'null', headers: JSON_TYPE },
  { name: 'a JSON array', body: '[1,2,3]', headers: JSON_TYPE },
  { name: 'a JSON string', body: '"timeout=1"', headers: JSON_TYPE },
  { name: 'a JSON number', body: '42', headers: JSON_TYPE },
  { name: 'an empty object', body: '{}', headers: JSON_TYPE },
  { name: 'unknown keys', body: '{"frobnicate":1,"timeout":"2s"}', headers: JSON_TYPE },
  { name: 'negative numbers', body: '{"timeout":-1,"errorThresholdPercentage":-50,"volumeThreshold":-3}', headers: JSON_TYPE },
  { name: 'a zero timeout', body: '{"timeout":0}', headers: JSON_TYPE },
  { name: 'zero durations as strings', body: '{"timeout":"0s","resetTimeout":"0ms"}', headers: JSON_TYPE },
  { name: 'strings that are not durations', body: '{"timeout":"soon","resetTimeout":"NaNs","rollingCountTimeout":"1e3s"}', headers: JSON_TYPE },
  { name: 'wrong types', body: '{"timeout":{},"errorThresholdPercentage":"50","volumeThreshold":1.5}', headers: JSON_TYPE },
  { name: 'out of range', body: '{"errorThresholdPercentage":101,"volumeThreshold":1e300}', headers: JSON_TYPE },
  { name: 'an overflowing number', body: '{"timeout":1e999}', headers: JSON_TYPE },
  { name: 'prototype pollution', body: '{"__proto__":{"timeout":0},"constructor":{"prototype":{"timeout":0}}}', headers: JSON_TYPE, unparseable: true },
  { name: 'duplicate keys', body: '{"volumeThreshold":7,"volumeThreshold":-1}', headers: JSON_TYPE },
  { name: 'deeply nested JSON', body: `${'['.repeat(20_000)}${']'.repeat(20_000)}`, headers: JSON_TYPE },
  { name: 'a BOM and a NUL', body: '\uFEFF{"volumeThreshold":12}\u0000', headers: JSON_TYPE, unparseable: true },
  { name: 'a fault of an unknown kind', body: FAULT('"kind":"meteor","duration":"1s"'), headers: JSON_TYPE },
  { name: 'a fault on another store', body: '{"target":{"store":"remote"},"kind":"error","duration":1}', headers: JSON_TYPE },
  { name: 'a fault lasting forever', body: FAULT('"kind":"error","duration":"99999999999d"'), headers: JSON_TYPE },
  { name: 'a fault with a negative latency', body: FAULT('"kind":"latency","latency":-5,"duration":1'), headers: JSON_TYPE },
  { name: 'a fault with a status below 400', body: FAULT('"kind":"error","status":200,"duration":1'), headers: JSON_TYPE },
  { name: 'a latency fault without latency', body: FAULT('"kind":"latency","duration":1'), headers: JSON_TYPE },
  { name: 'a valid fault on an unknown provider', body: FAULT('"kind":"error","duration":"1s"'), headers: JSON_TYPE },
  { name: 'a form body', body: 'timeout=2s', headers: FORM },
  { name: 'JSON sent as text', body: '{"volumeThreshold":12}', headers: { 'content-type': 'text/plain' } },
  { name: 'JSON in UTF-16', body: '{"volumeThreshold":12}', headers: { 'content-type': 'application/json; charset=utf-16' } },
  { name: 'gzip claimed, not given', body: '{"volumeThreshold":12}', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' } },
  { name: 'a 100 KB JSON body', body: JSON.stringify({ volumeThreshold: 12, pad: 'x'.repeat(100 * 1024) }), headers: JSON_TYPE, expect: 413 },
]

/** The admin API, metrics and probes on the admin port: without, with a wrong and with the right token; on both instances. */
export function adminCases (token: string, randomHeader: (length: number) => string): Case[] {
  const cases: Case[] = []
  const tokens: Array<[string, Record<string, string>]> = [['no token', {}], ['a wrong token', { authorization: 'Bearer wrong-token' }], ['the token', { authorization: `Bearer ${token}` }]]
  const writes = ['PATCH /admin/breakers/idp/primary', 'POST /admin/breakers/idp/secondary/open', 'POST /admin/breakers/idp/secondary/close', 'DELETE /admin/breakers/idp/primary/policy', 'POST /admin/drain', 'POST /admin/undrain', 'POST /admin/faults', 'DELETE /admin/faults', 'DELETE /admin/faults/nope']
  const reads = ['/admin/breakers', '/admin/incidents', '/admin/faults', '/metrics', '/livez', '/readyz', '/healthz']
  for (const to of ['admin', 'quiet'] as const) {
    const chaos = to === 'admin'
    for (const route of writes) {
      const [method, path] = route.split(' ') as [string, string]
      const faults = path.startsWith('/admin/faults')
      for (const [who, auth] of tokens) {
        for (const b of ADMIN_BODIES) {
          // Without chaos the fault routes do not exist (though a body is parsed, and refused, before the 404);
          // without a valid token nothing past the body parser is reached.
          const expect = b.expect ?? (faults && !chaos && !b.unparseable ? 404 : b.body === undefined && who !== 'the token' ? 401 : undefined)
          cases.push({ name: `${to}: ${route} with ${who}, ${b.name}`, to, method, path, headers: { ...auth, ...b.headers }, ...(b.body === undefined ? {} : { body: b.body }), ...(expect === undefined ? {} : { expect }) })
        }
      }
    }
    for (const path of reads) {
      const open = !path.startsWith('/admin/')
      const gone = path === '/admin/faults' && !chaos
      for (const [who, auth] of tokens) {
        for (const query of ['', '?x=1&x=2', `?${'q'.repeat(5000)}=1`, '?%ZZ', '?since=%00%0d%0a']) {
          const expect = gone ? 404 : open || who === 'the token' ? 200 : 401
          cases.push({ name: `${to}: GET ${path}${query.slice(0, 20)} with ${who}`, to, method: 'GET', path: `${path}${query}`, headers: auth, ...(path === '/healthz' ? {} : { expect }) })
        }
      }
      for (const other of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) cases.push({ name: `${to}: ${other} ${path}`, to, method: other, path, headers: tokens[2]![1] })
    }
    const params = ['%00', '..', '..%2F..%2Fadmin', '%2F', `${'p'.repeat(300)}`, 'ü€😀', '%E0%A4%A', '<script>', 'idp%20', 'IDP', '__proto__', 'constructor']
    for (const param of params) {
      for (const [method, path] of [['PATCH', `/admin/breakers/${param}/primary`], ['PATCH', `/admin/breakers/idp/${param}`], ['POST', `/admin/breakers/${param}/primary/open`], ['DELETE', `/admin/breakers/idp/${param}/policy`], ['DELETE', `/admin/faults/${param}`]] as const) {
        for (const [who, auth] of [tokens[0]!, tokens[2]!]) {
          cases.push({ name: `${to}: ${method} ${path.slice(0, 60)} with ${who}`, to, method, path, headers: { ...auth, ...JSON_TYPE }, body: '{"volumeThreshold":12}' })
        }
      }
    }
    for (const path of [...reads, '/admin/breakers/idp/primary']) {
      const authorizations = ['Bearer', 'Bearer ', `Bearer ${token} extra`, `bearer ${token}x`, `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`, `Bearer ${'t'.repeat(8000)}`, randomHeader(100), `Bearer ${token.slice(0, -1)}`]
      for (const authorization of authorizations) cases.push({ name: `${to}: GET ${path} with authorization ${authorization.slice(0, 30)}`, to, method: 'GET', path, headers: { authorization } })
      cases.push({ name: `${to}: GET ${path}: a 20 KB header`, to, method: 'GET', path, headers: { 'x-padding': 'p'.repeat(20 * 1024) }, expect: 431 })
      cases.push({ name: `${to}: GET ${path}: many headers`, to, method: 'GET', path, headers: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'v'.repeat(60)])), expect: 431 })
    }
  }
  return cases
}

/**
 * Requests no HTTP client library would send (header injection, smuggling,
 * broken framing), written to a socket as they are, at both ports. They may
 * be refused by the HTTP parser itself; they must never get a 5xx.
 */
export function rawRequests (): Array<{ name: string, raw: string }> {
  const host = 'Host: 127.0.0.1'
  return [
    { name: 'an obsolete folded header', raw: `GET /livez HTTP/1.1\r\n${host}\r\nX-Evil: a\r\n b\r\n\r\n` },
    { name: 'a NUL in a header', raw: `GET /livez HTTP/1.1\r\n${host}\r\nX-Evil: a\u0000b\r\n\r\n` },
    { name: 'a CR inside a header value', raw: `GET /livez HTTP/1.1\r\n${host}\r\nX-Evil: a\rSet-Cookie: x=1\r\n\r\n` },
    { name: 'bare LF line endings', raw: `GET /livez HTTP/1.1\n${host}\n\n` },
    { name: 'a space in a header name', raw: `GET /livez HTTP/1.1\r\n${host}\r\nBad Header: x\r\n\r\n` },
    { name: 'two differing Content-Lengths', raw: `POST /token HTTP/1.1\r\n${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef` },
    { name: 'chunked with a Content-Length (smuggling)', raw: `POST /token HTTP/1.1\r\n${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/breakers HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'an invalid chunk size', raw: `POST /token HTTP/1.1\r\n${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n` },
    { name: 'a doubled Transfer-Encoding', raw: `POST /token HTTP/1.1\r\n${host}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n` },
    { name: 'a negative Content-Length', raw: `POST /token HTTP/1.1\r\n${host}\r\nContent-Length: -1\r\n\r\n` },
    { name: 'an HTTP/0.9 request', raw: 'GET /\r\n\r\n' },
    { name: 'an unknown method', raw: `BREW /token HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'an absolute-form target on another host', raw: `GET http://evil.example/authorize HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'a space in the target', raw: `GET /authorize?x=a b HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'a CR in the target', raw: `GET /authorize?x=a\rb HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'no Host header', raw: 'GET /livez HTTP/1.1\r\n\r\n' },
    { name: 'two Host headers', raw: `GET /livez HTTP/1.1\r\n${host}\r\nHost: evil.example\r\n\r\n` },
    { name: 'a 20 KB request line', raw: `GET /authorize?${'a'.repeat(20 * 1024)} HTTP/1.1\r\n${host}\r\n\r\n` },
    { name: 'an unsupported HTTP version', raw: `GET /livez HTTP/9.9\r\n${host}\r\n\r\n` },
    { name: 'Expect: 100-continue with a body', raw: `POST /token HTTP/1.1\r\n${host}\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b` },
    { name: 'binary garbage', raw: '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003' },
  ]
}

/** Writes `raw` to `port`, half-closes, and answers the statuses of whatever came back (none when the connection was just closed). */
export async function sendRaw (port: number, raw: string): Promise<number[]> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    const done = () => {
      socket.destroy()
      resolve([...received.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])))
    }
    socket.setTimeout(3_000, done)
    socket.on('data', (chunk) => { received += chunk.toString('latin1') })
    socket.on('error', done)
    socket.on('close', done)
    socket.on('connect', () => socket.end(Buffer.from(raw, 'latin1')))
  })
}
