import t, { type Test } from 'tap'
import { silentLogger } from '../../src/log.js'
import { Metrics } from '../../src/observability/metrics.js'
import type { BrowserOutcome } from '../../src/oidc/answer.js'
import { authorize } from '../../src/oidc/authorize.js'
import { callback } from '../../src/oidc/callback.js'
import type { CodePayload } from '../../src/oidc/code.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { mintIdToken } from '../../src/oidc/tokens.js'
import { TRANSACTION_LIFETIME } from '../../src/oidc/transaction.js'
import { DEFAULT_CAPACITY, RegionBreaker } from '../../src/resilience/breaker.js'
import { ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import { unseal } from '../../src/sessions/seal.js'
import type { Session } from '../../src/sessions/session.js'
import { ISSUER, MAX_STALENESS, OUTAGE_MAX_STALENESS, PROVIDER, SHOP, fatal, transient, unit, type Unit } from '../helpers/oidc-unit.js'

const H = MAX_STALENESS

/**
 * A real region breaker with every slot taken by a held code exchange (a flood of callbacks): a code exchange
 * through it is refused for capacity, as `UpstreamRouter.exchangeCode` would be (test/resilience/breaker.test.ts).
 */
function fullRegion (t: Test): RegionBreaker {
  const b = new RegionBreaker(PROVIDER, 'primary', { timeout: 30, errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeout: 60, rollingCountTimeout: 10 }, { metrics: new Metrics({ defaults: false }), onTransition: () => {} })
  const releases: Array<() => void> = []
  const held = Array.from({ length: DEFAULT_CAPACITY }, () => b.call('token', () => new Promise<void>((resolve) => releases.push(resolve))))
  t.teardown(async () => {
    for (const release of releases) release()
    await Promise.all(held)
    b.shutdown()
  })
  return b
}
const D = OUTAGE_MAX_STALENESS

/** A login the shop started with `extra` parameters, at the upstream now: its state and the browser's cookies. */
async function started (u: Unit, extra: Record<string, string> = {}): Promise<{ state: string, cookies: Map<string, string> }> {
  const params = { client_id: SHOP.clientId, redirect_uri: SHOP.redirectUri, response_type: 'code', scope: 'openid email', state: 'rp-state', ...extra }
  const outcome = await authorize(u.deps, params, undefined, silentLogger)
  const tx = outcome.cookies[0]!
  return { state: u.router.calls.authorize.at(-1)!.state, cookies: new Map([[tx.name, tx.value]]) }
}

/** The upstream's redirect back to this browser, with `query`. */
async function back (u: Unit, login: { state: string, cookies: Map<string, string> }, query: Record<string, string> = { code: 'upstream-code' }, provider = PROVIDER): Promise<BrowserOutcome> {
  return callback(u.deps, provider, { state: login.state, ...query }, (name) => login.cookies.get(name), silentLogger)
}

/** What the relying party was answered, in words. */
async function answer (u: Unit, outcome: Promise<BrowserOutcome>): Promise<string> {
  try {
    const { location, cookies, upstream, page } = await outcome
    if (page) return `page ${page.kind}`
    if (upstream) return u.router.calls.authorize.at(-1)!.reauthenticate ? 'upstream reauthenticate' : 'upstream'
    const code = unseal<CodePayload>(u.deps.keys, 'code', new URL(location).searchParams.get('code')!, u.clock.now())
    const acr = code.acr === ACR_UPSTREAM ? 'upstream' : code.acr === ACR_CACHED ? 'cached' : code.acr
    return `code ${acr}${cookies.some((c) => c.name === u.deps.cookies.session) ? ', new session' : ''}`
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err
    return err.retryAfter === undefined ? err.error : `${err.error} retry-after=${err.retryAfter}`
  }
}

t.test('the callback answers with the upstream\'s login, passes the browser\'s errors on, and serves a cached login only on its own evidence of an outage', async (t) => {
  interface Case { session?: number, extra?: Record<string, string>, query?: Record<string, string>, exchange?: 'transient' | 'fatal' | 'breakers open' | 'busy', upstreamAuthAgo?: number, expected: string, counted: string[] }
  const cases: Array<[string, Case]> = [
    ['the upstream vouches: a code and a new session', { expected: 'code upstream, new session', counted: ['upstream'] }],
    ['error=access_denied from the browser: passed on', { query: { error: 'access_denied' }, expected: 'access_denied', counted: ['error'] }],
    ['error=temporarily_unavailable from the browser with a session that could be served cached: passed on, never a cached login', { session: 2 * H, query: { error: 'temporarily_unavailable' }, expected: 'temporarily_unavailable', counted: ['error'] }],
    ['error=server_error from the browser: access_denied', { query: { error: 'server_error' }, expected: 'access_denied', counted: ['error'] }],
    ['the exchange times out, a session past maxStaleness: a cached login', { session: 2 * H, exchange: 'transient', expected: 'code cached', counted: ['cached'] }],
    ['the exchange times out, a fresh session: a cached login', { session: 60, exchange: 'transient', expected: 'code cached', counted: ['cached'] }],
    ['every breaker open at the exchange, a session past maxStaleness: a cached login', { session: 2 * H, exchange: 'breakers open', expected: 'code cached', counted: ['cached'] }],
    ['the exchange times out, no session: temporarily_unavailable, Retry-After from the soonest region', { exchange: 'transient', expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['the exchange times out, a session past outageMaxStaleness: temporarily_unavailable', { session: D + 1, exchange: 'transient', expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['the exchange times out, prompt=login: never a cached login', { session: 60, extra: { prompt: 'login' }, exchange: 'transient', expected: 'temporarily_unavailable retry-after=13', counted: ['unavailable'] }],
    ['the region is at capacity (the exchange was never sent), a session past maxStaleness: temporarily_unavailable, never a cached login', { session: 2 * H, exchange: 'busy', expected: 'temporarily_unavailable retry-after=1', counted: ['unavailable'] }],
    ['the region is at capacity, a fresh session: temporarily_unavailable, never a cached login', { session: 60, exchange: 'busy', expected: 'temporarily_unavailable retry-after=1', counted: ['unavailable'] }],
    ['the region is at capacity, no session: temporarily_unavailable', { exchange: 'busy', expected: 'temporarily_unavailable retry-after=1', counted: ['unavailable'] }],
    ['the upstream refuses the code, a session that could be served cached: access_denied, never a cached login', { session: 2 * H, exchange: 'fatal', expected: 'access_denied', counted: ['error'] }],
    ['max_age=60, the upstream login 30 s old: a code', { extra: { max_age: '60' }, upstreamAuthAgo: 30, expected: 'code upstream, new session', counted: ['upstream'] }],
    ['max_age=60, the upstream signed in from a session two hours old: back to the upstream, told to re-authenticate', { extra: { max_age: '60' }, upstreamAuthAgo: 7200, expected: 'upstream reauthenticate', counted: [] }],
  ]
  const full = fullRegion(t)
  for (const [name, c] of cases) {
    const u = await unit()
    const login = await started(u, c.extra)
    if (c.session !== undefined) login.cookies.set(u.deps.cookies.session, await u.cookie(u.session({ vouchedAgo: c.session })))
    u.clock.advance(20)
    if (c.exchange === 'breakers open') u.router.up = false
    else if (c.exchange === 'busy') u.router.onExchange = async () => full.call('token', async () => { throw new Error('a refused exchange is never sent') })
    else if (c.exchange !== undefined) u.router.onExchange = async () => { throw c.exchange === 'fatal' ? fatal() : transient() }
    if (c.upstreamAuthAgo !== undefined) u.router.onExchange = async () => ({ sub: 'alice', claims: {}, authTime: u.clock.now() - c.upstreamAuthAgo! })
    t.equal(await answer(u, back(u, login, c.query)), c.expected, name)
    t.same(u.logins, c.counted.map((outcome) => `${SHOP.clientId} ${PROVIDER} ${outcome}`), `${name}: counted ${c.counted.join(', ') || 'nothing'}`)
  }
})

t.test('a callback without this browser\'s unused, unexpired transaction is invalid_request, shown to the user', async (t) => {
  const u = await unit()
  const login = await started(u)
  const other = await started(u)
  const cases: Array<[string, () => Promise<BrowserOutcome>]> = [
    ['no state', () => callback(u.deps, PROVIDER, { code: 'c' }, (name) => login.cookies.get(name), silentLogger)],
    ['a state not in the transaction format', () => callback(u.deps, PROVIDER, { state: 'short', code: 'c' }, (name) => login.cookies.get(name), silentLogger)],
    ['a state with no transaction cookie in this browser', () => back(u, { state: other.state, cookies: login.cookies })],
    ['another transaction\'s cookie under this state\'s name', () => back(u, { state: login.state, cookies: new Map([[u.deps.cookies.transaction(login.state), [...other.cookies.values()][0]!]]) })],
    ['the callback of another provider', () => back(u, login, { code: 'c' }, 'other')],
  ]
  for (const [name, attempt] of cases) {
    const err = await attempt().catch((e: unknown) => e)
    t.ok(err instanceof OAuthError && err.error === 'invalid_request' && err.redirect === undefined, name)
  }
  t.equal(await answer(u, back(u, login)), 'code upstream, new session', 'the transaction itself still works')
  t.equal(await answer(u, back(u, login)), 'invalid_request', 'but only once')
  u.clock.advance(TRANSACTION_LIFETIME + 1)
  t.equal(await answer(u, back(u, other)), 'invalid_request', 'a transaction older than its lifetime has expired')
  t.equal(u.router.calls.exchange.length, 1, 'no refused callback reached the upstream')
})

t.test('the new session is vouched for now, with the upstream\'s auth_time never later than now, its amr and its refresh token', async (t) => {
  const cases: Array<[string, number | undefined, (now: number) => number]> = [
    ['an upstream auth_time an hour ago is kept', -3600, (now) => now - 3600],
    ['no upstream auth_time: the login through the gateway now', undefined, (now) => now],
    ['an upstream clock ahead: never later than now', 30, (now) => now],
  ]
  for (const [name, offset, expected] of cases) {
    const u = await unit()
    const login = await started(u)
    u.router.onExchange = async () => ({ sub: 'alice', claims: { email: 'a@example.test' }, amr: ['pwd'], refreshToken: 'rt', ...(offset === undefined ? {} : { authTime: u.clock.now() + offset }) })
    const outcome = await back(u, login)
    const cookie = outcome.cookies.find((c) => c.name === u.deps.cookies.session)!
    const session = unseal<Session>(u.deps.keys, 'session', cookie.value, u.clock.now())
    t.match(session, { authTime: expected(u.clock.now()), vouchedAt: u.clock.now(), upstreamSub: 'alice', amr: ['pwd'], upstreamRefreshToken: 'rt', claims: { email: 'a@example.test' } }, name)
    t.equal(cookie.maxAge, u.deps.sessionLifetime, `${name}: the cookie lives as long as a session may serve`)
  }
})

t.test('a login still too old after the upstream was told to re-authenticate is login_required', async (t) => {
  const u = await unit()
  u.router.onExchange = async () => ({ sub: 'alice', claims: {}, authTime: u.clock.now() - 7200 })
  const first = await started(u, { max_age: '60' })
  const again = await back(u, first)
  t.equal(u.router.calls.authorize.at(-1)!.reauthenticate, true, 'sent back once, told to re-authenticate')
  const tx = again.cookies[0]!
  const second = { state: u.router.calls.authorize.at(-1)!.state, cookies: new Map([[tx.name, tx.value]]) }
  t.equal(await answer(u, back(u, second)), 'login_required')
  t.same(u.logins, [`${SHOP.clientId} ${PROVIDER} error`])
})

t.test('the upstream logging in another user than id_token_hint names is login_required, and starts no session', async (t) => {
  const u = await unit()
  const hint = await mintIdToken(u.deps.keys.signer('ES256')!, ISSUER, { gid: 'g', clientId: SHOP.clientId, sub: u.session({ sub: 'bob' }).sub, sid: 's', provider: PROVIDER, scope: 'openid', claims: {}, authTime: 0, vouchedAt: 0, acr: ACR_UPSTREAM, upstreamSub: 'bob' }, u.clock.now(), 3600)
  const login = await started(u, { id_token_hint: hint })
  const err = await back(u, login).catch((e: unknown) => e)
  t.ok(err instanceof OAuthError)
  t.equal((err as OAuthError).error, 'login_required')
  t.same((err as OAuthError).redirect, { redirectUri: SHOP.redirectUri, state: 'rp-state' }, 'the relying party is told')
})

t.test('a failure that is no upstream error is a bug, not an outage: it is thrown, never a cached login', async (t) => {
  const u = await unit()
  const login = await started(u)
  login.cookies.set(u.deps.cookies.session, await u.cookie(u.session({ vouchedAgo: 2 * H })))
  u.router.onExchange = async () => { throw new TypeError('a bug') }
  await t.rejects(back(u, login), TypeError)
  t.same(u.logins, [])
})

t.test('a provider taken out of the config between the redirect and the callback: invalid_request to the relying party', async (t) => {
  const u = await unit()
  const login = await started(u)
  const err = await callback({ ...u.deps, upstreams: new Map() }, PROVIDER, { state: login.state, code: 'c' }, (name) => login.cookies.get(name), silentLogger).catch((e: unknown) => e)
  t.ok(err instanceof OAuthError)
  t.match(err, { error: 'invalid_request', redirect: { redirectUri: SHOP.redirectUri, state: 'rp-state' } })
})
