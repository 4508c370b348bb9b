import t from 'tap'
import { UnderstudyError } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { OAuthError } from '../../src/oidc/errors.js'
import { revalidate } from '../../src/oidc/revalidate.js'
import type { GrantContext } from '../../src/oidc/tokens.js'
import { ACR_CACHED, ACR_UPSTREAM } from '../../src/sessions/freshness.js'
import { subjectFor } from '../../src/sessions/session.js'
import type { UpstreamIdentity } from '../../src/upstream/connector.js'
import { MAX_STALENESS, PROVIDER, SHOP, fatal, transient, unit, type Unit } from '../helpers/oidc-unit.js'

/** A grant of `user` whose upstream last vouched two maxStaleness ago, with the upstream refresh token `copy` (null: none). */
function staleGrant (u: Unit, user = 'alice', copy: string | null = `${user}-rt-1`): GrantContext {
  const vouchedAt = u.clock.now() - 2 * MAX_STALENESS
  return {
    gid: `gid-${user}`,
    clientId: SHOP.clientId,
    sub: subjectFor(PROVIDER, user),
    sid: `sid-${user}`,
    provider: PROVIDER,
    scope: 'openid email',
    claims: { email: `${user}@example.test`, name: 'Old Name' },
    authTime: vouchedAt - 60,
    vouchedAt,
    acr: ACR_UPSTREAM,
    upstreamSub: user,
    ...(copy === null ? {} : { upstreamRefreshToken: copy }),
  }
}

/** Revalidations counted so far, by result. */
async function counted (u: Unit): Promise<Record<string, number>> {
  const { values } = await u.metrics.revalidations.get()
  return Object.fromEntries(values.map((v) => [String(v.labels.result), v.value]))
}

t.test('a stale grant is renewed when the upstream vouches, cached while it is unavailable, and ended when it refuses', async (t) => {
  interface Case { upstream: 'vouches' | 'vouches and rotates' | 'breakers open' | 'times out' | 'answers 503' | 'refuses', copy?: 'none', expected: string, counted: Record<string, number> }
  const cases: Array<[string, Case]> = [
    ['the upstream vouches', { upstream: 'vouches', expected: 'upstream, vouched now, alice-rt-1', counted: { vouched: 1 } }],
    ['the upstream vouches and rotates its refresh token', { upstream: 'vouches and rotates', expected: 'upstream, vouched now, alice-rt-2', counted: { vouched: 1 } }],
    ['every breaker open: cached, nobody asked', { upstream: 'breakers open', expected: 'cached, vouched before, alice-rt-1', counted: {} }],
    ['the upstream times out: cached', { upstream: 'times out', expected: 'cached, vouched before, alice-rt-1', counted: { unavailable: 1 } }],
    ['the upstream answers 503: cached', { upstream: 'answers 503', expected: 'cached, vouched before, alice-rt-1', counted: { unavailable: 1 } }],
    ['the upstream refuses: the grant ends', { upstream: 'refuses', expected: 'invalid_grant', counted: { refused: 1 } }],
    ['no upstream refresh token, upstream up: the grant ends', { upstream: 'vouches', copy: 'none', expected: 'invalid_grant', counted: {} }],
    ['no upstream refresh token, every breaker open: cached (nobody could be asked anyway)', { upstream: 'breakers open', copy: 'none', expected: 'cached, vouched before, none', counted: {} }],
  ]
  for (const [name, c] of cases) {
    const u = await unit()
    const grant = staleGrant(u, 'alice', c.copy === 'none' ? null : 'alice-rt-1')
    const answers: Record<Case['upstream'], (() => Promise<UpstreamIdentity>) | undefined> = {
      vouches: undefined,
      'vouches and rotates': async () => ({ sub: 'alice', claims: { name: 'Alice' }, refreshToken: 'alice-rt-2' }),
      'breakers open': undefined,
      'times out': async () => { throw transient() },
      'answers 503': async () => { throw new UnderstudyError('US_ERR_UPSTREAM_HTTP', 'status 503', { details: { status: 503 } }) },
      refuses: async () => { throw fatal() },
    }
    u.router.up = c.upstream !== 'breakers open'
    const answer = answers[c.upstream]
    if (answer) u.router.onRefresh = answer
    let result: string
    try {
      const renewed = await revalidate(u.deps, grant, silentLogger)
      result = [
        renewed.acr === ACR_UPSTREAM ? 'upstream' : renewed.acr === ACR_CACHED ? 'cached' : renewed.acr,
        renewed.vouchedAt === u.clock.now() ? 'vouched now' : renewed.vouchedAt === grant.vouchedAt ? 'vouched before' : `vouched at ${renewed.vouchedAt}`,
        renewed.upstreamRefreshToken ?? 'none',
      ].join(', ')
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err
      result = err.error
    }
    t.equal(result, c.expected, name)
    t.same(await counted(u), c.counted, `${name}: counted`)
  }
})

