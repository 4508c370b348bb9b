import t from 'tap'
import type { UpstreamIdp } from '../../harness/demo/upstream-idp.js'
import type { RefreshPayload } from '../../src/oidc/tokens.js'
import { unseal } from '../../src/sessions/seal.js'
import { ADMIN, admin } from '../helpers/admin.js'
import { Browser } from '../../harness/browser.js'
import { claimsOf, login, pkcePair, redeemCode, refresh, request, authorizeCode, type TokenSet } from '../helpers/oidc.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { authorizeUrl, CLIENTS, freePort, startStack, startStackUpstream, type Stack } from '../helpers/stack.js'

/**
 * Two gateway regions, A and B, as DESIGN §5 has them: one issuer, one
 * upstream, shared keys; each region its own Redis, and each region's Redis a
 * peer of the other. Logins happen in A (the upstream returns to the issuer,
 * which is A's address); B is reached at its own address, as a load balancer
 * would send users there once A is gone.
 */

/** A stack whose requests go to this region's own address rather than the issuer's. */
function at (stack: Stack): Stack {
  return { ...stack, issuer: stack.gateway.url }
}

/** True when `browser`'s session (copied to `region`'s address) logs it in silently there. */
async function ssoWorks (region: Stack, browser: Browser, cookie: string): Promise<boolean> {
  browser.setCookie(region.gateway.url, region.gateway.gateway.cookies.session, cookie)
  const answer = await browser.fetch(authorizeUrl(region.gateway.url, 'shop', { prompt: 'none' }))
  return new URL(answer.location!).searchParams.has('code')
}

t.test('a session and a refresh token from region A work in region B while A is gone, and a logout in B is honoured in A once A is back', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const portA = await freePort()
  const issuer = `http://127.0.0.1:${portA}`
  const upstream: UpstreamIdp = await startStackUpstream(issuer)
  t.teardown(() => upstream.close())
  const region = async (name: string, redis: RedisServer, peer: RedisServer, port?: number) => {
    const listen = port === undefined ? {} : { listen: { host: '127.0.0.1', port } }
    const stack = await startStack({ issuer, upstream, config: { region: name, ...listen, admin: ADMIN, store: { kind: 'redis', redis: { url: redis.url, peers: [peer.url] } } } })
    // Region A is closed by the test itself; closing it once more in teardown must be harmless.
    let closing: Promise<void> | undefined
    const close = stack.close
    stack.close = () => (closing ??= close())
    t.teardown(() => stack.close())
    return stack
  }
  const regionA = await region('a', redisA, redisB, portA)
  const regionB = await region('b', redisB, redisA)

  // In region A: a login (session cookie, tokens), a refresh, and a second login whose old refresh token will be replayed.
  const { browser, tokens } = await login(regionA, 'shop', {}, { user: 'traveller' })
  const cookie = browser.cookie(issuer, regionA.gateway.gateway.cookies.session)!
  const refreshed = await refresh(regionA, 'shop', tokens.refresh_token)
  t.equal(refreshed.status, 200)
  const other = await login(regionA, 'shop', {}, { user: 'other' })
  t.equal((await refresh(regionA, 'shop', other.tokens.refresh_token)).status, 200)
  const { gid } = unseal<RefreshPayload>(regionA.gateway.gateway.keys, 'refresh', other.tokens.refresh_token, Math.floor(Date.now() / 1000))
  await until(async () => (await redisB.cli('get', `understudy:family:{${gid}}`)).trim() === '1', 2_000, 'A\'s rotation reaches B\'s Redis')

  // Region A goes away entirely: its gateway and its Redis.
  await regionA.close()
  await redisA.kill()

  const b = at(regionB)
  t.ok(await ssoWorks(regionB, new Browser(), cookie), 'A\'s session cookie logs the user in by SSO in B')
  const pkce = pkcePair()
  const inB = new Browser()
  inB.setCookie(regionB.gateway.url, regionB.gateway.gateway.cookies.session, cookie)
  const { code } = await authorizeCode(b, 'shop', { code_challenge: pkce.challenge, code_challenge_method: 'S256' }, { browser: inB })
  const fromB: TokenSet = await redeemCode(b, 'shop', code, { code_verifier: pkce.verifier })
  t.equal(claimsOf(fromB.id_token).sub, claimsOf(tokens.id_token).sub, 'the same user, with tokens from B')
  const refreshedInB = await refresh(b, 'shop', refreshed.json.refresh_token)
  t.equal(refreshedInB.status, 200, 'A\'s refresh token refreshes in B')
  t.equal((await refresh(b, 'shop', other.tokens.refresh_token)).json?.error, 'invalid_grant', 'a refresh token A already rotated is refused in B (reuse detection crosses regions)')

  const health = await request(b, '/healthz')
  t.match(health.json, { status: 'degraded', store: { kind: 'redis', status: 'ok', peers: { peer1: 'unreachable' } } }, '/healthz in B shows region A\'s Redis unreachable, without naming it')
  t.match((await admin(regionB, 'GET', '/admin/health')).body, { store: { peers: { [`127.0.0.1:${redisA.port}`]: 'unreachable' } } }, 'the admin port names it')
  const metrics = await (await fetch(`${regionB.adminUrl}/metrics`)).text()
  t.match(metrics, new RegExp(`understudy_store_errors_total\\{store="peer:127\\.0\\.0\\.1:${redisA.port}"\\} [1-9]`), 'errors reaching the peer are counted')

  // The user logs out in B while A is still gone.
  const bye = CLIENTS.shop.postLogoutRedirectUris[0]!
  const loggedOut = await inB.fetch(`${regionB.gateway.url}/logout?${new URLSearchParams({ id_token_hint: fromB.id_token, post_logout_redirect_uri: bye })}`)
  t.equal(loggedOut.location, bye)
  t.notOk(await ssoWorks(regionB, new Browser(), cookie), 'the session has ended in B')

  // Region A comes back (its Redis empty): the tombstone queued in B reaches it.
  await redisA.restart()
  const returned = Date.now()
  const sid = claimsOf(tokens.id_token).sid as string
  await until(async () => (await redisA.cli('exists', `understudy:revoked:{${sid}}`)).trim() === '1', 15_000, 'the logout reaches region A\'s Redis')
  t.ok(Date.now() - returned < 15_000, `the logout reached A's Redis ${Date.now() - returned} ms after it returned`)
  const regionA2 = await region('a', redisA, redisB, portA)
  await redisB.kill()
  const otherCookie = other.browser.cookie(issuer, regionA.gateway.gateway.cookies.session)!
  t.ok(await ssoWorks(regionA2, new Browser(), otherCookie), 'a session nobody logged out still logs in to A')
  t.notOk(await ssoWorks(regionA2, new Browser(), cookie), 'the session logged out in B no longer logs in to A, even with B\'s Redis gone')
  t.equal((await refresh(regionA2, 'shop', refreshedInB.json.refresh_token)).json?.error, 'invalid_grant', 'nor does its refresh token refresh in A')
})
