import { hash } from 'node:crypto'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import type { BrowserOutcome } from '../../src/oidc/answer.js'
import { authorize } from '../../src/oidc/authorize.js'
import type { CodePayload } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { sessionStanding } from '../../src/oidc/session-standing.js'
import { mintIdToken } from '../../src/oidc/tokens.js'
import { TRANSACTION_LIFETIME, isState, openTransaction } from '../../src/oidc/transaction.js'
import { ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import { unseal } from '../../src/sessions/seal.js'
import { ISSUER, MAX_STALENESS, OUTAGE_MAX_STALENESS, PROVIDER, SHOP, fatal, transient, unit, type Unit } from '../helpers/oidc-unit.js'

const H = MAX_STALENESS
const D = OUTAGE_MAX_STALENESS

/** An authorization request of the shop, with `extra` parameters. */
function params (extra: Record<string, string> = {}): Record<string, string> {
  return { client_id: SHOP.clientId, redirect_uri: SHOP.redirectUri, response_type: 'code', scope: 'openid email', state: 'rp-state', ...extra }
}

/** What the browser was answered, in words: a code (and its acr), a trip to the upstream, or an error (and its Retry-After). */
async function answer (u: Unit, outcome: Promise<BrowserOutcome>): Promise<string> {
  try {
    const { location, upstream, page } = await outcome
    if (page) return `page ${page.kind}${page.kind === 'outage' && page.down ? ' down' : ''}`
    if (upstream) {
      const asked = u.router.calls.authorize.at(-1)!
      return ['upstream', asked.reauthenticate ? 'reauthenticate' : '', asked.maxAge === undefined ? '' : `max_age=${asked.maxAge}`].filter(Boolean).join(' ')
    }
    const query = new URL(location).searchParams
    const code = unseal<CodePayload>(u.deps.keys, 'code', query.get('code')!, u.clock.now())
    return `code ${code.acr === ACR_UPSTREAM ? 'upstream' : code.acr === ACR_CACHED ? 'cached' : code.acr}`
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.retryAfter === undefined ? err.error : `${err.error} retry-after=${err.retryAfter}`
  }
}

t.test('authorize answers from the session, a cached login or the upstream, as the session\'s age, the request and the upstream decide', async (t) => {
  interface Case { session?: { vouchedAgo: number, authAgo?: number }, extra?: Record<string, string>, up?: boolean, cannotStart?: true, refusesToStart?: true, expected: string, counted: string[] }
  const cases: Array<[string, Case]> = [
    ['no session: the browser goes to the upstream', { expected: 'upstream', counted: [] }],
    ['vouched for 10 minutes ago: SSO', { session: { vouchedAgo: 600 }, expected: 'code upstream', counted: ['sso'] }],
    ['exactly maxStaleness old: still SSO', { session: { vouchedAgo: H }, expected: 'code upstream', counted: ['sso'] }],
    ['a second past maxStaleness, upstream up: the upstream is asked', { session: { vouchedAgo: H + 1 }, expected: 'upstream', counted: [] }],
    ['past maxStaleness, every breaker open: a cached login', { session: { vouchedAgo: 2 * H }, up: false, expected: 'code cached', counted: ['cached'] }],
    ['past maxStaleness, the upstream cannot start a login: a cached login', { session: { vouchedAgo: 2 * H }, cannotStart: true, expected: 'code cached', counted: ['cached'] }],
    ['a second short of outageMaxStaleness, every breaker open: still a cached login', { session: { vouchedAgo: D - 1 }, up: false, expected: 'code cached', counted: ['cached'] }],
    ['past outageMaxStaleness, every breaker open: temporarily_unavailable, Retry-After from the soonest region', { session: { vouchedAgo: D + 1 }, up: false, expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['no session, the upstream cannot start a login: temporarily_unavailable', { cannotStart: true, expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['past maxStaleness, the upstream answers what the gateway refuses (no outage): server_error, never a cached login', { session: { vouchedAgo: 2 * H }, refusesToStart: true, expected: 'server_error', counted: [] }],
    ['prompt=none without a session: login_required', { extra: { prompt: 'none' }, expected: 'login_required', counted: [] }],
    ['prompt=none with a fresh session: SSO', { session: { vouchedAgo: 600 }, extra: { prompt: 'none' }, expected: 'code upstream', counted: ['sso'] }],
    ['prompt=none past maxStaleness, upstream up: login_required', { session: { vouchedAgo: 2 * H }, extra: { prompt: 'none' }, expected: 'login_required', counted: [] }],
    ['prompt=none past maxStaleness, every breaker open: a cached login', { session: { vouchedAgo: 2 * H }, extra: { prompt: 'none' }, up: false, expected: 'code cached', counted: ['cached'] }],
    ['prompt=login with a fresh session: the upstream, told to re-authenticate', { session: { vouchedAgo: 60 }, extra: { prompt: 'login' }, expected: 'upstream reauthenticate', counted: [] }],
    ['prompt=login, every breaker open: never a cached login', { session: { vouchedAgo: 60 }, extra: { prompt: 'login' }, up: false, expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['max_age=0 with a session a second old: the upstream, told to re-authenticate', { session: { vouchedAgo: 1 }, extra: { max_age: '0' }, expected: 'upstream reauthenticate max_age=0', counted: [] }],
    ['max_age=3600, authenticated 30 minutes ago: SSO', { session: { vouchedAgo: 600, authAgo: 1800 }, extra: { max_age: '3600' }, expected: 'code upstream', counted: ['sso'] }],
    ['max_age=600, authenticated 30 minutes ago: the upstream, given max_age', { session: { vouchedAgo: 600, authAgo: 1800 }, extra: { max_age: '600' }, expected: 'upstream max_age=600', counted: [] }],
    ['max_age=600, authenticated 30 minutes ago, every breaker open: never a cached login', { session: { vouchedAgo: 2 * H, authAgo: 1800 }, extra: { max_age: '600' }, up: false, expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
  ]
  for (const [name, c] of cases) {
    const u = await unit()
    u.router.up = c.up ?? true
    if (c.cannotStart) u.router.onAuthorize = async () => { throw transient() }
    if (c.refusesToStart) u.router.onAuthorize = async () => { throw fatal() }
    const cookie = c.session === undefined ? undefined : await u.cookie(u.session(c.session))
    t.equal(await answer(u, authorize(u.deps, params(c.extra), cookie, silentLogger)), c.expected, name)
    t.same(u.logins, c.counted.map((outcome) => `${SHOP.clientId} ${PROVIDER} ${outcome}`), `${name}: counted ${c.counted.join(', ') || 'nothing'}`)
  }
})

t.test('an id_token_hint is answered only from the session of the user it names', async (t) => {
  const u = await unit()
  const session = u.session({ vouchedAgo: 600 })
  const cookie = await u.cookie(session)
  const hintFor = (sub: string) => mintIdToken(u.deps.keys.signer('ES256')!, ISSUER, { gid: 'g', clientId: SHOP.clientId, sub, sid: 's', provider: PROVIDER, scope: 'openid', claims: {}, authTime: 0, vouchedAt: 0, acr: ACR_UPSTREAM, upstreamSub: sub }, u.clock.now() - 86_400, 3600)
  t.equal(await answer(u, authorize(u.deps, params({ id_token_hint: await hintFor(session.sub), prompt: 'none' }), cookie, silentLogger)), 'code upstream', 'a hint of this user, even an expired ID token: SSO')
  t.equal(await answer(u, authorize(u.deps, params({ id_token_hint: await hintFor('someone-else'), prompt: 'none' }), cookie, silentLogger)), 'login_required', 'a hint of another user with prompt=none: login_required')
  t.equal(await answer(u, authorize(u.deps, params({ id_token_hint: await hintFor('someone-else') }), cookie, silentLogger)), 'upstream', 'a hint of another user: the upstream is asked')
  t.equal(await answer(u, authorize(u.deps, params({ id_token_hint: 'not.a.token' }), cookie, silentLogger)), 'invalid_request', 'a hint that is no ID token of ours: invalid_request')
})

t.test('errors after the redirect URI is known go back to the relying party with its state', async (t) => {
  const u = await unit()
  const err = await authorize(u.deps, params({ prompt: 'none' }), undefined, silentLogger).catch((e: unknown) => e)
  t.ok(err instanceof OAuthError)
  t.same((err as OAuthError).redirect, { redirectUri: SHOP.redirectUri, state: 'rp-state' })
})

t.test('the browser goes to the upstream with a sealed transaction that expires, and a PKCE challenge of its verifier', async (t) => {
  const u = await unit()
  const outcome = await authorize(u.deps, params({ nonce: 'rp-nonce', login_hint: 'alice@example.test' }), undefined, silentLogger)
  t.equal(outcome.upstream, true, 'a new upstream transaction is what the per-address limit charges')
  const asked = u.router.calls.authorize[0]!
  t.ok(isState(asked.state), 'the state has the transaction format')
  t.equal(asked.redirectUri, `${ISSUER}/callback/${PROVIDER}`)
  t.equal(asked.loginHint, 'alice@example.test', 'login_hint is passed on')
  t.equal(outcome.cookies.length, 1)
  const cookie = outcome.cookies[0]!
  t.equal(cookie.name, u.deps.cookies.transaction(asked.state))
  t.equal(cookie.maxAge, TRANSACTION_LIFETIME)
  const tx = openTransaction(u.deps.keys, cookie.value, u.clock.now())
  t.match(tx, { state: asked.state, nonce: asked.nonce, provider: PROVIDER, region: 'primary', startedAt: u.clock.now(), request: { clientId: SHOP.clientId, nonce: 'rp-nonce', state: 'rp-state' } })
  t.equal(asked.codeChallenge, hash('sha256', tx.verifier!, 'base64url'), 'the challenge is S256 of the kept verifier')
  u.clock.advance(TRANSACTION_LIFETIME + 1)
  t.throws(() => openTransaction(u.deps.keys, cookie.value, u.clock.now()), 'the transaction expires with its lifetime')
})

t.test('a session\'s standing for a request: what it may answer, decided at an injected now', async (t) => {
  const now = 1_000_000
  const freshness = { maxStaleness: H, outageMaxStaleness: D, acceptBackupLogin: true }
  const session = { sid: 's', sub: 'alice-sub', upstreamSub: 'alice', provider: PROVIDER, claims: {}, authTime: now - 1800, vouchedAt: now - 600 }
  const request = { provider: PROVIDER, prompt: [] as string[] }
  const cases: Array<[string, Parameters<typeof sessionStanding>[1], typeof session | undefined, ReturnType<typeof sessionStanding>]> = [
    ['no session', request, undefined, 'none'],
    ['a session at another provider', { ...request, provider: 'other' }, session, 'none'],
    ['a hint naming another user', { ...request, hintSub: 'bob-sub' }, session, 'none'],
    ['a hint naming this user', { ...request, hintSub: 'alice-sub' }, session, 'fresh'],
    ['prompt=login', { ...request, prompt: ['login'] }, session, 'none'],
    ['prompt=consent', { ...request, prompt: ['consent'] }, session, 'fresh'],
    ['max_age=0, in the login\'s own second', { ...request, maxAge: 0 }, { ...session, authTime: now }, 'none'],
    ['max_age exactly the login\'s age', { ...request, maxAge: 1800 }, session, 'fresh'],
    ['max_age a second short of the login\'s age', { ...request, maxAge: 1799 }, session, 'none'],
    ['vouched exactly maxStaleness ago', request, { ...session, vouchedAt: now - H }, 'fresh'],
    ['vouched a second past maxStaleness', request, { ...session, vouchedAt: now - H - 1 }, 'outage-only'],
    ['vouched exactly outageMaxStaleness ago', request, { ...session, vouchedAt: now - D }, 'outage-only'],
    ['vouched a second past outageMaxStaleness', request, { ...session, vouchedAt: now - D - 1 }, 'none'],
  ]
  for (const [name, req, s, expected] of cases) t.equal(sessionStanding(freshness, req, s, now), expected, name)
})
