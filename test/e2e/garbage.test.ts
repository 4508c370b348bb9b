import t, { type Test } from 'tap'
import { Browser } from '../../harness/browser.js'
import { adminCases, HOSTILE_REDIRECTS, rawRequests, sendRaw, type Case } from '../helpers/hostile-requests.js'
import { flipChar, login, pkcePair, authorizeCode, type TokenSet } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/**
 * A deterministic barrage of malformed requests at every public and admin
 * endpoint. Whatever arrives, the gateway answers below 500, redirects only to
 * a registered URI (or, for a valid login, the upstream), keeps the OAuth JSON
 * error shape on JSON endpoints and the anti-framing headers on HTML ones, and
 * reflects no script. The admin port is hit with and without its token, on an
 * instance with chaos enabled and on one (sharing the upstream) without.
 */

const ADMIN_TOKEN = 'garbage-admin-token-0123456789abcdef'
let stack: Stack
let quiet: Stack
t.before(async () => {
  const admin = { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN }
  stack = await startStack({ config: { admin, chaos: { enabled: true } } })
  quiet = await startStack({ issuer: stack.issuer, upstream: stack.upstream, config: { admin } })
})
t.teardown(async () => {
  await quiet.close()
  await stack.close()
})

/** Everything a case can be built from: real artefacts of a login, to mutate. */
interface Artefacts {
  code: string
  tokens: TokenSet
  session: string
  sessionName: string
  txState: string
  txCookie: string
}

const SHOP_CB = CLIENTS.shop.redirectUris[0]!
const HTML_PATHS = /^\/(authorize|logout|callback\/)/
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** A small seeded PRNG (mulberry32): the same barrage on every run. */
function prng (seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6D2B79F5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
const random = prng(20221015)
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!

/** A header-safe string of random bytes (visible ASCII and Latin-1; no control characters). */
function randomHeader (length: number): string {
  let text = ''
  while (text.length < length) {
    const byte = Math.floor(random() * 256)
    if ((byte >= 0x21 && byte <= 0x7e) || byte >= 0xa0) text += String.fromCharCode(byte)
  }
  return text
}

function encode (params: Array<[string, string]>): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
}

