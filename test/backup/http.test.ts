import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { PAGE_SCRIPT } from '../../plugins/backup/page-script.js'
import { testClock } from '../helpers/clock.js'
import { authorizationRequest, discoverClient, type AuthorizationChecks } from '../helpers/relying-party.js'
import { naverProvider, startFakeOAuth2 } from '../helpers/fake-oauth2.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { browserLogin, CLIENTS, RP } from '../helpers/stack.js'
import { dataOf, formWith, hasElement, postJson, runPageScript, startBackupStack, submit } from '../helpers/backup-http.js'

const clock = testClock()
// A Naver-like second provider, which alice links to her account; it logs every browser in as her.
const naver = await startFakeOAuth2({ clientId: 'understudy', clientSecret: 'naver-secret' }, { id: 'naver-alice', nickname: 'Alice' })
t.teardown(() => naver.close())
const s = await startBackupStack({
  now: clock.now,
  extraProviders: [naverProvider(naver)],
  config: {
    // news refuses backup logins; shop and spa accept them (the default).
    clients: Object.values(CLIENTS).map((c) => ({ ...c, providers: ['idp'], ...(c.clientId === 'news' ? { freshness: { acceptBackupLogin: false } } : {}) })),
  },
})
t.teardown(() => s.close())
const { issuer, directory } = s
const gw = s.gateway.gateway
const SESSION = 'understudy-session'
const atRp = (u: URL) => u.href.startsWith(RP)
const shop = await discoverClient(issuer, 'shop')
const alice = SoftwareAuthenticator.create('localhost', issuer)
/** Alice's `sub`, as the site knows her from her upstream login. */
let aliceSub = ''
/** An ID token of bob's, for a request that names him. */
let bobIdToken = ''

/** Starts shop's login in `browser` and goes through the upstream as `user`: the offer page or the redirect to the site. */
async function loginAtShop (browser: Browser, user: string): Promise<{ landed: BrowserResponse, checks: AuthorizationChecks }> {
  const { url, checks } = await authorizationRequest(shop, 'shop')
  return { landed: await browserLogin(browser, url, user), checks }
}

/** Redeems the code of the redirect to shop with openid-client; the ID token's claims. */
async function redeem (location: string | undefined, checks: AuthorizationChecks): Promise<oidc.IDToken> {
  const tokens = await oidc.authorizationCodeGrant(shop, new URL(location ?? 'http://missing/'), checks)
  return tokens.claims()!
}

/** Shop's /authorize in a new browser (a new device) while the provider is down: the outage page. */
async function outagePage (t: Test): Promise<{ browser: Browser, page: BrowserResponse, checks: AuthorizationChecks }> {
  const browser = new Browser()
  const { url, checks } = await authorizationRequest(shop, 'shop')
  const page = await browser.fetch(url)
  t.equal(page.status, 200, 'the outage page, not an error')
  return { browser, page, checks }
}

/** Every region of idp down until the end of the test. */
function providerDown (t: Test): void {
  const breakers = gw.breakers.forProvider('idp')
  for (const breaker of breakers) breaker.pinOpen()
  t.teardown(() => { for (const breaker of breakers) breaker.release() })
}

/** The page is one of the backup pages: the CSP variant that lets the gateway's own scripts run, and nothing inline. */
function isBackupPage (t: Test, page: BrowserResponse): void {
  t.match(page.headers.get('content-type'), /^text\/html/)
  t.equal(page.headers.get('cache-control'), 'no-store')
  t.equal(page.headers.get('x-frame-options'), 'DENY')
  const csp = page.headers.get('content-security-policy') ?? ''
  t.match(csp, /default-src 'none'/)
  t.match(csp, /script-src 'self';/)
  t.match(csp, /connect-src 'self';/)
  t.match(csp, /frame-ancestors 'none'/)
  t.notOk(/<script(?![^>]*\bsrc=)/.test(page.text), 'no inline script')
  t.notOk(/\son[a-z]+=/.test(page.text), 'no inline handler')
}

