import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { launchChromium, newDevice, noChromium, startSite, type Device } from '../helpers/backup-browser.js'
import { authorizationRequest, discoverClient } from '../helpers/relying-party.js'
import { CLIENTS, freePort, startStack } from '../helpers/stack.js'

// RP-initiated logout in a real browser (headless Chromium). The confirmation page's form POSTs to the
// gateway, which answers 303 to the site: Chromium holds that redirect to the page's CSP form-action,
// which a cookie-jar client never checks.

const site = await startSite()
t.teardown(() => site.close())
const launching = noChromium ? undefined : launchChromium()
t.teardown(async () => { await (await launching)?.close() })
const port = await freePort()
const issuer = `http://127.0.0.1:${port}`
const s = await startStack({
  issuer,
  provider: { healthCheck: { interval: 3600 } },
  config: {
    listen: { host: '127.0.0.1', port },
    clients: [{ ...CLIENTS.shop, providers: ['idp'], redirectUris: [`${site.url}/shop/cb`], postLogoutRedirectUris: [`${site.url}/shop/bye`] }],
  },
})
t.teardown(() => s.close())
const shop = await discoverClient(issuer, 'shop')
const chromium = await launching

/** Logs `login` in at shop on `dev` through the upstream; the ID token shop redeems. */
async function loggedIn (dev: Device, login: string): Promise<string> {
  const { url, checks } = await authorizationRequest(shop, 'shop', { redirect_uri: `${site.url}/shop/cb` })
  await dev.page.goto(url)
  await dev.page.fill('input[name="login"]', login)
  await dev.page.click('button[type="submit"]')
  const tokens = await oidc.authorizationCodeGrant(shop, await dev.landed(), checks)
  return tokens.id_token!
}

/** Whether `dev` still holds a gateway session cookie. */
async function stillLoggedIn (dev: Device): Promise<boolean> {
  return (await dev.context.cookies(issuer)).some((c) => c.name === s.gateway.gateway.cookies.session && c.value !== '')
}

t.test('a logout whose hint names someone else asks, and "Sign out" takes the browser back to the site', { skip: noChromium }, async (t: Test) => {
  const alice = await newDevice(t, chromium!, site)
  const bob = await newDevice(t, chromium!, site)
  await loggedIn(alice, 'alice')
  const bobsToken = await loggedIn(bob, 'bob')
  const logout = new URL(`${issuer}/logout`)
  logout.search = new URLSearchParams({ id_token_hint: bobsToken, post_logout_redirect_uri: `${site.url}/shop/bye`, state: 'after-logout' }).toString()
  await alice.page.goto(logout.href)
  t.equal(await alice.page.textContent('h1'), 'Sign out of understudy?', 'alice is asked, since the hint names bob')
  await alice.page.click('button[type="submit"]')
  await alice.page.waitForURL((u) => u.href.startsWith(`${site.url}/shop/bye`), { timeout: 15_000 })
  const landed = new URL(alice.page.url())
  t.equal(landed.searchParams.get('state'), 'after-logout', 'at the registered post-logout URI, with the state')
  t.equal(await alice.page.textContent('p'), 'Back at the site.')
  t.notOk(await stillLoggedIn(alice), 'alice\'s session cookie is gone')
  t.ok(await stillLoggedIn(bob), 'bob, whom the hint named, is still logged in')
})

t.test('a logout of the browser\'s own session goes straight to the site', { skip: noChromium }, async (t: Test) => {
  const alice = await newDevice(t, chromium!, site)
  const token = await loggedIn(alice, 'alice')
  const logout = new URL(`${issuer}/logout`)
  logout.search = new URLSearchParams({ id_token_hint: token, post_logout_redirect_uri: `${site.url}/shop/bye` }).toString()
  await alice.page.goto(logout.href)
  await alice.page.waitForURL((u) => u.href.startsWith(`${site.url}/shop/bye`), { timeout: 15_000 })
  t.notOk(await stillLoggedIn(alice), 'signed out')
})