/** Ways to spoil one parameter: each gives the raw `name=value` pairs (already encoded) that replace it. */
const SPOILERS: Record<string, (name: string, value: string) => string> = {
  duplicated: (n, v) => `${encode([[n, v]])}&${encode([[n, v]])}`,
  'duplicated, differing': (n, v) => `${encode([[n, v]])}&${encode([[n, 'other']])}`,
  huge: (n) => encode([[n, 'x'.repeat(4097)]]),
  'very huge': (n, v) => encode([[n, v + 'y'.repeat(12_000)]]),
  crlf: (n, v) => encode([[n, `${v}\r\nSet-Cookie: evil=1\r\nLocation: https://evil.example/`]]),
  nul: (n, v) => encode([[n, `${v}\u0000`]]),
  unicode: (n, v) => encode([[n, `${v}ü€😀\u202e\u200b`]]),
  'broken percent-encoding': (n) => `${encodeURIComponent(n)}=%E0%A4%A%ZZ%`,
  'invalid UTF-8': (n) => `${encodeURIComponent(n)}=%C0%AF%ED%A0%80%FF`,
  'javascript: URI': (n) => encode([[n, 'javascript:alert(document.cookie)']]),
  'data: URI': (n) => encode([[n, 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==']]),
  'evil URI': (n) => encode([[n, '//evil.example/cb']]),
  'path traversal': (n, v) => encode([[n, `${v}/../../../evil`]]),
  'encoded traversal': (n, v) => encode([[n, `${v}%2F..%2F..%2Fevil`]]),
  'script in value': (n, v) => encode([[n, `${v}"><script>alert(1)</script>`]]),
  'array syntax': (n, v) => encode([[`${n}[]`, v], [`${n}[x]`, v]]),
  empty: (n) => `${encodeURIComponent(n)}=`,
  'name only': (n) => encodeURIComponent(n),
}

/** Valid-looking requests of every endpoint, as parameter lists. */
function baseRequests (a: Artefacts): Array<{ path: string, methods: string[], params: Array<[string, string]>, cookie?: string }> {
  const auth: Array<[string, string]> = [['client_id', 'shop'], ['client_secret', 'shop-secret']]
  return [
    { path: '/authorize', methods: ['GET', 'POST'], params: [['client_id', 'shop'], ['redirect_uri', SHOP_CB], ['response_type', 'code'], ['scope', 'openid'], ['state', 's'], ['prompt', 'none'], ['code_challenge', pkcePair().challenge], ['code_challenge_method', 'S256']], cookie: `${a.sessionName}=${a.session}` },
    { path: '/callback/idp', methods: ['GET'], params: [['state', a.txState], ['code', 'upstream-code'], ['iss', stack.upstream.issuer]], cookie: `understudy-tx-${a.txState}=${a.txCookie}` },
    { path: '/token', methods: ['POST'], params: [['grant_type', 'authorization_code'], ['code', a.code], ['redirect_uri', SHOP_CB], ...auth] },
    { path: '/token', methods: ['POST'], params: [['grant_type', 'refresh_token'], ['refresh_token', a.tokens.refresh_token], ...auth] },
    { path: '/userinfo', methods: ['POST'], params: [['access_token', a.tokens.access_token]] },
    { path: '/revoke', methods: ['POST'], params: [['token', a.tokens.refresh_token], ['token_type_hint', 'refresh_token'], ...auth] },
    { path: '/introspect', methods: ['POST'], params: [['token', a.tokens.access_token], ['token_type_hint', 'access_token'], ...auth] },
    { path: '/logout', methods: ['GET', 'POST'], params: [['id_token_hint', a.tokens.id_token], ['post_logout_redirect_uri', CLIENTS.shop.postLogoutRedirectUris[0]!], ['state', 's'], ['client_id', 'shop']], cookie: `${a.sessionName}=${a.session}` },
  ]
}

function parameterCases (a: Artefacts): Case[] {
  const cases: Case[] = []
  for (const base of baseRequests(a)) {
    for (const method of base.methods) {
      const send = (name: string, raw: string): Case => method === 'GET'
        ? { name, method, path: `${base.path}?${raw}`, ...(base.cookie ? { headers: { cookie: base.cookie } } : {}) }
        : { name, method, path: base.path, body: raw, headers: { ...FORM, ...(base.cookie ? { cookie: base.cookie } : {}) } }
      for (const [index, [param, value]] of base.params.entries()) {
        for (const [spoiler, spoil] of Object.entries(SPOILERS)) {
          const raw = base.params.map((p, i) => (i === index ? spoil(param, value) : encode([p]))).join('&')
          cases.push(send(`${method} ${base.path}: ${param} ${spoiler}`, raw))
        }
      }
      for (const extra of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'request', 'request_uri']) {
        cases.push(send(`${method} ${base.path}: extra ${extra}`, `${encode(base.params)}&${encode([[extra, 'x']])}`))
      }
      cases.push(send(`${method} ${base.path}: nothing`, ''))
      cases.push(send(`${method} ${base.path}: only separators`, '&&&=&=='))
    }
  }
  return cases
}

/** Bit flips and truncations of every sealed or signed thing the gateway hands out, where it takes it back. */
function tokenCases (a: Artefacts): Case[] {
  const cases: Case[] = []
  const mutants = (token: string): Array<[string, string]> => {
    const out: Array<[string, string]> = []
    for (let i = 0; i < 6; i++) {
      const at = Math.floor(random() * token.length)
      out.push([`bit flip at ${at}`, flipChar(token, at)])
    }
    for (const keep of [1, 10, Math.floor(token.length / 2), token.length - 1]) out.push([`truncated to ${keep}`, token.slice(0, keep)])
    const parts = token.split('.')
    out.push(['a segment dropped', parts.slice(1).join('.')], ['segments swapped', [...parts].reverse().join('.')], ['doubled', `${token}.${token}`], ['padded', `${token}==`])
    return out
  }
  const form = (name: string, path: string, params: Array<[string, string]>, headers: Record<string, string> = {}): Case =>
    ({ name, method: 'POST', path, body: encode(params), headers: { ...FORM, ...headers } })
  const auth: Array<[string, string]> = [['client_id', 'shop'], ['client_secret', 'shop-secret']]
  for (const [how, code] of mutants(a.code)) {
    cases.push(form(`code ${how}`, '/token', [['grant_type', 'authorization_code'], ['code', code], ['redirect_uri', SHOP_CB], ...auth]))
  }
  for (const [how, refreshToken] of mutants(a.tokens.refresh_token)) {
    cases.push(form(`refresh token ${how}`, '/token', [['grant_type', 'refresh_token'], ['refresh_token', refreshToken], ...auth]))
    cases.push(form(`refresh token ${how} at revoke`, '/revoke', [['token', refreshToken], ...auth]))
  }
  for (const [how, accessToken] of mutants(a.tokens.access_token)) {
    cases.push({ name: `access token ${how} at userinfo`, method: 'GET', path: '/userinfo', headers: { authorization: `Bearer ${accessToken}` } })
    cases.push(form(`access token ${how} at introspect`, '/introspect', [['token', accessToken], ...auth]))
  }
  for (const [how, idToken] of mutants(a.tokens.id_token)) {
    cases.push({ name: `id_token_hint ${how}`, method: 'GET', path: `/logout?${encode([['id_token_hint', idToken], ['post_logout_redirect_uri', CLIENTS.shop.postLogoutRedirectUris[0]!]])}` })
  }
  for (const [how, session] of mutants(a.session)) {
    cases.push({ name: `session cookie ${how}`, method: 'GET', path: `/authorize?${encode([['client_id', 'shop'], ['redirect_uri', SHOP_CB], ['response_type', 'code'], ['scope', 'openid'], ['prompt', 'none']])}`, headers: { cookie: `${a.sessionName}=${session}` } })
  }
  for (const [how, tx] of mutants(a.txCookie)) {
    cases.push({ name: `transaction cookie ${how}`, method: 'GET', path: `/callback/idp?${encode([['state', a.txState], ['code', 'x']])}`, headers: { cookie: `understudy-tx-${a.txState}=${tx}` } })
  }
  const jwtHeader = (header: object) => Buffer.from(JSON.stringify(header)).toString('base64url')
  const [, payload, signature] = a.tokens.access_token.split('.')
  const [, hintPayload, hintSignature] = a.tokens.id_token.split('.')
  const kid = JSON.parse(Buffer.from(a.tokens.id_token.split('.')[0]!, 'base64url').toString()).kid as string
  const forgedHeaders = [{ alg: 'none' }, { alg: 'HS256', kid }, { alg: 'HS256', kid: 'x' }, { alg: 'ES256', kid: '../../etc/passwd' }, { alg: 'RS256', typ: 'at+jwt', kid: { x: 1 } }, { alg: 'ES256', jku: 'https://evil.example/jwks', kid }, { alg: 'ES256', kid, crit: ['exp'], exp: 1 }, { alg: 'ES256', kid, b64: false, crit: ['b64'] }]
  for (const header of forgedHeaders) {
    cases.push({ name: `forged access token header ${JSON.stringify(header)}`, method: 'GET', path: '/userinfo', headers: { authorization: `Bearer ${jwtHeader(header)}.${payload}.${signature}` } })
    const hint = `${jwtHeader(header)}.${hintPayload}.${header.alg === 'none' ? '' : hintSignature}`
    cases.push({ name: `forged id_token_hint header ${JSON.stringify(header)} at logout`, method: 'GET', path: `/logout?${encode([['id_token_hint', hint], ['post_logout_redirect_uri', CLIENTS.shop.postLogoutRedirectUris[0]!]])}` })
    cases.push({ name: `forged id_token_hint header ${JSON.stringify(header)} at authorize`, method: 'GET', path: `/authorize?${encode([...authorizeParams(), ['prompt', 'none'], ['id_token_hint', hint]])}`, headers: { cookie: `${a.sessionName}=${a.session}` } })
  }
  for (const [how, hint] of mutants(a.tokens.id_token)) {
    cases.push({ name: `id_token_hint ${how} at authorize`, method: 'GET', path: `/authorize?${encode([...authorizeParams(), ['prompt', 'none'], ['id_token_hint', hint]])}`, headers: { cookie: `${a.sessionName}=${a.session}` } })
  }
  // Sealed tokens of one kind presented as another: each kind is refused where it does not belong.
  const sealed: Array<[string, string]> = [['code', a.code], ['refresh token', a.tokens.refresh_token], ['session', a.session], ['transaction', a.txCookie]]
  const [, ...jweRest] = a.session.split('.')
  const jweHeaders = [{ alg: 'dir', enc: 'A128GCM' }, { alg: 'none', enc: 'A256GCM' }, { alg: 'dir', enc: 'A256GCM', zip: 'DEF' }, { alg: 'dir', enc: 'A256GCM', kid: '../../../etc/passwd' }, { alg: 'RSA-OAEP', enc: 'A256GCM' }]
  for (const header of jweHeaders) sealed.push([`session with JWE header ${JSON.stringify(header)}`, [jwtHeader(header), ...jweRest].join('.')])
  for (const [name, value] of sealed) {
    cases.push({ name: `${name} as a session cookie`, method: 'GET', path: `/authorize?${encode([...authorizeParams(), ['prompt', 'none']])}`, headers: { cookie: `${a.sessionName}=${value}` } })
    cases.push({ name: `${name} as a transaction cookie`, method: 'GET', path: `/callback/idp?${encode([['state', a.txState], ['code', 'x']])}`, headers: { cookie: `understudy-tx-${a.txState}=${value}` } })
    cases.push(form(`${name} as a code`, '/token', [['grant_type', 'authorization_code'], ['code', value], ['redirect_uri', SHOP_CB], ...auth]))
    cases.push(form(`${name} as a refresh token`, '/token', [['grant_type', 'refresh_token'], ['refresh_token', value], ...auth]))
    cases.push({ name: `${name} as a bearer token`, method: 'GET', path: '/userinfo', headers: { authorization: `Bearer ${value}` } })
  }
  return cases
}

/** A valid authorization request of shop, to spoil further. */
function authorizeParams (): Array<[string, string]> {
  return [['client_id', 'shop'], ['redirect_uri', SHOP_CB], ['response_type', 'code'], ['scope', 'openid'], ['state', 's']]
}

/** Every hostile redirect URI at /authorize and /logout, by GET and POST, with and without a session. */
function redirectCases (a: Artefacts): Case[] {
  const cases: Case[] = []
  const session = { cookie: `${a.sessionName}=${a.session}` }
  for (const uri of HOSTILE_REDIRECTS) {
    for (const client of ['shop', 'news', 'spa']) {
      const query = encode([['client_id', client], ['redirect_uri', uri], ['response_type', 'code'], ['scope', 'openid'], ['state', 's'], ['code_challenge', pkcePair().challenge], ['code_challenge_method', 'S256']])
      cases.push({ name: `GET /authorize for ${client} to ${uri}`, method: 'GET', path: `/authorize?${query}`, headers: session })
      cases.push({ name: `POST /authorize for ${client} to ${uri}`, method: 'POST', path: '/authorize', body: `${query}&prompt=none`, headers: { ...FORM, ...session } })
    }
    const logout = encode([['post_logout_redirect_uri', uri], ['state', 's']])
    cases.push({ name: `GET /logout with a hint to ${uri}`, method: 'GET', path: `/logout?${logout}&${encode([['id_token_hint', a.tokens.id_token]])}`, headers: session })
    cases.push({ name: `POST /logout with client_id to ${uri}`, method: 'POST', path: '/logout', body: `${logout}&client_id=shop`, headers: FORM })
  }
  return cases
}

/** Bodies, content types, authorization and cookie headers that no client should send. */
function envelopeCases (a: Artefacts): Case[] {
  const cases: Case[] = []
  const posts = ['/authorize', '/token', '/userinfo', '/revoke', '/introspect', '/logout']
  const bodies: Array<[string, string, string]> = [
    ['valid JSON', 'application/json', JSON.stringify({ client_id: 'shop', grant_type: 'authorization_code', code: a.code, redirect_uri: SHOP_CB })],
    ['nested JSON', 'application/json', '{"client_id":{"$ne":null},"token":["a","b"]}'],
    ['prototype-poisoning JSON', 'application/json', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}'],
    ['broken JSON', 'application/json', '{"client_id": "shop",'],
    ['JSON that is a string', 'application/json', '"client_id=shop"'],
    ['plain text', 'text/plain', 'client_id=shop&client_secret=shop-secret'],
    ['XML', 'application/xml', '<client_id>shop</client_id>'],
    ['multipart', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="client_id"\r\n\r\nshop\r\n--x--'],
    ['form in UTF-16', 'application/x-www-form-urlencoded; charset=utf-16', 'c\u0000l\u0000i\u0000'],
    ['form with an odd charset', 'application/x-www-form-urlencoded; charset=x-evil', 'client_id=shop'],
    ['garbled content type', ';;;/', 'client_id=shop'],
    ['form of binary junk', 'application/x-www-form-urlencoded', randomHeader(300)],
  ]
  for (const path of posts) {
    for (const [name, type, body] of bodies) cases.push({ name: `POST ${path}: ${name}`, method: 'POST', path, body, headers: { 'content-type': type } })
    cases.push({ name: `POST ${path}: a 100 KB form`, method: 'POST', path, body: `client_id=shop&x=${'a'.repeat(100 * 1024)}`, headers: FORM, expect: 413 })
    cases.push({ name: `POST ${path}: a 100 KB JSON body`, method: 'POST', path, body: JSON.stringify({ x: 'a'.repeat(100 * 1024) }), headers: { 'content-type': 'application/json' }, expect: 413 })
    cases.push({ name: `POST ${path}: no content type`, method: 'POST', path, body: 'client_id=shop' })
    cases.push({ name: `POST ${path}: gzip claimed, not given`, method: 'POST', path, body: 'client_id=shop', headers: { ...FORM, 'content-encoding': 'gzip' } })
  }
  const everywhere = ['/authorize', '/callback/idp', '/callback/unknown', '/token', '/userinfo', '/revoke', '/introspect', '/logout', '/jwks', '/.well-known/openid-configuration', '/status', '/status.json', '/livez', '/readyz', '/healthz']
  for (const path of everywhere) {
    const method = ['/token', '/revoke', '/introspect'].includes(path) ? 'POST' : 'GET'
    cases.push({ name: `${method} ${path}: a 20 KB header`, method, path, headers: { 'x-padding': 'p'.repeat(20 * 1024) }, expect: 431 })
    cases.push({ name: `${method} ${path}: many headers`, method, path, headers: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'v'.repeat(60)])), expect: 431 })
    for (let i = 0; i < 4; i++) {
      const authorization = pick([
        () => randomHeader(1 + Math.floor(random() * 200)),
        () => `Basic ${randomHeader(1 + Math.floor(random() * 100))}`,
        () => `Basic ${Buffer.from(randomHeader(40), 'latin1').toString('base64')}`,
        () => `Basic ${Buffer.from(`%E0%A4%A:${randomHeader(10)}`).toString('base64')}`,
        () => `Bearer ${randomHeader(1 + Math.floor(random() * 100))}`,
        () => `Bearer ${Buffer.from(randomHeader(60), 'latin1').toString('base64url')}`,
      ])()
      cases.push({ name: `${method} ${path}: random authorization #${i}`, method, path, headers: { authorization, ...(method === 'POST' ? FORM : {}) }, ...(method === 'POST' ? { body: 'token=x&grant_type=refresh_token&refresh_token=x' } : {}) })
    }
    cases.push({ name: `${method} ${path}: junk cookies`, method, path, headers: { cookie: `${a.sessionName}=%ZZ%; ${a.sessionName}=${a.session}; =; ;;; understudy-tx-${'A'.repeat(32)}=${randomHeader(50)}` } })
    cases.push({ name: `${method} ${path}: a 15 KB cookie`, method, path, headers: { cookie: `${a.sessionName}=${'A'.repeat(15_000)}` } })
    for (const other of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) cases.push({ name: `${other} ${path}`, method: other, path })
    cases.push({ name: `HEAD ${path}`, method: 'HEAD', path })
  }
  const paths = ['/callback/%ZZ', '/callback/%E0%A4%A', `/callback/${'p'.repeat(300)}`, '/callback/', '/callback/idp/extra', '/callback/..%2F..%2Ftoken', '/authorize/', '/AUTHORIZE', '/authorize%00', '/token%0d%0aX:1', '/%2e%2e/token', '/jwks?x=%00', '/.well-known/openid-configuration/../jwks', `/${'a'.repeat(3000)}`, `/authorize?${'a=b&'.repeat(1500)}`]
  for (const path of paths) cases.push({ name: `GET ${path.slice(0, 60)}`, method: 'GET', path, routeless: true })
  for (const refresh of ['<script>alert(1)</script>', '"><svg onload=alert(1)>', '-1', '1e9', '2&refresh=3', '%00', 'NaN']) {
    cases.push({ name: `GET /status?refresh=${refresh}`, method: 'GET', path: `/status?refresh=${refresh}` })
  }
  for (const path of ['/admin/breakers', '/admin/faults', '/admin/drain', '/metrics']) {
    for (const method of ['GET', 'POST']) cases.push({ name: `${method} ${path} on the public port`, method, path, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, expect: 404 })
  }
  return cases
}

