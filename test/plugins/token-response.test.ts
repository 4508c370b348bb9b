import t from 'tap'
import { tokenResponseJson } from '../../plugins/oidc/token.js'
import { silentLogger } from '../../src/log.js'
import type { AuthorizationRequest } from '../../src/oidc/authorization-request.js'
import type { Client } from '../../src/oidc/clients.js'
import { issueCode } from '../../src/oidc/code.js'
import { token } from '../../src/oidc/token.js'
import { ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import { SHOP, unit } from '../helpers/oidc-unit.js'

const request = (): AuthorizationRequest => ({ clientId: SHOP.clientId, redirectUri: SHOP.redirectUri, scope: 'openid email profile', prompt: [], provider: 'idp', nonce: 'rp-nonce' })

t.test('the token response is written as JSON.stringify writes it, for either access-token format', async (t) => {
  const u = await unit()
  for (const format of ['jwt', 'opaque'] as Array<Client['accessTokenFormat']>) {
    const client = { ...u.deps.clients.get(SHOP.clientId)!, accessTokenFormat: format }
    const code = issueCode(u.deps, request(), u.session(), ACR_UPSTREAM)
    const issued = await token(u.deps, { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri }, client, silentLogger)
    t.equal(tokenResponseJson(issued), JSON.stringify(issued), format)
    const refreshed = await token(u.deps, { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, client, silentLogger)
    t.equal(tokenResponseJson(refreshed), JSON.stringify(refreshed), `${format}, refreshed`)
  }
})

t.test('the scope is escaped as JSON', async (t) => {
  const response = { access_token: 'a.b.c', token_type: 'Bearer' as const, expires_in: 300, id_token: 'd.e.f', refresh_token: 'g..h.i.j', scope: 'openid "quoted" \\ \u2028' }
  t.equal(tokenResponseJson(response), JSON.stringify(response))
  t.same(JSON.parse(tokenResponseJson(response)), response)
})
