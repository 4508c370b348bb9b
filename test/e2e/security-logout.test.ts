import t from 'tap'
import { assertErrorPage, assertHtmlHeaders } from '../helpers/assertions.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { flipChar, login, refresh, sessionCookie } from '../helpers/oidc.js'
import { authorizeUrl, CLIENTS, startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
t.before(async () => { stack = await startStack() })
t.teardown(async () => stack.close())

const SHOP_BYE = CLIENTS.shop.postLogoutRedirectUris[0]!
const NEWS_BYE = CLIENTS.news.postLogoutRedirectUris[0]!

async function logout (browser: Browser, params: Record<string, string>, method: 'GET' | 'POST' = 'GET'): Promise<BrowserResponse> {
  if (method === 'POST') return browser.fetch(`${stack.issuer}/logout`, { method: 'POST', body: new URLSearchParams(params) })
  return browser.fetch(`${stack.issuer}/logout?${new URLSearchParams(params)}`)
}

/** True when `browser`'s session still logs it in silently. */
async function stillLoggedIn (browser: Browser): Promise<boolean> {
  const answer = await browser.fetch(authorizeUrl(stack.issuer, 'shop', { prompt: 'none' }))
  return new URL(answer.location!).searchParams.has('code')
}

t.test('a registered post_logout_redirect_uri with a valid hint is followed, with state', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  const answer = await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SHOP_BYE, state: 'bye state' })
  t.equal(answer.status, 302)
  t.equal(answer.location, `${SHOP_BYE}?state=bye+state`)
  t.notOk(await stillLoggedIn(browser), 'the session has ended')
  const post = await login(stack, 'shop')
  t.equal((await logout(post.browser, { id_token_hint: post.tokens.id_token, post_logout_redirect_uri: SHOP_BYE }, 'POST')).status, 303, 'a form POST is answered with 303')
})

t.test('an unregistered post_logout_redirect_uri gets an error page, not a redirect', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  for (const uri of [`${SHOP_BYE}/`, `${SHOP_BYE}?x=1`, 'https://evil.example/', 'javascript:alert(1)', CLIENTS.shop.redirectUris[0]!]) {
    assertErrorPage(t, await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: uri }), uri)
  }
})

t.test('a tampered id_token_hint gets an error page, not a redirect', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  const [header, payload, signature] = tokens.id_token.split('.') as [string, string, string]
  assertErrorPage(t, await logout(browser, { id_token_hint: `${header}.${payload}.${flipChar(signature, 10)}`, post_logout_redirect_uri: SHOP_BYE }), 'a flipped signature bit')
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), aud: 'news' })).toString('base64url')
  assertErrorPage(t, await logout(browser, { id_token_hint: `${header}.${forged}.${signature}`, post_logout_redirect_uri: NEWS_BYE }), 'a changed audience')
  assertErrorPage(t, await logout(browser, { id_token_hint: `${header}.${payload}.`, post_logout_redirect_uri: SHOP_BYE }), 'no signature')
  const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')
  assertErrorPage(t, await logout(browser, { id_token_hint: `${none}.${payload}.`, post_logout_redirect_uri: SHOP_BYE }), 'alg none')
})

t.test('a post_logout_redirect_uri of another client than the hint\'s gets an error page', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  assertErrorPage(t, await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: NEWS_BYE }), 'news\'s URI with shop\'s hint')
  assertErrorPage(t, await logout(browser, { client_id: 'shop', post_logout_redirect_uri: NEWS_BYE }), 'news\'s URI with client_id=shop')
  assertErrorPage(t, await logout(browser, { id_token_hint: tokens.id_token, client_id: 'news', post_logout_redirect_uri: NEWS_BYE }), 'client_id contradicting the hint')
  assertErrorPage(t, await logout(browser, { post_logout_redirect_uri: SHOP_BYE }), 'a URI without any client')
})

t.test('logout without a hint shows the signed-out page and clears the session cookie', async (t) => {
  const { browser } = await login(stack, 'shop')
  const cookieName = stack.gateway.gateway.cookies.session
  t.ok(sessionCookie(stack, browser))
  const page = await logout(browser, {})
  t.equal(page.status, 200)
  t.notOk(page.location, 'no redirect')
  assertHtmlHeaders(t, page, 'the signed-out page')
  t.match(page.text, /signed out/i)
  const cleared = page.headers.getSetCookie().find((c) => c.startsWith(`${cookieName}=`))
  t.ok(cleared, 'the session cookie is set again')
  t.match(cleared, /(Max-Age=0|Expires=Thu, 01 Jan 1970)/i, 'to expire at once')
  t.notOk(sessionCookie(stack, browser), 'the browser no longer holds it')
  t.notOk(await stillLoggedIn(browser), 'the session has ended')
})

