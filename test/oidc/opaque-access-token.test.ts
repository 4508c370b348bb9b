import { hash } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import type { AuthorizationRequest } from '../../src/oidc/authorization-request.js'
import type { Client } from '../../src/oidc/clients.js'
import { issueCode } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { introspect, revoke } from '../../src/oidc/revocation.js'
import { readSession } from '../../src/oidc/session-cookie.js'
import { token, type TokenResponse } from '../../src/oidc/token.js'
import { sealAccessToken, type GrantContext } from '../../src/oidc/tokens.js'
import { userinfo } from '../../src/oidc/userinfo.js'
import { ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import type { Store } from '../../src/store/store.js'
import { ISSUER, SHOP, SPA, unit, type Unit } from '../helpers/oidc-unit.js'

// The access-token format is the client's (clients[].accessTokenFormat): every
// rule a JWT access token follows (lifetime, the degraded cap, revocation by
// token, grant or session, per-client introspection) must hold for the opaque
// one too, so most tests run the same table over both formats.

type Format = Client['accessTokenFormat']
const FORMATS: Format[] = ['jwt', 'opaque']

/** The shop, registered with `format`. */
function shop (u: Unit, format: Format): Client {
  return { ...u.deps.clients.get(SHOP.clientId)!, accessTokenFormat: format }
}

function request (): AuthorizationRequest {
  return { clientId: SHOP.clientId, redirectUri: SHOP.redirectUri, scope: 'openid email', prompt: [], provider: 'idp', nonce: 'rp-nonce' }
}

/** The tokens of a code grant to the shop registered with `format`; an access token of another format fails the test. */
async function tokensFor (u: Unit, format: Format, acr = ACR_UPSTREAM, code = issueCode(u.deps, request(), u.session(), acr)): Promise<TokenResponse> {
  const issued = await token(u.deps, { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri }, shop(u, format), silentLogger)
  // Three segments for a JWS, five for a JWE: the shape tells the formats apart.
  if (issued.access_token.split('.').length !== (format === 'opaque' ? 5 : 3)) throw new Error(`the ${format} client got an access token of another format`)
  return issued
}

/** What userinfo answers for `accessToken`: its claims, or the OAuth error code. */
async function userinfoOf (u: Unit, accessToken: string): Promise<Record<string, unknown> | string> {
  try {
    return await userinfo(u.deps, `Bearer ${accessToken}`, undefined)
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.error
  }
}

/** What the shop (or `client`) is told at the introspection endpoint. */
async function introspectionOf (u: Unit, format: Format, presented: string, extra: Record<string, string> = {}, client = shop(u, format)): Promise<Record<string, unknown>> {
  return introspect(u.deps, { token: presented, ...extra }, client, silentLogger)
}

/** Whether `accessToken` is usable, in words, at userinfo and at introspection. */
async function usable (u: Unit, format: Format, accessToken: string): Promise<string> {
  const info = await userinfoOf(u, accessToken)
  const active = (await introspectionOf(u, format, accessToken)).active
  return `userinfo ${typeof info === 'string' ? info : 'ok'}, active ${String(active)}`
}

const ACTIVE = 'userinfo ok, active true'
const INACTIVE = 'userinfo invalid_token, active false'

t.test('an opaque client gets a Bearer access token sealed as a compact JWE, not a JWT; a jwt client still gets an RFC 9068 JWT', async (t) => {
  const u = await unit()
  const opaque = await tokensFor(u, 'opaque')
  t.equal(opaque.token_type, 'Bearer')
  t.equal(opaque.expires_in, 600)
  t.equal(opaque.access_token.split('.').length, 5, 'five segments: a compact JWE')
  t.same(decodeProtectedHeader(opaque.access_token), { alg: 'dir', enc: 'A256GCM', kid: u.deps.keys.sealer.kid }, 'sealed with the sealing key')
  t.throws(() => decodeJwt(opaque.access_token), 'no claims to read without the sealing key')
  t.notMatch(Buffer.from(opaque.access_token.split('.')[3]!, 'base64url').toString('latin1'), /alice|client_id|scope/, 'the claims are encrypted')

  const jwt = await tokensFor(u, 'jwt')
  t.equal(jwt.access_token.split('.').length, 3)
  t.equal(decodeProtectedHeader(jwt.access_token).typ, 'at+jwt')
})

t.test('userinfo and introspection read an opaque access token exactly as they read a JWT one', async (t) => {
  const answers: Record<string, unknown> = {}
  for (const format of FORMATS) {
    const u = await unit()
    const issued = await tokensFor(u, format)
    const claims = decodeJwt(issued.id_token)
    t.same(await userinfoOf(u, issued.access_token), { email: 'alice@example.test', sub: claims.sub }, `${format}: userinfo`)
    const seen = await introspectionOf(u, format, issued.access_token)
    t.match(seen, { active: true, token_type: 'Bearer', sub: claims.sub, client_id: SHOP.clientId, scope: 'openid email', iss: ISSUER, aud: ISSUER, auth_time: claims.auth_time, acr: ACR_UPSTREAM, iat: u.clock.now(), exp: u.clock.now() + 600 }, `${format}: introspection`)
    t.type(seen.jti, 'string', `${format}: a jti`)
    answers[format] = Object.keys(seen).sort()
  }
  t.same(answers.opaque, answers.jwt, 'introspection answers the same members for both formats')
})

t.test('the ID token\'s at_hash is the left half of the SHA-256 of the opaque access token', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, 'opaque')
  const digest = hash('sha256', issued.access_token, 'buffer')
  t.equal(decodeJwt(issued.id_token).at_hash, digest.subarray(0, 16).toString('base64url'))
})