t.test('after an upstream login the offer page comes first; a passkey added there with the page\'s proof, the login goes on to the site', async (t) => {
  const browser = new Browser()
  const { landed: offer, checks } = await loginAtShop(browser, 'alice')
  t.equal(offer.status, 200)
  t.match(offer.url, `${issuer}/callback/idp`)
  isBackupPage(t, offer)
  t.match(offer.text, 'If idp is down, you can still log in with a passkey')
  t.match(offer.text, `<script src="${issuer}/backup/webauthn.js" defer></script><script src="${issuer}/backup/backup.js" defer></script>`)
  t.ok(browser.cookie(issuer, SESSION), 'the session is set with the offer page')
  const add = dataOf(offer.text, 'add-passkey')
  t.match(offer.text, /<button type="button" id="add-passkey"[^>]*disabled>Add a passkey<\/button>/, 'disabled until the script finds passkeys usable')
  t.same({ passkey: add.passkey, options: add.options, submit: add.submit, continue: add.continue }, {
    passkey: 'register', options: `${issuer}/account/passkeys/options`, submit: `${issuer}/account/passkeys`, continue: 'offer-continue',
  })

  for (const csrf of [undefined, '', 'forged', add.csrf!.slice(1)]) {
    const refused = await postJson(browser, add.options!, csrf === undefined ? {} : { csrf })
    t.equal(refused.status, 403, `csrf ${JSON.stringify(csrf)} is refused`)
    t.equal(refused.body.error, 'invalid_request')
  }
  const started = await postJson(browser, add.options!, { csrf: add.csrf })
  t.equal(started.status, 200)
  t.equal(started.body.options.rp.id, 'localhost')
  t.equal(started.body.options.authenticatorSelection.userVerification, 'required')
  const response = alice.register(started.body.options)
  const forged = await postJson(browser, add.submit!, { csrf: 'forged', ceremony: started.body.ceremony, response })
  t.equal(forged.status, 403)
  t.equal(directory.passkeys.size, 0, 'nothing is stored without the proof')

  const added = await postJson(browser, add.submit!, { csrf: add.csrf, ceremony: started.body.ceremony, response })
  t.equal(added.status, 201)
  t.equal(added.body.passkey.id, response.id)
  t.equal(directory.passkeys.get(response.id)?.name, added.body.passkey.name)
  const replayed = await postJson(browser, add.submit!, { csrf: add.csrf, ceremony: started.body.ceremony, response })
  t.same([replayed.status, replayed.body.error, replayed.body.reason], [400, 'passkey_refused', 'replayed'], 'a registration ceremony is spent once')
  t.type(replayed.body.message, 'string')

  const back = await submit(browser, formWith(offer.text, offer.url, 'offer-continue'))
  t.equal(back.status, 303)
  const claims = await redeem(back.location, checks)
  t.equal(claims.acr, 'urn:understudy:acr:upstream')
  aliceSub = claims.sub
  t.equal(directory.passkeys.get(response.id)?.sub, aliceSub, 'the passkey is the person\'s whose login it followed')
})

t.test('"Not now" goes on to the site, and the next upstream login is not offered a passkey again', async (t) => {
  const browser = new Browser()
  const { landed: offer, checks } = await loginAtShop(browser, 'bob')
  t.equal(offer.status, 200)
  t.match(offer.text, /<button type="submit" id="not-now">Not now<\/button>/)
  const back = await submit(browser, formWith(offer.text, offer.url, 'not-now'))
  t.equal(back.status, 303)
  const tokens = await oidc.authorizationCodeGrant(shop, new URL(back.location!), checks)
  bobIdToken = tokens.id_token!
  const claims = tokens.claims()!
  t.equal(claims.acr, 'urn:understudy:acr:upstream')
  const declined = (await directory.identity(claims.sub))?.offerDeclinedUntil
  t.ok(declined !== undefined && Math.abs(declined - (clock.now() + 30 * 86400)) <= 5, 'not offered again for offerEvery (30 days)')

  const again = await loginAtShop(new Browser(), 'bob')
  t.equal(again.landed.status, 302, 'a new device goes straight back to the site')
  t.equal((await redeem(again.landed.location, again.checks)).sub, claims.sub)
})

