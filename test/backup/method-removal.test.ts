import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { Browser } from '../../harness/browser.js'
import { ADMIN, admin } from '../helpers/admin.js'
import { testClock } from '../helpers/clock.js'
import { naverProvider, startFakeOAuth2 } from '../helpers/fake-oauth2.js'
import { authorizationRequest, discoverClient, type AuthorizationChecks } from '../helpers/relying-party.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { browserLogin, CLIENTS, RP } from '../helpers/stack.js'
import { dataOf, formWith, postJson, startBackupStack, submit } from '../helpers/backup-http.js'

// Removing a backup method on /account (or through the admin API) ends what
// logins with it already hold, at once: their sessions no longer log in
// silently, their refresh tokens are invalid_grant, their access tokens are
// refused at userinfo and inactive at introspection. Logins made by the
// person's other methods, or at their own provider, live on.

const clock = testClock()
const naver = await startFakeOAuth2({ clientId: 'understudy', clientSecret: 'naver-secret' }, { id: 'naver-erin', nickname: 'Erin' })
t.teardown(() => naver.close())
const s = await startBackupStack({
  now: clock.now,
  extraProviders: [naverProvider(naver)],
  config: { admin: ADMIN, clients: Object.values(CLIENTS).map((c) => ({ ...c, providers: ['idp'] })) },
})
t.teardown(() => s.close())
const { issuer, directory } = s
const shop = await discoverClient(issuer, 'shop')
const atRp = (u: URL) => u.href.startsWith(RP)

/** A login as the site holds it: the browser with its gateway session, and the tokens its code gave. */
interface Login { browser: Browser, sub: string, acr: unknown, accessToken: string, refreshToken: string }

async function redeemed (browser: Browser, location: string | undefined, checks: AuthorizationChecks): Promise<Login> {
  const tokens = await oidc.authorizationCodeGrant(shop, new URL(location ?? 'http://missing/'), checks)
  const claims = tokens.claims()!
  return { browser, sub: claims.sub, acr: claims.acr, accessToken: tokens.access_token, refreshToken: tokens.refresh_token! }
}

/** Every region of idp down while `work` runs. */
async function whileDown<T> (work: () => Promise<T>): Promise<T> {
  const breakers = s.gateway.gateway.breakers.forProvider('idp')
  for (const breaker of breakers) breaker.pinOpen()
  try {
    return await work()
  } finally {
    for (const breaker of breakers) breaker.release()
  }
}

/** A new device logs in at shop with a passkey from the outage page. */
async function passkeyLogin (t: Test, authenticator: SoftwareAuthenticator): Promise<Login> {
  return whileDown(async () => {
    const browser = new Browser()
    const { url, checks } = await authorizationRequest(shop, 'shop')
    const page = await browser.fetch(url)
    t.equal(page.status, 200, 'the outage page')
    const button = dataOf(page.text, 'passkey-login')
    const started = await postJson(browser, button.options!, { context: button.context })
    const done = await postJson(browser, button.submit!, { context: button.context, ceremony: started.body.ceremony, response: authenticator.authenticate(started.body.options) })
    t.equal(done.status, 200, 'the passkey login')
    return redeemed(browser, done.body.location, checks)
  })
}

/** A new device logs in at shop through naver from the outage page. */
async function linkedLogin (t: Test): Promise<Login> {
  return whileDown(async () => {
    const browser = new Browser()
    const { url, checks } = await authorizationRequest(shop, 'shop')
    const page = await browser.fetch(url)
    t.equal(page.status, 200, 'the outage page')
    const form = formWith(page.text, page.url, 'linked-naver')
    const answer = await browser.follow(form.action, { method: 'POST', body: form.fields, stopAt: atRp })
    return redeemed(browser, answer.location, checks)
  })
}

/**
 * What the login can still do, in words: a silent login (prompt=none) from
 * its browser's session, a refresh, userinfo and introspection of its
 * access token. A refresh that works rotates the login's refresh token.
 */
