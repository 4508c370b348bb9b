import t, { type Test } from 'tap'
import { assertErrorPage, assertHtmlHeaders } from '../helpers/assertions.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { testClock } from '../helpers/clock.js'
import { flipChar, login, type TokenSet } from '../helpers/oidc.js'
import { authorizeUrl, CLIENTS, startStack, type Stack } from '../helpers/stack.js'

/**
 * OIDF RP-Initiated Logout OP plan (each test is named after its module).
 * The gateway's clock is the test's, so that a hint can expire without a
 * wait; the hint is still good when expired (§2).
 */

const ID_TOKEN_LIFETIME = 3600
const clock = testClock()
let stack: Stack
t.before(async () => { stack = await startStack({ config: { tokens: { idToken: ID_TOKEN_LIFETIME } }, now: clock.now }) })
t.teardown(async () => stack.close())

const SHOP_BYE = CLIENTS.shop.postLogoutRedirectUris[0]!

async function loggedIn (): Promise<{ browser: Browser, tokens: TokenSet }> {
  return login(stack, 'shop')
}

async function logout (browser: Browser, params: Record<string, string>, method: 'GET' | 'POST' = 'GET'): Promise<BrowserResponse> {
  if (method === 'POST') return browser.fetch(`${stack.issuer}/logout`, { method: 'POST', body: new URLSearchParams(params) })
  return browser.fetch(`${stack.issuer}/logout?${new URLSearchParams(params)}`)
}

/** Whether the browser's session still answers prompt=none with a code. */
async function stillLoggedIn (browser: Browser): Promise<boolean> {
  const answer = await browser.fetch(authorizeUrl(stack.issuer, 'shop', { prompt: 'none' }))
  return new URL(answer.location!).searchParams.has('code')
}

/** The plain signed-out page: 200, HTML with the anti-framing headers, no redirect, and the session over. */
async function signedOut (t: Test, browser: Browser, answer: BrowserResponse, message: string): Promise<void> {
  t.equal(answer.status, 200, `${message}: 200`)
  t.notOk(answer.location, `${message}: no redirect`)
  assertHtmlHeaders(t, answer, message)
  t.match(answer.text, /signed out/i)
  t.notOk(await stillLoggedIn(browser), `${message}: the session has ended`)
}

t.test('oidcc-rp-initiated-logout: a valid hint and a registered post_logout_redirect_uri redirect there with state, and end the session', async (t) => {
  for (const method of ['GET', 'POST'] as const) {
    const { browser, tokens } = await loggedIn()
    const answer = await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SHOP_BYE, state: `bye-${method}` }, method)
    t.equal(answer.status, method === 'GET' ? 302 : 303, method)
    t.equal(answer.location, `${SHOP_BYE}?state=bye-${method}`, `${method}: to the registered URI with the state`)
    t.notOk(await stillLoggedIn(browser), `${method}: the session has ended`)
  }
})

t.test('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri: an unregistered URI gets an error page, never a redirect', async (t) => {
  const { browser, tokens } = await loggedIn()
  const page = await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://attacker.example/bye', state: 's' })
  assertErrorPage(t, page, 'an unregistered URI')
  t.notMatch(page.text, 'attacker.example')
})

t.test('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri: a query added to the registered URI gets an error page', async (t) => {
  const { browser, tokens } = await loggedIn()
  assertErrorPage(t, await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: `${SHOP_BYE}?added=1`, state: 's' }), 'an added query')
})

t.test('oidcc-rp-initiated-logout-modified-id-token-hint: a modified hint gets an error page and does not end the session', async (t) => {
  const { browser, tokens } = await loggedIn()
  const [header, payload, signature] = tokens.id_token.split('.') as [string, string, string]
  const changedSub = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'someone-else' })).toString('base64url')
  for (const [name, hint] of [['a flipped signature bit', `${header}.${payload}.${flipChar(signature, 7)}`], ['a changed sub', `${header}.${changedSub}.${signature}`]] as const) {
    assertErrorPage(t, await logout(browser, { id_token_hint: hint, post_logout_redirect_uri: SHOP_BYE, state: 's' }), name)
  }
  t.ok(await stillLoggedIn(browser), 'a forged logout request does not end the session')
})

t.test('oidcc-rp-initiated-logout-no-id-token-hint: a post_logout_redirect_uri without hint or client_id is never followed', async (t) => {
  const { browser } = await loggedIn()
  assertErrorPage(t, await logout(browser, { post_logout_redirect_uri: SHOP_BYE, state: 's' }), 'no hint, no client_id')
})

t.test('a post_logout_redirect_uri with client_id instead of a hint is followed (RP-Initiated Logout §2)', async (t) => {
  const { browser } = await loggedIn()
  const answer = await logout(browser, { client_id: 'shop', post_logout_redirect_uri: SHOP_BYE, state: 'cid' })
  t.equal(answer.location, `${SHOP_BYE}?state=cid`)
  t.notOk(await stillLoggedIn(browser))
})

t.test('oidcc-rp-initiated-logout-no-params: a bare logout shows the signed-out page and ends the session', async (t) => {
  const { browser } = await loggedIn()
  await signedOut(t, browser, await logout(browser, {}), 'no parameters')
})

t.test('oidcc-rp-initiated-logout-no-post-logout-redirect-uri: a hint alone shows the signed-out page and ends the session', async (t) => {
  const { browser, tokens } = await loggedIn()
  await signedOut(t, browser, await logout(browser, { id_token_hint: tokens.id_token }), 'a hint alone')
})

t.test('oidcc-rp-initiated-logout-only-state: a state alone shows the signed-out page', async (t) => {
  const { browser } = await loggedIn()
  await signedOut(t, browser, await logout(browser, { state: 'only' }), 'a state alone')
})

t.test('oidcc-rp-initiated-logout-no-state: without a state the redirect carries none', async (t) => {
  const { browser, tokens } = await loggedIn()
  const answer = await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SHOP_BYE })
  t.equal(answer.location, SHOP_BYE, 'exactly the registered URI')
})

t.test('an expired id_token_hint is still a valid hint', async (t) => {
  const { browser, tokens } = await loggedIn()
  clock.advance(ID_TOKEN_LIFETIME + 1)
  t.teardown(() => clock.advance(-ID_TOKEN_LIFETIME - 1))
  const answer = await logout(browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SHOP_BYE, state: 'late' })
  t.equal(answer.location, `${SHOP_BYE}?state=late`)
  t.notOk(await stillLoggedIn(browser))
})