t.test('a session cookie kept after logout no longer logs anybody in', async (t) => {
  const { browser, tokens } = await login(stack, 'shop')
  const stolen = sessionCookie(stack, browser)!
  await logout(browser, { id_token_hint: tokens.id_token })
  const thief = new Browser()
  thief.setCookie(stack.issuer, stack.gateway.gateway.cookies.session, stolen)
  t.notOk(await stillLoggedIn(thief), 'the old cookie is revoked')
  t.equal((await refresh(stack, 'shop', tokens.refresh_token)).json.error, 'invalid_grant', 'the session\'s refresh token is revoked')
})

t.test('an id_token_hint from a browser without a session ends nothing: the user\'s session and refresh token still work', async (t) => {
  const alice = await login(stack, 'shop')
  const attacker = new Browser()
  const bare = await logout(attacker, { id_token_hint: alice.tokens.id_token })
  t.equal(bare.status, 200, 'a plain page')
  assertHtmlHeaders(t, bare, 'the page')
  t.match(bare.text, /no understudy session in this browser/i, 'saying there was nothing here to end')
  const back = await logout(attacker, { id_token_hint: alice.tokens.id_token, post_logout_redirect_uri: SHOP_BYE, state: 's' }, 'POST')
  t.equal(back.location, `${SHOP_BYE}?state=s`, 'a registered post_logout_redirect_uri is still followed: nothing was ended')
  t.ok(await stillLoggedIn(alice.browser), 'alice\'s session cookie still logs her in')
  const refreshed = await refresh(stack, 'shop', alice.tokens.refresh_token)
  t.equal(refreshed.status, 200, 'alice\'s refresh token still works')
})

t.test('a hint naming another user than the one signed in here asks first, and the confirmation ends only this browser\'s session', async (t) => {
  const alice = await login(stack, 'shop')
  const bob = await login(stack, 'shop', {}, { user: 'bob' })
  const asked = await logout(bob.browser, { id_token_hint: alice.tokens.id_token, post_logout_redirect_uri: SHOP_BYE, state: 'asked' })
  t.equal(asked.status, 200, 'a page, not a redirect')
  t.notOk(asked.location)
  assertHtmlHeaders(t, asked, 'the confirmation page')
  t.match(asked.text, /<form method="post" action="[^"]*\/logout">/, 'whose button POSTs back to /logout')
  t.notOk(asked.headers.getSetCookie().some((c) => c.startsWith(`${stack.gateway.gateway.cookies.session}=`)), 'the session cookie is left alone')
  t.ok(await stillLoggedIn(bob.browser), 'bob is still signed in until he confirms')
  const confirmed = await bob.browser.submitForm(asked.text, asked.url, {}, { stopAt: () => true })
  t.equal(confirmed.status, 303)
  t.equal(confirmed.location, `${SHOP_BYE}?state=asked`, 'then on to the registered URI with the state')
  t.notOk(await stillLoggedIn(bob.browser), 'bob\'s session has ended')
  t.equal((await refresh(stack, 'shop', bob.tokens.refresh_token)).json.error, 'invalid_grant', 'and so have his refresh tokens')
  t.ok(await stillLoggedIn(alice.browser), 'alice, whom the hint named, is still signed in')
  t.equal((await refresh(stack, 'shop', alice.tokens.refresh_token)).status, 200, 'and her refresh token still works')
})

t.test('a confirmation taken from another browser\'s page ends nothing', async (t) => {
  const alice = await login(stack, 'shop')
  const mallory = await login(stack, 'shop', {}, { user: 'mallory' })
  // Mallory gets a confirmation page of her own, then has alice's browser POST its fields (a cross-site form).
  const page = await logout(mallory.browser, { id_token_hint: alice.tokens.id_token })
  const confirm = /name="confirm" value="([^"]+)"/.exec(page.text)?.[1]
  t.ok(confirm, 'mallory\'s page carries a confirmation')
  const forged = await logout(alice.browser, { id_token_hint: mallory.tokens.id_token, confirm: confirm! }, 'POST')
  t.equal(forged.status, 200)
  t.match(forged.text, /<form/, 'alice is asked herself')
  t.ok(await stillLoggedIn(alice.browser), 'alice is still signed in')
  t.ok(await stillLoggedIn(mallory.browser), 'and so is mallory')
})

t.test('a hint of the user signed in here ends this browser\'s session without asking, even from an earlier login', async (t) => {
  const first = await login(stack, 'shop')
  const again = await login(stack, 'shop', { prompt: 'login' }, { browser: first.browser })
  const answer = await logout(first.browser, { id_token_hint: first.tokens.id_token, post_logout_redirect_uri: SHOP_BYE })
  t.equal(answer.location, SHOP_BYE)
  t.notOk(await stillLoggedIn(first.browser))
  t.equal((await refresh(stack, 'shop', again.tokens.refresh_token)).json.error, 'invalid_grant', 'the session this browser holds ended')
})
