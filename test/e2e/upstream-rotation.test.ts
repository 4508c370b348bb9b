import t, { type Test } from 'tap'
import { unseal } from '../../src/sessions/seal.js'
import { subjectFor } from '../../src/sessions/session.js'
import { Browser } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { claimsOf, login, refresh, type Reply, type TokenSet } from '../helpers/oidc.js'
import { noRedis, RedisServer, until } from '../helpers/redis.js'
import { freePort, startStack, startStackUpstream, type Stack } from '../helpers/stack.js'

// An upstream that rotates refresh tokens with reuse detection, as Kakao does: a refresh returns a new
// one, and the old one presented again ends the whole upstream grant (oidc-provider's rotateRefreshToken).
const MAX_STALENESS = 60
const CONFIG = { sessions: { maxStaleness: MAX_STALENESS, outageMaxStaleness: '1d' }, chaos: { enabled: true } }
const ACR_UPSTREAM = 'urn:understudy:acr:upstream'

/** A stack on a rotating upstream, with the gateway's clock under the test's control. */
async function rotatingStack (t: Test, config: Record<string, unknown> = {}): Promise<{ s: Stack, later (): void }> {
  const clock = testClock()
  const s = await startStack({ config: { ...CONFIG, ...config }, rotateRefreshToken: true, now: clock.now })
  t.teardown(() => s.close())
  // The gateway's clock moves on past maxStaleness instead of the test waiting.
  return { s, later: () => clock.advance(MAX_STALENESS + 1) }
}

/** One user logged in at shop through the upstream, then at news by SSO: two refresh families from one upstream grant. */
async function loginAtShopAndNews (s: Stack, user: string): Promise<{ shop: TokenSet, news: TokenSet }> {
  const browser = new Browser()
  const shop = await login(s, 'shop', {}, { browser, user })
  const news = await login(s, 'news', {}, { browser, user })
  return { shop: shop.tokens, news: news.tokens }
}

/** Upstream refresh calls made so far (the duration histogram's count). */
async function upstreamRefreshes (s: Stack): Promise<number> {
  const { values } = await s.gateway.gateway.metrics.upstreamDuration.get()
  return values.filter((v) => v.metricName?.endsWith('_count') && v.labels.operation === 'refresh').reduce((sum, v) => sum + v.value, 0)
}

function vouched (t: Test, reply: Reply, who: string): void {
  t.equal(reply.status, 200, `${who}: ${reply.text.slice(0, 200)}`)
  if (reply.status === 200) t.equal(claimsOf(reply.json.id_token).acr, ACR_UPSTREAM, `${who} is vouched for by the upstream`)
}

t.test('after one relying party\'s refresh rotates the upstream token, another\'s refresh is still vouched for', async (t) => {
  const { s, later } = await rotatingStack(t)
  const { shop, news } = await loginAtShopAndNews(s, 'rotating')
  later()
  const shopRefreshed = await refresh(s, 'shop', shop.refresh_token)
  vouched(t, shopRefreshed, 'shop')
  later()
  const newsRefreshed = await refresh(s, 'news', news.refresh_token)
  vouched(t, newsRefreshed, 'news, whose refresh token carries the rotated-away upstream token')
  later()
  vouched(t, await refresh(s, 'shop', shopRefreshed.json.refresh_token), 'shop again, after news rotated the upstream token')
  vouched(t, await refresh(s, 'news', newsRefreshed.json.refresh_token), 'news again')
  t.equal(await upstreamRefreshes(s), 4, 'each stale refresh asked the upstream')
})

t.test('the store keeps the current upstream token sealed, for that user only', async (t) => {
  const { s, later } = await rotatingStack(t)
  const { shop } = await loginAtShopAndNews(s, 'sealed')
  later()
  vouched(t, await refresh(s, 'shop', shop.refresh_token), 'shop')
  const gw = s.gateway.gateway
  const user = subjectFor('idp', 'sealed')
  const kept = await gw.store.latest(`upstream:${user}`)
  t.ok(kept, 'the rotated token is kept')
  const opened = unseal<{ user: string, refreshToken: string }>(gw.keys, 'upstream', kept!.value, gw.now())
  t.equal(opened.user, user)
  t.notOk(kept!.value.includes(opened.refreshToken), 'the store never holds the token readable')
  t.throws(() => unseal(gw.keys, 'refresh', kept!.value, gw.now()), 'nor anything that opens as a refresh token of the gateway')
})