t.test('an access token of either format is usable until its exp and not at it, and a cached login\'s only for tokens.degraded', async (t) => {
  const cases: Array<[string, { acr: string, later: number }, string]> = [
    ['a second before exp', { acr: ACR_UPSTREAM, later: 599 }, ACTIVE],
    ['at exp', { acr: ACR_UPSTREAM, later: 600 }, INACTIVE],
    ['a cached login, a second before tokens.degraded', { acr: ACR_CACHED, later: 299 }, ACTIVE],
    ['a cached login, at tokens.degraded', { acr: ACR_CACHED, later: 300 }, INACTIVE],
  ]
  for (const format of FORMATS) {
    for (const [name, c, expected] of cases) {
      const u = await unit()
      const issued = await tokensFor(u, format, c.acr)
      t.equal(issued.expires_in, c.acr === ACR_CACHED ? 300 : 600, `${format}, ${name}: expires_in`)
      u.clock.advance(c.later)
      t.equal(await usable(u, format, issued.access_token), expected, `${format}, ${name}`)
    }
  }
})

t.test('revoking the token, its grant or its session makes an access token of either format inactive', async (t) => {
  const cases: Array<[string, (u: Unit, format: Format, issued: TokenResponse, code: string) => Promise<unknown>]> = [
    ['the access token revoked by its client', async (u, format, issued) => revoke(u.deps, { token: issued.access_token }, shop(u, format), silentLogger)],
    ['the access token revoked with the hint refresh_token', async (u, format, issued) => revoke(u.deps, { token: issued.access_token, token_type_hint: 'refresh_token' }, shop(u, format), silentLogger)],
    ['the refresh token revoked (its whole family)', async (u, format, issued) => revoke(u.deps, { token: issued.refresh_token }, shop(u, format), silentLogger)],
    ['the code redeemed again (its grant revoked)', async (u, format, _issued, code) => tokensFor(u, format, ACR_UPSTREAM, code).catch(() => undefined)],
    ['the session logged out', async (u, _format, issued) => u.store.revoke(String(decodeJwt(issued.id_token).sid), u.deps.sessionLifetime)],
  ]
  for (const format of FORMATS) {
    for (const [name, revocation] of cases) {
      const u = await unit()
      const code = issueCode(u.deps, request(), u.session(), ACR_UPSTREAM)
      const issued = await tokensFor(u, format, ACR_UPSTREAM, code)
      t.equal(await usable(u, format, issued.access_token), ACTIVE, `${format}, before ${name}`)
      await revocation(u, format, issued, code)
      t.equal(await usable(u, format, issued.access_token), INACTIVE, `${format}, after ${name}`)
    }
  }
})

t.test('another client can neither introspect nor revoke an opaque access token', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, 'opaque')
  const spa = { ...u.deps.clients.get(SPA.clientId)!, accessTokenFormat: 'opaque' as const }
  t.same(await introspectionOf(u, 'opaque', issued.access_token, {}, spa), { active: false })
  await revoke(u.deps, { token: issued.access_token }, spa, silentLogger)
  t.equal(await usable(u, 'opaque', issued.access_token), ACTIVE, 'the other client\'s revocation is a no-op')
})