/** A login's artefacts: a spare code, tokens, the session cookie, and a pending transaction. */
async function artefacts (): Promise<Artefacts> {
  const { browser, tokens } = await login(stack, 'shop')
  const { code } = await authorizeCode(stack, 'shop', {}, { browser })
  const sessionName = stack.gateway.gateway.cookies.session
  const pending = new Browser()
  const started = await pending.fetch(`${stack.issuer}/authorize?${encode([['client_id', 'shop'], ['redirect_uri', SHOP_CB], ['response_type', 'code'], ['scope', 'openid']])}`)
  const txState = new URL(started.location!).searchParams.get('state')!
  return {
    code,
    tokens,
    session: browser.cookie(stack.issuer, sessionName)!,
    sessionName,
    txState,
    txCookie: pending.cookie(stack.issuer, `understudy-tx-${txState}`)!,
  }
}

/** Where a redirect may go: the test clients' registered URIs, or (for a valid login) an upstream region. */
function allowedLocation (location: string): boolean {
  const registered = Object.values(CLIENTS).flatMap((c) => [...c.redirectUris, ...c.postLogoutRedirectUris])
  const base = location.split('?')[0]!
  if (registered.includes(base)) return true
  let url: URL
  try {
    url = new URL(location)
  } catch {
    return false
  }
  return stack.upstream.regions.some((r) => new URL(r.url).origin === url.origin)
}