async function described (login: Login): Promise<string> {
  const { url } = await authorizationRequest(shop, 'shop', { prompt: 'none' })
  const silent = new URL((await login.browser.fetch(url)).location ?? 'http://missing/').searchParams
  const sso = silent.get('code') !== null ? 'code' : silent.get('error')
  let refresh = 'ok'
  try {
    login.refreshToken = (await oidc.refreshTokenGrant(shop, login.refreshToken)).refresh_token!
  } catch (err) {
    refresh = err instanceof oidc.ResponseBodyError ? err.error : String(err)
  }
  const info = await fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${login.accessToken}` } })
  const active = (await oidc.tokenIntrospection(shop, login.accessToken)).active
  return `silent login ${sso}, refresh ${refresh}, userinfo ${info.status}, active ${String(active)}`
}

const LIVE = 'silent login code, refresh ok, userinfo 200, active true'
const ENDED = 'silent login login_required, refresh invalid_grant, userinfo 401, active false'

// Erin logs in at her provider, adds two passkeys (A on the offer page, B on the account page: two security keys), and links naver.
const keyA = SoftwareAuthenticator.create('localhost', issuer)
const keyB = SoftwareAuthenticator.create('localhost', issuer)
const home = new Browser()
const upstream = await (async () => {
  const { url, checks } = await authorizationRequest(shop, 'shop')
  const offer = await browserLogin(home, url, 'erin')
  const add = dataOf(offer.text, 'add-passkey')
  const started = await postJson(home, add.options!, { csrf: add.csrf })
  await postJson(home, add.submit!, { csrf: add.csrf, ceremony: started.body.ceremony, response: keyA.register(started.body.options) })
  const back = await submit(home, formWith(offer.text, offer.url, 'offer-continue'))
  return redeemed(home, back.location, checks)
})()
{
  const account = await home.fetch(`${issuer}/account`)
  const add = dataOf(account.text, 'add-passkey')
  const started = await postJson(home, add.options!, { csrf: add.csrf })
  await postJson(home, add.submit!, { csrf: add.csrf, ceremony: started.body.ceremony, response: keyB.register(started.body.options) })
  await home.follow(`${issuer}/account/link`, { method: 'POST', body: formWith(account.text, account.url, 'link-naver').fields })
}
const [passkeyA, passkeyB] = [keyA.credentials[0]!.id, keyB.credentials[0]!.id]

/** Removes a method on the account page of Erin's own browser (a fresh upstream login, the page's proof). */
async function removeOnAccountPage (t: Test, button: string, result: string): Promise<void> {
  const page = await home.fetch(`${issuer}/account`)
  const removed = await submit(home, formWith(page.text, page.url, button))
  t.same([removed.status, removed.location], [303, `${issuer}/account?result=${result}`], `${button} on the account page`)
}

t.test('Erin has two passkeys and a link, all made while her provider was up', async (t) => {
  t.equal(upstream.acr, 'urn:understudy:acr:upstream')
  t.same([directory.passkeys.get(passkeyA)?.sub, directory.passkeys.get(passkeyB)?.sub], [upstream.sub, upstream.sub])
  t.match(directory.links, [{ sub: upstream.sub, provider: 'naver', upstreamSub: 'naver-erin' }])
})

t.test('removing a passkey on the account page ends the sessions and tokens its logins made; another passkey\'s and the upstream login\'s live on', async (t) => {
  const byA = await passkeyLogin(t, keyA)
  const byB = await passkeyLogin(t, keyB)
  t.same([byA.sub, byA.acr, byB.sub, byB.acr], [upstream.sub, 'urn:understudy:acr:backup', upstream.sub, 'urn:understudy:acr:backup'])
  t.same([await described(byA), await described(byB), await described(upstream)], [LIVE, LIVE, LIVE], 'before the removal every login works')

  await removeOnAccountPage(t, `remove-passkey-${passkeyA}`, 'passkey-removed')
  t.notOk(directory.passkeys.has(passkeyA))
  t.equal(await described(byA), ENDED, 'the login with passkey A')
  t.equal(await described(byB), LIVE, 'the login with passkey B')
  t.equal(await described(upstream), LIVE, 'the login at the provider')

  const again = await whileDown(async () => byA.browser.fetch((await authorizationRequest(shop, 'shop')).url))
  t.equal(again.status, 200, 'passkey A\'s browser gets the outage page again: a new login, never a cached one')
  t.match(again.text, 'Log in with a passkey')
})

t.test('unlinking a provider on the account page ends the sessions and tokens its logins made; linking it again makes a new way in', async (t) => {
  const byNaver = await linkedLogin(t)
  t.same([byNaver.sub, byNaver.acr], [upstream.sub, 'urn:understudy:acr:backup'])
  const byB = await passkeyLogin(t, keyB)
  t.equal(await described(byNaver), LIVE, 'before the unlink')

  await removeOnAccountPage(t, 'unlink-naver', 'unlinked')
  t.same(directory.links, [])
  t.equal(await described(byNaver), ENDED, 'the login through naver')
  t.equal(await described(byB), LIVE, 'the login with passkey B')
  t.equal(await described(upstream), LIVE, 'the login at the provider')

  // A link made again is another method (its own time: a link takes a login at the provider, a second at the very least).
  clock.advance(1)
  t.teardown(() => clock.advance(-1))
  const page = await home.fetch(`${issuer}/account`)
  const relinked = await home.follow(`${issuer}/account/link`, { method: 'POST', body: formWith(page.text, page.url, 'link-naver').fields })
  t.equal(relinked.url, `${issuer}/account?result=linked`)
  t.equal(await described(await linkedLogin(t)), LIVE, 'a login through the new link')
  t.equal(await described(byNaver), ENDED, 'the old link\'s login stays ended')
})

t.test('a passkey removed through the admin API ends its logins too', async (t) => {
  const byB = await passkeyLogin(t, keyB)
  t.equal(await described(byB), LIVE)
  const removed = await fetch(`${s.adminUrl}/admin/identities/${upstream.sub}/passkeys/${passkeyB}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN.token}` } })
  t.equal(removed.status, 204)
  t.equal(await described(byB), ENDED)
  t.equal(await described(upstream), LIVE, 'the login at the provider')
  t.equal((await admin(s, 'GET', `/admin/identities/${upstream.sub}`)).body.passkeys.length, 0)
})

t.test('no request of this file ended in an unhandled error or a 500', async (t) => {
  t.ok(s.logs.some((line) => line.includes('"statusCode":200')), 'the access log is there to read')
  t.same(s.logs.filter((line) => line.includes('"unhandled error"') || line.includes('"statusCode":500')), [])
})