t.test('an opaque access token never serves as a code, a refresh token or a session, and no other sealed token serves as an access token', async (t) => {
  const u = await unit()
  const session = u.session()
  const code = issueCode(u.deps, request(), session, ACR_UPSTREAM)
  const issued = await tokensFor(u, 'opaque', ACR_UPSTREAM, code)
  const refused = async (params: Record<string, string>) => token(u.deps, params, shop(u, 'opaque'), silentLogger).then(() => 'tokens', (err: OAuthError) => err.error)
  t.equal(await refused({ grant_type: 'authorization_code', code: issued.access_token, redirect_uri: SHOP.redirectUri }), 'invalid_grant', 'as a code')
  t.equal(await refused({ grant_type: 'refresh_token', refresh_token: issued.access_token }), 'invalid_grant', 'as a refresh token')
  t.equal(await readSession(u.deps, issued.access_token, silentLogger), undefined, 'as a session cookie')

  t.equal(await userinfoOf(u, issued.refresh_token), 'invalid_token', 'a refresh token at userinfo')
  t.equal(await userinfoOf(u, issueCode(u.deps, request(), session, ACR_UPSTREAM)), 'invalid_token', 'a code at userinfo')
  t.equal(await userinfoOf(u, await u.cookie(session)), 'invalid_token', 'a session cookie at userinfo')
  for (const hint of [{}, { token_type_hint: 'access_token' }, { token_type_hint: 'refresh_token' }] as Array<Record<string, string>>) {
    const label = JSON.stringify(hint)
    t.equal((await introspectionOf(u, 'opaque', issued.refresh_token, hint)).token_type, 'refresh_token', `${label}: a refresh token is introspected as one`)
    t.equal((await introspectionOf(u, 'opaque', issued.access_token, hint)).token_type, 'Bearer', `${label}: the opaque access token as an access token`)
  }
})

t.test('an opaque access token that was altered, or sealed for another issuer, is invalid_token', async (t) => {
  const u = await unit()
  const issued = await tokensFor(u, 'opaque')
  const parts = issued.access_token.split('.')
  const ciphertext = Buffer.from(parts[3]!, 'base64url')
  ciphertext[0] = ciphertext[0]! ^ 1
  const altered = [...parts.slice(0, 3), ciphertext.toString('base64url'), parts[4]].join('.')
  const grant: GrantContext = { gid: 'g', clientId: SHOP.clientId, sub: 'someone', sid: 's', provider: 'idp', scope: 'openid', claims: {}, authTime: u.clock.now(), vouchedAt: u.clock.now(), acr: ACR_UPSTREAM, upstreamSub: 'someone' }
  const foreign = sealAccessToken(u.deps.keys, 'https://other-issuer.test', grant, 'jti-1', u.clock.now(), 600)
  for (const [name, presented] of [['altered', altered], ['another issuer\'s', foreign]] as const) {
    t.equal(await userinfoOf(u, presented), 'invalid_token', `${name}: userinfo`)
    t.same(await introspectionOf(u, 'opaque', presented), { active: false }, `${name}: introspection`)
  }
  t.same(await userinfoOf(u, sealAccessToken(u.deps.keys, ISSUER, grant, 'jti-2', u.clock.now(), 600)), { sub: 'someone' }, 'the same claims sealed for this issuer are accepted')
})

t.test('issuing and reading an opaque access token costs the store no more than a JWT one: no write on the hot path', async (t) => {
  const calls: Record<string, string[]> = {}
  for (const format of FORMATS) {
    const u = await unit()
    const seen: string[] = []
    u.deps.store = new Proxy(u.store, {
      get (target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => { seen.push(String(name)); return (value as (...a: unknown[]) => unknown).apply(target, args) }
      },
    }) as Store
    const issued = await tokensFor(u, format)
    await userinfoOf(u, issued.access_token)
    await introspectionOf(u, format, issued.access_token)
    calls[format] = seen
  }
  t.same(calls.opaque, calls.jwt, 'the same store calls, in the same order')
  t.same(calls.opaque!.filter((c) => c !== 'isRevoked' && c !== 'anyRevoked'), ['revokeOnce'], 'the only write is the code\'s single-use guard; the rest are tombstone reads')
})