t.test('while the provider is down a new device gets the outage page and logs in with the passkey: the same sub, acr backup', async (t) => {
  providerDown(t)
  const { browser, page, checks } = await outagePage(t)
  isBackupPage(t, page)
  t.match(page.text, '<h1>idp is not answering right now</h1>')
  t.match(page.text, /<button type="button" id="passkey-login"[^>]*>Log in with a passkey<\/button>/)
  t.match(page.text, /<button type="submit" id="back-to-site">Back to shop<\/button>/)
  const button = dataOf(page.text, 'passkey-login')
  t.same([button.passkey, button.options, button.submit], ['login', `${issuer}/backup/passkey/options`, `${issuer}/backup/passkey/login`])

  const started = await postJson(browser, button.options!, { context: button.context })
  t.equal(started.status, 200)
  t.same(started.body.options.allowCredentials, [], 'discoverable: nobody is named before the passkey answers')
  const assertion = alice.authenticate(started.body.options)
  const done = await postJson(browser, button.submit!, { context: button.context, ceremony: started.body.ceremony, response: assertion })
  t.equal(done.status, 200)
  t.ok(browser.cookie(issuer, SESSION), 'the backup login\'s session is set')
  const claims = await redeem(done.body.location, checks)
  t.equal(claims.sub, aliceSub, 'the sub the site always had for alice')
  t.equal(claims.acr, 'urn:understudy:acr:backup')
  t.same(claims.amr, ['hwk', 'user'])
  t.ok(Math.abs(claims.auth_time! - clock.now()) <= 5, 'auth_time is the passkey login\'s')
  t.equal(directory.passkeys.get(assertion.id)?.counter, 1, 'the counter is recorded')

  const replayed = await postJson(browser, button.submit!, { context: button.context, ceremony: started.body.ceremony, response: assertion })
  t.same([replayed.status, replayed.body.error, replayed.body.reason], [400, 'passkey_refused', 'replayed'])

  const account = await browser.fetch(`${issuer}/account`)
  t.equal(account.status, 200)
  t.match(account.text, /<li class="passkey"[^>]*><strong>Passkey added [^<]+<\/strong>: added [^,]+, last used /)
  t.match(account.text, /id="relogin">Log in again at idp to change how you log in<\/button>/, 'a passkey login does not change login methods')
  t.notOk(hasElement(account.text, 'add-passkey'))
})

t.test('a passkey login by someone the request\'s id_token_hint does not name goes back to the site with login_required', async (t) => {
  providerDown(t)
  const browser = new Browser()
  const { url, checks } = await authorizationRequest(shop, 'shop', { id_token_hint: bobIdToken })
  const page = await browser.fetch(url)
  t.equal(page.status, 200)
  const button = dataOf(page.text, 'passkey-login')
  const started = await postJson(browser, button.options!, { context: button.context })
  const done = await postJson(browser, button.submit!, { context: button.context, ceremony: started.body.ceremony, response: alice.authenticate(started.body.options) })
  t.equal(done.status, 200, 'JSON for the page script, which sends the browser on')
  const answer = new URL(done.body.location)
  t.same([answer.searchParams.get('error'), answer.searchParams.get('state'), answer.searchParams.get('iss')], ['login_required', checks.expectedState, issuer])
  t.notOk(done.headers.get('set-cookie'), 'no session for alice')
})

t.test('the page script logs in with a passkey from the outage page', async (t) => {
  providerDown(t)
  const { browser, page, checks } = await outagePage(t)
  const script = runPageScript(PAGE_SCRIPT, page, browser, alice)
  t.ok(script.enabled('passkey-login'), 'the script enables the button')
  const run = await script.click('passkey-login')
  const claims = await redeem(run.assigned, checks)
  t.same([claims.sub, claims.acr], [aliceSub, 'urn:understudy:acr:backup'])
})