t.test('a renewal merges the upstream\'s claims and keeps the grant\'s identity and auth_time', async (t) => {
  const u = await unit()
  const grant = staleGrant(u)
  const renewed = await revalidate(u.deps, grant, silentLogger)
  t.same(renewed.claims, { email: 'alice@example.test', name: 'Alice' })
  t.match(renewed, { gid: grant.gid, sub: grant.sub, sid: grant.sid, authTime: grant.authTime, upstreamSub: 'alice' })
  t.same(u.router.calls.refresh, ['alice-rt-1'], 'asked with the grant\'s own copy')
})

t.test('a provider taken out of the config ends the grant, even with every breaker open', async (t) => {
  const u = await unit()
  u.router.up = false
  const err = await revalidate({ ...u.deps, upstreams: new Map() }, staleGrant(u), silentLogger).catch((e: unknown) => e)
  t.ok(err instanceof OAuthError && err.error === 'invalid_grant')
})

t.test('the upstream refresh token it rotated to is the one every copy of the grant uses next', async (t) => {
  const u = await unit()
  let issued = 1
  u.router.onRefresh = async (_token, sub) => ({ sub, claims: {}, refreshToken: `alice-rt-${++issued}` })
  const grant = staleGrant(u)
  const first = await revalidate(u.deps, grant, silentLogger)
  const second = await revalidate(u.deps, grant, silentLogger)
  t.same(u.router.calls.refresh, ['alice-rt-1', 'alice-rt-2'], 'the second revalidation, from the same old copy, used the rotated token')
  t.equal(first.upstreamRefreshToken, 'alice-rt-2')
  t.equal(second.upstreamRefreshToken, 'alice-rt-3')
})

t.test('concurrent revalidations of one user share one upstream call', async (t) => {
  const u = await unit()
  let answer!: (identity: UpstreamIdentity) => void
  u.router.onRefresh = () => new Promise((resolve) => { answer = resolve })
  const grant = staleGrant(u)
  const both = Promise.all([revalidate(u.deps, grant, silentLogger), revalidate(u.deps, { ...grant, gid: 'another-family' }, silentLogger)])
  await new Promise(setImmediate)
  answer({ sub: 'alice', claims: {}, refreshToken: 'alice-rt-2' })
  const [a, b] = await both
  t.equal(u.router.calls.refresh.length, 1, 'one upstream call: a second with the same token would be a reuse')
  t.equal(a.upstreamRefreshToken, 'alice-rt-2')
  t.equal(b.upstreamRefreshToken, 'alice-rt-2')
})

t.test('an upstream refresh token kept for another user is never used', async (t) => {
  const u = await unit()
  u.router.onRefresh = async (token, sub) => ({ sub, claims: {}, refreshToken: `${token}-next` })
  await revalidate(u.deps, staleGrant(u, 'bob'), silentLogger)
  const bobs = await u.store.latest(`upstream:${subjectFor(PROVIDER, 'bob')}`)
  t.ok(bobs, 'bob\'s rotated token is kept')
  // Someone who can write the store copies bob's sealed token under alice's key, newer than anything of hers.
  await u.store.keepLatest(`upstream:${subjectFor(PROVIDER, 'alice')}`, bobs!.value, u.clock.now() + 1000, 3600)
  await revalidate(u.deps, staleGrant(u, 'alice'), silentLogger)
  t.same(u.router.calls.refresh, ['bob-rt-1', 'alice-rt-1'], 'alice is asked about with her own copy')
})
