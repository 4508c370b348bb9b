import t, { type Test } from 'tap'
import { LIMITS } from '../../plugins/server.js'
import { MAX_PARAM_LENGTH } from '../../src/oidc/params.js'
import { basic, request, type Reply } from '../helpers/oidc.js'
import { CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/**
 * Each deliberate size limit (plugins/server.ts LIMITS, src/oidc/params.ts)
 * at its edge: just within it the request is judged on its content, just
 * over it the answer is the limit's own 4xx, shaped as every other error.
 */

const ADMIN_TOKEN = 'limits-test-admin-token-0123456789'
let stack: Stack
t.before(async () => { stack = await startStack({ config: { admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN } } }) })
t.teardown(async () => stack.close())

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const SHOP = { authorization: basic('shop', 'shop-secret') }

/** An RFC 6749 error body with this status and code. */
function oauthError (t: Test, reply: Reply, status: number, error: string, message: string): void {
  t.equal(reply.status, status, `${message}: ${status}`)
  t.equal(reply.json?.error, error, `${message}: ${error}`)
  t.type(reply.json?.error_description, 'string', `${message}: a description`)
}

/** A form body of exactly `bytes` bytes. */
function formOf (bytes: number): string {
  const head = 'grant_type=refresh_token&refresh_token=x&pad='
  return head + 'p'.repeat(bytes - head.length)
}

t.test(`a body over ${LIMITS.bodyBytes} bytes is 413, on the public and the admin port`, async (t) => {
  oauthError(t, await request(stack, '/token', { body: formOf(LIMITS.bodyBytes), headers: { ...FORM, ...SHOP } }), 400, 'invalid_grant', 'exactly at the limit the grant is judged')
  oauthError(t, await request(stack, '/token', { body: formOf(LIMITS.bodyBytes + 1), headers: { ...FORM, ...SHOP } }), 413, 'invalid_request', 'one byte over')
  const patch = (bytes: number) => fetch(`${stack.adminUrl}/admin/breakers/idp/primary`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ volumeThreshold: 10, pad: 'p'.repeat(bytes - 31) }),
  })
  t.equal((await patch(LIMITS.bodyBytes)).status, 400, 'admin: at the limit the policy is judged (pad is no policy field)')
  const over = await patch(LIMITS.bodyBytes + 1)
  t.equal(over.status, 413, 'admin: one byte over')
  t.equal((await over.json() as { error: string }).error, 'invalid_request')
})

t.test(`request headers over ${LIMITS.headerBytes} bytes are 431, on both ports`, async (t) => {
  for (const [where, base] of [['public', stack.issuer], ['admin', stack.adminUrl]]) {
    t.equal((await fetch(`${base}/livez`, { headers: { 'x-padding': 'p'.repeat(LIMITS.headerBytes - 1024) } })).status, 200, `${where}: a header block just within the limit`)
    t.equal((await fetch(`${base}/livez`, { headers: { 'x-padding': 'p'.repeat(LIMITS.headerBytes + 1) } })).status, 431, `${where}: over it`)
    t.equal((await fetch(`${base}/livez?${'q'.repeat(LIMITS.headerBytes + 1)}`)).status, 431, `${where}: a URL over it (the request line counts)`)
  }
})

t.test(`a path parameter over ${LIMITS.urlParamLength} characters is 414`, async (t) => {
  t.equal((await request(stack, `/callback/${'p'.repeat(LIMITS.urlParamLength)}?state=x`)).status, 400, 'at the limit: an unknown login, judged')
  oauthError(t, await request(stack, `/callback/${'p'.repeat(LIMITS.urlParamLength + 1)}?state=x`), 414, 'invalid_request', 'one character over')
  const admin = await fetch(`${stack.adminUrl}/admin/breakers/${'p'.repeat(LIMITS.urlParamLength + 1)}/primary/open`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(admin.status, 414, 'admin: one character over')
})

t.test(`a protocol parameter over ${MAX_PARAM_LENGTH} characters is 400 invalid_request`, async (t) => {
  const redeem = (code: string) => request(stack, '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: CLIENTS.shop.redirectUris[0]! }, headers: SHOP })
  oauthError(t, await redeem('c'.repeat(MAX_PARAM_LENGTH)), 400, 'invalid_grant', 'at the limit the code is judged')
  oauthError(t, await redeem('c'.repeat(MAX_PARAM_LENGTH + 1)), 400, 'invalid_request', 'one character over')
  const authorize = await request(stack, `/authorize?${new URLSearchParams({ client_id: 'shop', redirect_uri: CLIENTS.shop.redirectUris[0]!, response_type: 'code', scope: 'openid', state: 's'.repeat(MAX_PARAM_LENGTH + 1) })}`)
  const query = new URL(authorize.location!).searchParams
  t.equal(query.get('error'), 'invalid_request', 'an over-long state is an error at the registered redirect URI')
  t.notOk(query.has('state'), 'and is not echoed')
})