t.test('the page script adds a passkey from the offer page and goes on to the site; a refusal is shown on the page', async (t) => {
  const browser = new Browser()
  const { landed: offer } = await loginAtShop(browser, 'dave')
  const dave = SoftwareAuthenticator.create('localhost', issuer)
  const phished = runPageScript(PAGE_SCRIPT, offer, browser, { register: (options) => dave.register(options, { origin: 'https://login.example.net' }), authenticate: () => undefined })
  const refused = await phished.click('add-passkey')
  t.equal(refused.status, 'This passkey answer came from another website.')
  t.equal(refused.submitted, undefined, 'the page stays')
  t.ok(phished.enabled('add-passkey'), 'the button can be used again')

  const run = await runPageScript(PAGE_SCRIPT, offer, browser, dave).click('add-passkey')
  t.equal(run.submitted, 'offer-continue', 'on to the site')
  t.match(run.status, 'Your passkey was added.')
  const [refusedKey, addedKey] = dave.credentials
  t.same([directory.passkeys.has(refusedKey!.id), directory.passkeys.has(addedKey!.id)], [false, true], 'only the passkey made for this origin is stored')
})

t.test('"Back to shop" on the outage page returns temporarily_unavailable to the site, with its state and the issuer', async (t) => {
  providerDown(t)
  const { browser, page, checks } = await outagePage(t)
  const back = await submit(browser, formWith(page.text, page.url, 'back-to-site'))
  t.equal(back.status, 303)
  const answer = new URL(back.location!)
  t.equal(`${answer.origin}${answer.pathname}`, CLIENTS.shop.redirectUris[0])
  t.equal(answer.searchParams.get('error'), 'temporarily_unavailable')
  t.equal(answer.searchParams.get('state'), checks.expectedState)
  t.equal(answer.searchParams.get('iss'), issuer)
})

t.test('a client that refuses backup logins gets temporarily_unavailable during the outage, and no page', async (t) => {
  providerDown(t)
  const news = await discoverClient(issuer, 'news')
  const { url, checks } = await authorizationRequest(news, 'news')
  const answer = await new Browser().fetch(url)
  t.equal(answer.status, 302)
  const params = new URL(answer.location!).searchParams
  t.same([params.get('error'), params.get('state')], ['temporarily_unavailable', checks.expectedState])
})

t.test('a forged or expired page context is an error page (400), and a passkey login from it is refused as JSON', async (t) => {
  providerDown(t)
  const { browser, page } = await outagePage(t)
  const forged = await submit(browser, formWith(page.text, page.url, 'back-to-site'), { context: 'forged' })
  t.equal(forged.status, 400)
  t.match(forged.headers.get('content-type'), /^text\/html/)
  t.match(forged.text, 'this page has expired')
  const options = await postJson(browser, `${issuer}/backup/passkey/options`, { context: 'forged' })
  t.same([options.status, options.body.error], [400, 'invalid_request'])

  clock.advance(601)
  t.teardown(() => clock.advance(-601))
  const expired = await submit(browser, formWith(page.text, page.url, 'back-to-site'))
  t.equal(expired.status, 400)
  t.match(expired.text, 'this page has expired')
})

t.test('the account page without a session offers a login at each provider, which opens it', async (t) => {
  const browser = new Browser()
  const page = await browser.fetch(`${issuer}/account`)
  t.equal(page.status, 200)
  isBackupPage(t, page)
  t.match(page.text, /<button type="submit" id="account-login-idp">Log in with idp<\/button>/)
  const login = formWith(page.text, page.url, 'account-login-idp')
  const upstream = await browser.fetch(login.action, { method: 'POST', body: login.fields })
  t.equal(upstream.status, 303)
  t.match(upstream.location, s.upstream.issuer, 'to the provider')
  const account = await browserLogin(browser, upstream.location!, 'alice')
  t.same([account.status, account.url], [200, `${issuer}/account?result=signed-in`], 'back at the account page')
  t.match(account.text, '<p id="account-result" class="status" role="status">You are logged in.</p>')
  t.match(account.text, '<li id="own-provider"><strong>idp</strong>: your own login, always a way in</li>')
  t.match(account.text, /<li class="passkey" data-credential-id="[^"]+">/, 'alice\'s passkey is listed')
  t.ok(hasElement(account.text, 'add-passkey'))
})

