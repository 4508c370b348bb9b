import { decodeJwt } from 'jose'
import t from 'tap'
import { linkMethodId, passkeyMethodId } from '../../src/backup/method-id.js'
import { silentLogger } from '../../src/log.js'
import type { AuthorizationRequest } from '../../src/oidc/authorization-request.js'
import type { Client } from '../../src/oidc/clients.js'
import { issueCode } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { introspect } from '../../src/oidc/revocation.js'
import { readSession } from '../../src/oidc/session-cookie.js'
import { revokeMethod } from '../../src/oidc/tombstones.js'
import { token, type TokenResponse } from '../../src/oidc/token.js'
import { userinfo } from '../../src/oidc/userinfo.js'
import { ACR_BACKUP, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import type { BackupMethod, Session } from '../../src/sessions/session.js'
import { SHOP, unit, type Unit } from '../helpers/oidc-unit.js'

// Removing a backup method tombstones its id (DESIGN §10); every check that
// reads a session's or a grant's tombstones (the session cookie, a code, a
// refresh, userinfo and introspection) reads the method's with them, in the
// same lookup, and only for what a backup login made.

const PASSKEY_A: BackupMethod = { method: 'passkey', id: 'method-passkey-a' }
const PASSKEY_B: BackupMethod = { method: 'passkey', id: 'method-passkey-b' }
const LINKED: BackupMethod = { method: 'linked', provider: 'naver', id: 'method-naver' }

function request (): AuthorizationRequest {
  return { clientId: SHOP.clientId, redirectUri: SHOP.redirectUri, scope: 'openid email', prompt: [], provider: 'idp' }
}

function shop (u: Unit, format: Client['accessTokenFormat']): Client {
  return { ...u.deps.clients.get(SHOP.clientId)!, accessTokenFormat: format }
}

/** A login of alice: by `method`, or upstream without one. */
function sessionOf (u: Unit, method: BackupMethod | undefined): Session {
  return method === undefined ? u.session() : { ...u.session(), claims: {}, backup: method }
}

/** A code from the session, answered with its acr. */
function codeFrom (u: Unit, session: Session): string {
  return issueCode(u.deps, request(), session, session.backup === undefined ? ACR_UPSTREAM : ACR_BACKUP)
}

async function redeemed (u: Unit, session: Session, client: Client): Promise<TokenResponse> {
  return token(u.deps, { grant_type: 'authorization_code', code: codeFrom(u, session), redirect_uri: SHOP.redirectUri }, client, silentLogger)
}

/** What a login left: its session's cookie, a code not redeemed yet, and the tokens of one that was. */
interface Login { cookie: string, code: string, tokens: TokenResponse, client: Client }

async function loginWith (u: Unit, method: BackupMethod | undefined, format: Client['accessTokenFormat']): Promise<Login> {
  const session = sessionOf(u, method)
  const client = shop(u, format)
  return { cookie: await u.cookie(session), code: codeFrom(u, session), tokens: await redeemed(u, session, client), client }
}

async function outcome (work: () => Promise<unknown>): Promise<string> {
  try {
    await work()
    return 'ok'
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.error
  }
}

/** What each piece of the login still does, in words; the code and refresh token, which presenting uses up, come last. */
async function described (u: Unit, login: Login): Promise<string> {
  const session = await readSession(u.deps, login.cookie, silentLogger) === undefined ? 'ended' : 'ok'
  const info = await outcome(() => userinfo(u.deps, `Bearer ${login.tokens.access_token}`, undefined))
  const access = (await introspect(u.deps, { token: login.tokens.access_token }, login.client, silentLogger)).active
  const refreshActive = (await introspect(u.deps, { token: login.tokens.refresh_token }, login.client, silentLogger)).active
  const code = await outcome(() => token(u.deps, { grant_type: 'authorization_code', code: login.code, redirect_uri: SHOP.redirectUri }, login.client, silentLogger))
  const refresh = await outcome(() => token(u.deps, { grant_type: 'refresh_token', refresh_token: login.tokens.refresh_token }, login.client, silentLogger))
  return `session ${session}, userinfo ${info}, access active ${String(access)}, refresh active ${String(refreshActive)}, code ${code}, refresh ${refresh}`
}

const LIVE = 'session ok, userinfo ok, access active true, refresh active true, code ok, refresh ok'
const ENDED = 'session ended, userinfo invalid_token, access active false, refresh active false, code invalid_grant, refresh invalid_grant'

t.test('removing a backup method ends the sessions, codes and tokens its logins made, and only those', async (t) => {
  for (const format of ['jwt', 'opaque'] as const) {
    const u = await unit()
    const logins = {
      'passkey A': await loginWith(u, PASSKEY_A, format),
      'passkey B': await loginWith(u, PASSKEY_B, format),
      'the linked provider': await loginWith(u, LINKED, format),
      'the upstream': await loginWith(u, undefined, format),
    }
    await revokeMethod(u.deps, PASSKEY_A.id)
    const expected: Record<keyof typeof logins, string> = { 'passkey A': ENDED, 'passkey B': LIVE, 'the linked provider': LIVE, 'the upstream': LIVE }
    for (const [name, login] of Object.entries(logins)) {
      t.equal(await described(u, login), expected[name as keyof typeof logins], `${format}: a login with ${name}, after passkey A is removed`)
    }
  }
})

t.test('a removed linked provider ends its logins as a removed passkey does', async (t) => {
  const u = await unit()
  const linked = await loginWith(u, LINKED, 'jwt')
  await revokeMethod(u.deps, LINKED.id)
  t.equal(await described(u, linked), ENDED)
})

t.test('the method\'s tombstone outlives every token its logins made: a refresh family started by the session\'s last code', async (t) => {
  const u = await unit()
  const { sessionLifetime, tokens } = u.deps
  // The session was made just before the removal and serves codes for as long as its cookie lives.
  const session = sessionOf(u, PASSKEY_A)
  const cookie = await u.cookie(session)
  await revokeMethod(u.deps, PASSKEY_A.id)
  u.clock.advance(sessionLifetime - 1)
  const code = codeFrom(u, session)
  t.ok(await readSession(u.deps, cookie, silentLogger) === undefined, 'the session, at the end of its cookie')
  t.equal(await outcome(() => token(u.deps, { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri }, shop(u, 'jwt'), silentLogger)), 'invalid_grant', 'a code it issued then')
  u.clock.advance(tokens.code + tokens.refreshToken - 2)
  t.equal(await u.store.isRevoked(PASSKEY_A.id), true, 'the tombstone is still there when a family started by that code would end')
})

t.test('a method\'s id names neither the credential nor the linked subject, and a method added again gets another', async (t) => {
  const sub = 'alice-sub'
  const passkey = { id: 'credential-id-of-alice', sub, createdAt: 1_700_000_000 }
  const link = { provider: 'naver', upstreamSub: 'alice-at-naver', sub, linkedAt: 1_700_000_000 }
  const ids = [passkeyMethodId(passkey), linkMethodId(link)]
  for (const id of ids) t.match(id, /^[A-Za-z0-9_-]{43}$/, 'a SHA-256, base64url')
  t.notOk(ids.some((id) => id.includes('alice')), 'nothing of the credential or the subject shows')
  t.equal(passkeyMethodId({ ...passkey }), ids[0], 'the same passkey as registered: the same id, at login and at removal')
  t.not(passkeyMethodId({ ...passkey, createdAt: passkey.createdAt + 1 }), ids[0], 'the same credential added again')
  t.not(linkMethodId({ ...link, linkedAt: link.linkedAt + 1 }), ids[1], 'the same identity linked again')
  t.not(linkMethodId({ ...link, sub: 'bob-sub' }), ids[1], 'the same identity linked to someone else')
  t.not(linkMethodId({ ...link, provider: 'kakao' }), ids[1], 'the same subject at another provider')
})

t.test('a backup login\'s access token names its method (mid), an upstream login\'s none', async (t) => {
  const u = await unit()
  const backup = await redeemed(u, sessionOf(u, PASSKEY_A), shop(u, 'jwt'))
  t.equal(decodeJwt(backup.access_token).mid, PASSKEY_A.id, 'the backup login\'s access token names its method')
  const upstream = await redeemed(u, sessionOf(u, undefined), shop(u, 'jwt'))
  t.notOk('mid' in decodeJwt(upstream.access_token), 'an upstream login\'s does not')
})

t.test('the method is asked in the same lookup as the session and grant, and an upstream login\'s checks ask nothing more', async (t) => {
  for (const method of [undefined, PASSKEY_A]) {
    const u = await unit()
    const asked: string[] = []
    const counting = new Proxy(u.store, {
      get (store, name) {
        if (name === 'isRevoked') return async (id: string) => { asked.push(id); return store.isRevoked(id) }
        if (name === 'anyRevoked') return async (ids: string[]) => { asked.push(...ids); return store.anyRevoked(ids) }
        const value: unknown = Reflect.get(store, name)
        return typeof value === 'function' ? value.bind(store) : value
      },
    })
    const deps = { ...u.deps, store: counting }
    const what = method === undefined ? 'an upstream login' : 'a passkey login'
    const mid = method === undefined ? [] : [method.id]
    const session = sessionOf(u, method)
    const cookie = await u.cookie(session)
    const code = codeFrom(u, session)
    await readSession(deps, cookie, silentLogger)
    t.same(asked.splice(0), [session.sid, ...mid], `${what}: the session cookie`)
    const issued = await token(deps, { grant_type: 'authorization_code', code, redirect_uri: SHOP.redirectUri }, shop(u, 'jwt'), silentLogger)
    const access = decodeJwt(issued.access_token) as { gid: string, jti: string }
    t.same(asked.splice(0), [session.sid, access.gid, ...mid], `${what}: the code (its single-use guard is its own tombstone, written once)`)
    await userinfo(deps, `Bearer ${issued.access_token}`, undefined)
    t.same(asked.splice(0), [access.jti, access.gid, session.sid, ...mid], `${what}: userinfo`)
    await token(deps, { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, shop(u, 'jwt'), silentLogger)
    t.same(asked.splice(0), [access.gid, session.sid, ...mid], `${what}: a refresh`)
  }
})