t.test('concurrent revalidations of one user at two relying parties share one upstream refresh', async (t) => {
  const { s, later } = await rotatingStack(t)
  const { shop, news } = await loginAtShopAndNews(s, 'concurrent')
  later()
  const [shopRefreshed, newsRefreshed] = await Promise.all([refresh(s, 'shop', shop.refresh_token), refresh(s, 'news', news.refresh_token)])
  vouched(t, shopRefreshed, 'shop')
  vouched(t, newsRefreshed, 'news')
  t.equal(await upstreamRefreshes(s), 1, 'one upstream call, so the upstream saw no reuse')
  later()
  vouched(t, await refresh(s, 'news', newsRefreshed.json.refresh_token), 'the shared rotation is current for news')
})

t.test('while the local Redis cannot answer, revalidation keeps the rotated upstream token in process and after', { skip: noRedis }, async (t) => {
  const redis = await RedisServer.start(t)
  const { s, later } = await rotatingStack(t, { store: { kind: 'redis', redis: { url: redis.url } } })
  const { shop, news } = await loginAtShopAndNews(s, 'store-down')
  later()
  t.ok(s.gateway.gateway.faults!.add({ target: { store: 'local' }, kind: 'error', duration: 60 }).ok, 'a Redis outage is injected')
  const refreshed = await refresh(s, 'shop', shop.refresh_token)
  vouched(t, refreshed, 'shop, during the outage')
  t.ok(s.logs.some((line) => line.includes('store unreachable: using the fallbacks')), 'the outage is seen')
  later()
  vouched(t, await refresh(s, 'news', news.refresh_token), 'news, whose refresh token carries the rotated-away upstream token: the rotated one is held in process')
  s.gateway.gateway.faults!.clear()
  await until(async () => (await s.gateway.gateway.store.health!()).status === 'ok', 5_000, 'Redis answers again')
  later()
  vouched(t, await refresh(s, 'shop', refreshed.json.refresh_token), 'shop again, after Redis returned')
})

t.test('a rotation made in one gateway region is used by a revalidation in the other', { skip: noRedis }, async (t) => {
  const [redisA, redisB] = await Promise.all([RedisServer.start(t), RedisServer.start(t)])
  const portA = await freePort()
  const issuer = `http://127.0.0.1:${portA}`
  const upstream = await startStackUpstream(issuer, { rotateRefreshToken: true })
  t.teardown(() => upstream.close())
  const clock = testClock()
  const region = async (name: string, redis: RedisServer, peer: RedisServer, listen: object) => {
    const stack = await startStack({ issuer, upstream, now: clock.now, config: { ...CONFIG, region: name, ...listen, store: { kind: 'redis', redis: { url: redis.url, peers: [peer.url] } } } })
    t.teardown(() => stack.close())
    return stack
  }
  const regionA = await region('a', redisA, redisB, { listen: { host: '127.0.0.1', port: portA } })
  const regionB = await region('b', redisB, redisA, {})
  const { shop, news } = await loginAtShopAndNews(regionA, 'traveller')
  clock.advance(MAX_STALENESS + 1)
  vouched(t, await refresh(regionA, 'shop', shop.refresh_token), 'shop, in region A')
  const key = `upstream:${subjectFor('idp', 'traveller')}`
  await until(async () => (await redisB.cli('exists', `understudy:latest:{${key}}`)).trim() === '1', 2_000, 'the rotation reaches region B\'s Redis')
  vouched(t, await refresh({ ...regionB, issuer: regionB.gateway.url }, 'news', news.refresh_token), 'news, in region B')
})