t.test('the account page adds and removes a passkey; a change without the page\'s proof is refused (403) and changes nothing', async (t) => {
  const browser = new Browser()
  const { url } = await authorizationRequest(shop, 'shop')
  await browserLogin(browser, url, 'carol')
  const page = await browser.fetch(`${issuer}/account`)
  t.match(page.text, 'You have no passkey yet.')
  const add = dataOf(page.text, 'add-passkey')
  t.equal(add.done, `${issuer}/account?result=passkey-added`)
  const authenticator = SoftwareAuthenticator.create('localhost', issuer, { synced: true })
  const started = await postJson(browser, add.options!, { csrf: add.csrf })
  const response = authenticator.register(started.body.options)
  t.equal((await postJson(browser, add.submit!, { csrf: add.csrf, ceremony: started.body.ceremony, response })).status, 201)

  const listed = await browser.fetch(add.done!)
  t.match(listed.text, 'Your passkey was added.')
  t.match(listed.text, 'synced between your devices')
  const remove = formWith(listed.text, listed.url, `remove-passkey-${response.id}`)
  t.equal(remove.action, `${issuer}/account/passkeys/${response.id}/delete`)
  for (const csrf of [undefined, 'forged']) {
    const fields = new URLSearchParams(csrf === undefined ? {} : { csrf })
    const refused = await browser.fetch(remove.action, { method: 'POST', body: fields })
    t.equal(refused.status, 403)
    t.match(refused.headers.get('content-type'), /^text\/html/)
  }
  t.ok(directory.passkeys.has(response.id), 'still there')
  const removed = await submit(browser, remove)
  t.same([removed.status, removed.location], [303, `${issuer}/account?result=passkey-removed`])
  t.notOk(directory.passkeys.has(response.id))
  const again = await submit(browser, remove)
  t.equal(again.location, `${issuer}/account?result=unchanged`)
})

t.test('a provider linked on the account page logs the person in while their own is down: the same sub, acr backup', async (t) => {
  const browser = new Browser()
  const { url } = await authorizationRequest(shop, 'shop')
  await browserLogin(browser, url, 'alice')
  const page = await browser.fetch(`${issuer}/account`)
  t.match(page.text, 'No other provider is linked to your account.')
  const link = formWith(page.text, page.url, 'link-naver')
  t.same([link.action, link.fields.get('provider')], [`${issuer}/account/link`, 'naver'])
  const unproven = await browser.fetch(link.action, { method: 'POST', body: new URLSearchParams({ provider: 'naver' }) })
  t.equal(unproven.status, 403)
  const linked = await browser.follow(link.action, { method: 'POST', body: link.fields })
  t.same([linked.status, linked.url], [200, `${issuer}/account?result=linked`])
  t.match(linked.text, 'The provider is linked')
  t.match(directory.links, [{ sub: aliceSub, provider: 'naver', upstreamSub: 'naver-alice' }])

  providerDown(t)
  const outage = await outagePage(t)
  t.match(outage.page.text, /<button type="submit" id="linked-naver">Log in with naver<\/button>/)
  const form = formWith(outage.page.text, outage.page.url, 'linked-naver')
  const answer = await outage.browser.follow(form.action, { method: 'POST', body: form.fields, stopAt: atRp })
  const claims = await redeem(answer.location, outage.checks)
  t.equal(claims.sub, aliceSub, 'the sub the site always had for alice, not naver\'s')
  t.equal(claims.acr, 'urn:understudy:acr:backup')
  t.same(claims.amr, ['fed'])

  const unlink = formWith(linked.text, linked.url, 'unlink-naver')
  const unlinked = await submit(browser, unlink)
  t.same([unlinked.status, unlinked.location], [303, `${issuer}/account?result=unlinked`])
  t.same(directory.links, [])
})