async function send (c: Case): Promise<{ status: number, headers: Headers, text: string }> {
  const base = c.to === 'admin' ? stack.adminUrl : c.to === 'quiet' ? quiet.adminUrl : stack.issuer
  const response = await fetch(`${base}${c.path}`, { method: c.method, redirect: 'manual', ...(c.headers ? { headers: c.headers } : {}), ...(c.body === undefined ? {} : { body: c.body }) })
  return { status: response.status, headers: response.headers, text: await response.text() }
}

function check (t: Test, c: Case, answer: { status: number, headers: Headers, text: string }): void {
  const problems: string[] = []
  if (answer.status >= 500) problems.push(`status ${answer.status}`)
  if (c.expect !== undefined && answer.status !== c.expect) problems.push(`status ${answer.status}, expected ${c.expect}`)
  const location = answer.headers.get('location')
  const admin = c.to === 'admin' || c.to === 'quiet'
  if (location !== null && (admin || !allowedLocation(location))) problems.push(`redirect to ${location}`)
  const path = c.path.split('?')[0]!
  const isError = answer.status >= 400 && answer.status !== 431 && c.method !== 'HEAD'
  const html = /^text\/html/.test(answer.headers.get('content-type') ?? '')
  if (html && !/frame-ancestors 'none'/.test(answer.headers.get('content-security-policy') ?? '')) problems.push('an HTML page without frame-ancestors \'none\'')
  if (html && (/<script|<svg/i.test(answer.text) || /(href|src|action|content)\s*=\s*["']?\s*(javascript|data):/i.test(answer.text))) problems.push('markup or a script URL reflected into HTML')
  if (isError && HTML_PATHS.test(path) && answer.status !== 404 && !c.routeless && !html) {
    problems.push(`an HTML endpoint answered ${answer.headers.get('content-type')}`)
  } else if (isError && !html) {
    let body: unknown
    try {
      body = JSON.parse(answer.text)
    } catch {
      problems.push(`a non-JSON error body: ${answer.text.slice(0, 80)}`)
    }
    const shape = body as Record<string, unknown> | undefined
    // The admin API adds `problems` (every validation error) to the same shape.
    const allowed = admin ? ['error', 'error_description', 'problems'] : ['error', 'error_description']
    if (body !== undefined && (typeof shape?.error !== 'string' || Object.keys(shape).some((k) => !allowed.includes(k)) || (shape.error_description !== undefined && typeof shape.error_description !== 'string'))) {
      problems.push(`not the OAuth error shape: ${answer.text.slice(0, 120)}`)
    }
  }
  if (problems.length > 0) t.fail(`${c.name}: ${problems.join('; ')}`)
}

t.test('thousands of malformed requests never get a 5xx, a foreign redirect or a malformed error', async (t) => {
  const a = await artefacts()
  // Public first: the admin cases with the token drain the instance and force breakers open, as an operator could.
  const cases = [...parameterCases(a), ...tokenCases(a), ...redirectCases(a), ...envelopeCases(a), ...adminCases(ADMIN_TOKEN, randomHeader)]
  t.ok(cases.length >= 2000, `${cases.length} requests (${cases.filter((c) => c.to !== undefined).length} at the admin ports)`)
  const statuses = new Map<number, number>()
  for (const c of cases) {
    const answer = await send(c)
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    check(t, c, answer)
  }
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([x], [y]) => x - y)))}`)
  t.notOk([...statuses.keys()].some((s) => s >= 500), 'no 5xx at all')
  t.ok(stack.logs.every((line) => !line.includes('"unhandled error"')), 'nothing reached the unhandled-error path')
})

t.test('requests no HTTP library would send never get a 5xx from either port', async (t) => {
  const ports = { public: Number(new URL(stack.issuer).port), admin: Number(new URL(stack.adminUrl).port) }
  for (const { name, raw } of rawRequests()) {
    for (const [where, port] of Object.entries(ports)) {
      const statuses = await sendRaw(port, raw)
      t.notOk(statuses.some((s) => s >= 500), `${name} at the ${where} port: ${statuses.join(', ') || 'closed'}`)
      t.notOk(where === 'public' && statuses.length > 1 && statuses.slice(1).some((s) => s === 200), `${name}: nothing smuggled past the first request`)
    }
  }
})

t.test('the gateway is still alive and serving after the barrage', async (t) => {
  const admin = (base: string, method: string, path: string) => fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  // Undo what the operator-shaped cases did: drained, breakers forced open, policies changed, faults injected.
  for (const base of [stack.adminUrl, quiet.adminUrl]) {
    for (const region of ['primary', 'secondary']) {
      t.equal((await admin(base, 'POST', `/admin/breakers/idp/${region}/close`)).status, 200)
      t.equal((await admin(base, 'DELETE', `/admin/breakers/idp/${region}/policy`)).status, 200)
    }
    t.equal((await admin(base, 'POST', '/admin/undrain')).status, 200)
  }
  t.equal((await admin(stack.adminUrl, 'DELETE', '/admin/faults')).status, 200)
  for (const url of [`${stack.issuer}/livez`, `${stack.issuer}/readyz`, `${stack.adminUrl}/livez`, `${stack.adminUrl}/readyz`, `${quiet.adminUrl}/readyz`]) {
    t.equal((await fetch(url)).status, 200, `${url} answers 200`)
  }
  const breakers = await (await admin(stack.adminUrl, 'GET', '/admin/breakers')).json() as { breakers: Array<{ state: string, policySource: { kind: string } }> }
  t.ok(breakers.breakers.every((b) => b.state === 'closed' && b.policySource.kind === 'config'), 'every breaker closed, on its configured policy')
  const { tokens } = await login(stack, 'news')
  t.ok(tokens.access_token, 'a login still works')
})