t.test('a session whose upstream login is over 10 minutes old must log in again to change methods', async (t) => {
  const browser = new Browser()
  const { url } = await authorizationRequest(shop, 'shop')
  await browserLogin(browser, url, 'alice')
  const fresh = await browser.fetch(`${issuer}/account`)
  const add = dataOf(fresh.text, 'add-passkey')
  const remove = formWith(fresh.text, fresh.url, `remove-passkey-${alice.credentials[0]!.id}`)
  clock.advance(11 * 60)
  t.teardown(() => clock.advance(-11 * 60))

  const stale = await browser.fetch(`${issuer}/account`)
  t.match(stale.text, /<button type="submit" id="relogin">Log in again at idp to change how you log in<\/button>/)
  t.notOk(hasElement(stale.text, 'add-passkey'))
  t.notOk(/id="remove-passkey-/.test(stale.text), 'no remove buttons')
  const options = await postJson(browser, add.options!, { csrf: add.csrf })
  t.same([options.status, options.body.error], [400, 'login_required'])
  const removed = await submit(browser, remove)
  t.equal(removed.status, 400)
  t.ok(directory.passkeys.has(alice.credentials[0]!.id), 'nothing changed')
  const relogin = await submit(browser, formWith(stale.text, stale.url, 'relogin'))
  t.same([relogin.status, new URL(relogin.location!).origin], [303, new URL(s.upstream.issuer).origin])
})

t.test('while the directory is down the account page says so (200), and changes are temporarily_unavailable', async (t) => {
  const browser = new Browser()
  const { url } = await authorizationRequest(shop, 'shop')
  await browserLogin(browser, url, 'alice')
  const add = dataOf((await browser.fetch(`${issuer}/account`)).text, 'add-passkey')
  directory.down = true
  t.teardown(() => { directory.down = false })
  const page = await browser.fetch(`${issuer}/account`)
  t.equal(page.status, 200)
  t.match(page.text, /<p id="directory-unavailable">Your ways to log in cannot be shown right now/)
  const options = await postJson(browser, add.options!, { csrf: add.csrf })
  t.same([options.status, options.body.error], [503, 'temporarily_unavailable'])
})

t.test('the gateway serves the WebAuthn library and the page script itself', async (t) => {
  const library = await fetch(`${issuer}/backup/webauthn.js`)
  t.equal(library.status, 200)
  t.match(library.headers.get('content-type'), /^text\/javascript/)
  t.match(await library.text(), /SimpleWebAuthnBrowser/)
  const script = await fetch(`${issuer}/backup/backup.js`)
  t.match(script.headers.get('content-type'), /^text\/javascript/)
  t.equal(await script.text(), PAGE_SCRIPT)
})

t.test('bad input to the backup routes is a 4xx, never a 5xx', async (t) => {
  const cases: Array<[string, string, RequestInit, number]> = [
    ['a form body to a JSON route', '/backup/passkey/options', { body: 'context=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
    ['a JSON array', '/backup/passkey/login', { body: '[1]', headers: { 'content-type': 'application/json' } }, 400],
    ['malformed JSON', '/backup/passkey/login', { body: '{"context":', headers: { 'content-type': 'application/json' } }, 400],
    ['a body too big', '/account/passkeys', { body: JSON.stringify({ csrf: 'x'.repeat(70_000) }), headers: { 'content-type': 'application/json' } }, 413],
    ['wrong types', '/backup/passkey/login', { body: JSON.stringify({ context: 7, ceremony: [], response: 'x' }), headers: { 'content-type': 'application/json' } }, 400],
    ['no fields', '/backup/linked', { body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 400],
    ['repeated fields', '/backup/offer/continue', { body: 'context=a&context=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 400],
    ['a link without a session', '/account/link', { body: 'provider=idp&csrf=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 403],
    ['an unknown provider', '/account/login', { body: 'provider=nobody', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 400],
  ]
  for (const [what, path, init, status] of cases) {
    const answer = await fetch(`${issuer}${path}`, { method: 'POST', ...init })
    t.equal(answer.status, status, what)
  }
})

t.test('no request of this file ended in an unhandled error or a 500', async (t) => {
  t.ok(s.logs.some((line) => line.includes('"statusCode":200')), 'the access log is there to read')
  t.same(s.logs.filter((line) => line.includes('"unhandled error"') || line.includes('"statusCode":500')), [])
})
