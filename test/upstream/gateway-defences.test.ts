import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { assertErrorPage } from '../helpers/assertions.js'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { startHostileOidc, type Forgery, type HostileOidc } from '../helpers/hostile-oidc.js'
import { authorizeUrl, CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

/**
 * The defences toward the upstream, end to end through the gateway, with two
 * providers configured: `idp` (a real oidc-provider) and `evil` (an OpenID
 * Provider that misbehaves on demand). Each response from an upstream must be
 * this browser's, for this login, from the provider it was sent to, and carry
 * an ID token signed as the provider publishes, or nobody is logged in.
 */

let stack: Stack
let evil: HostileOidc
t.before(async () => {
  evil = await startHostileOidc()
  stack = await startStack({
    provider: { healthCheck: { interval: 3600 } },
    extraProviders: [{ id: 'evil', kind: 'oidc', issuer: evil.issuer, clientId: evil.clientId, clientSecret: evil.clientSecret, regions: [{ name: 'only', url: evil.url }], healthCheck: { interval: 3600 } }],
    clientOverrides: { providers: ['idp', 'evil'] },
  })
})
t.teardown(async () => {
  await stack.close()
  await evil.close()
})

const SHOP_CB = CLIENTS.shop.redirectUris[0]!
const atRp = (url: URL) => url.href.startsWith(RP)
const atCallback = (url: URL) => url.href.startsWith(`${stack.issuer}/callback/`)

/** Starts a login of shop with `provider` in `browser`; answers the upstream authorization URL and the gateway's state there. */
async function start (browser: Browser, provider: 'idp' | 'evil', state = 'rp-state'): Promise<{ upstream: URL, state: string }> {
  const answer = await browser.fetch(authorizeUrl(stack.issuer, 'shop', { provider, state }))
  if (!answer.location) throw new Error(`no redirect to the upstream: ${answer.status} ${answer.text.slice(0, 200)}`)
  const upstream = new URL(answer.location)
  return { upstream, state: upstream.searchParams.get('state')! }
}

/** Goes through the upstream (its login form when it shows one) to the redirect back to the gateway, without following it. */
async function upstreamResponse (browser: Browser, upstream: URL): Promise<URL> {
  let answer = await browser.follow(upstream.href, { stopAt: atCallback })
  if (answer.status === 200) answer = await browser.submitForm(answer.text, answer.url, { login: 'alice' }, { stopAt: atCallback })
  if (!answer.location) throw new Error(`the upstream did not redirect back: ${answer.status}`)
  return new URL(answer.location)
}

/** Presents a callback to the gateway in `browser` and follows it to the relying party (or an error page). */
async function present (browser: Browser, callback: URL | string): Promise<BrowserResponse> {
  return browser.follow(typeof callback === 'string' ? callback : callback.href, { stopAt: atRp })
}

/** The relying party was told access_denied (with its state and our iss), and got no code. */
function refusedToRp (t: Test, answer: BrowserResponse, message: string): void {
  t.ok(answer.location?.startsWith(`${SHOP_CB}?`), `${message}: back at the relying party (${answer.location ?? answer.status})`)
  const query = new URL(answer.location ?? SHOP_CB).searchParams
  t.equal(query.get('error'), 'access_denied', `${message}: access_denied`)
  t.equal(query.get('state'), 'rp-state', `${message}: the relying party's state`)
  t.equal(query.get('iss'), stack.issuer, `${message}: iss`)
  t.notOk(query.get('code'), `${message}: no code`)
}

function noSession (t: Test, browser: Browser, message: string): void {
  t.notOk(browser.cookie(stack.issuer, stack.gateway.gateway.cookies.session), `${message}: no session cookie`)
}

/** A callback URL with its parameters changed (undefined removes one) and, optionally, another path. */
function tampered (callback: URL, changes: Record<string, string | undefined>, path?: string): URL {
  const url = new URL(callback)
  if (path) url.pathname = path
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) url.searchParams.delete(name)
    else url.searchParams.set(name, value)
  }
  return url
}

t.test('each login sends the upstream a fresh state, nonce and S256 challenge, and proves the verifier when it redeems the code', async (t) => {
  const seen: URLSearchParams[] = []
  for (let i = 0; i < 2; i++) {
    const browser = new Browser()
    const { upstream } = await start(browser, 'evil')
    const landed = await present(browser, await upstreamResponse(browser, upstream))
    t.ok(new URL(landed.location!).searchParams.get('code'), 'the honest login completes')
    const query = evil.authorizeRequests.at(-1)!
    seen.push(query)
    t.match(query.get('state'), /^[A-Za-z0-9_-]{32}$/, 'a 192-bit state')
    t.match(query.get('nonce'), /^[A-Za-z0-9_-]{32}$/, 'a 192-bit nonce')
    t.equal(query.get('code_challenge_method'), 'S256')
    t.equal(query.get('redirect_uri'), `${stack.issuer}/callback/evil`, 'the provider\'s own callback')
    const verifier = evil.tokenRequests.at(-1)!.code_verifier!
    t.equal(createHash('sha256').update(verifier).digest('base64url'), query.get('code_challenge'), 'the verifier sent to the token endpoint matches the challenge')
  }
  for (const name of ['state', 'nonce', 'code_challenge']) t.not(seen[0]!.get(name), seen[1]!.get(name), `a new ${name} per login`)
})

t.test('an upstream without the claims parameter is asked for auth_time through max_age, a month unless the relying party asks for less', async (t) => {
  await start(new Browser(), 'evil')
  t.equal(evil.authorizeRequests.at(-1)!.get('max_age'), String(30 * 24 * 3600), 'max_age makes auth_time required in its ID token')
  t.equal(evil.authorizeRequests.at(-1)!.get('claims'), null, 'no claims parameter it does not support')
  const answer = await new Browser().fetch(authorizeUrl(stack.issuer, 'shop', { provider: 'evil', max_age: '600' }))
  t.equal(new URL(answer.location!).searchParams.get('max_age'), '600', 'the relying party\'s own max_age is passed on')
})

t.test('a callback in a browser that did not start the login is refused, and its code is never redeemed', async (t) => {
  const victim = new Browser()
  const { upstream } = await start(victim, 'evil')
  const callback = await upstreamResponse(victim, upstream)
  const before = evil.tokenRequests.length
  const attacker = new Browser()
  assertErrorPage(t, await present(attacker, callback), 'the callback in another browser')
  noSession(t, attacker, 'the other browser')
  t.equal(evil.tokenRequests.length, before, 'the code was not sent to the token endpoint')
  t.ok(new URL((await present(victim, callback)).location!).searchParams.get('code'), 'the browser that started the login still completes it')
})

t.test('a callback replayed with its transaction cookie is refused the second time', async (t) => {
  const browser = new Browser()
  const { upstream, state } = await start(browser, 'evil')
  const txName = stack.gateway.gateway.cookies.transaction(state)
  const txCookie = browser.cookie(stack.issuer, txName)!
  const callback = await upstreamResponse(browser, upstream)
  t.ok(new URL((await present(browser, callback)).location!).searchParams.get('code'), 'the first use completes')
  t.notOk(browser.cookie(stack.issuer, txName), 'the transaction cookie is spent')
  const replay = new Browser()
  replay.setCookie(stack.issuer, txName, txCookie)
  const before = evil.tokenRequests.length
  assertErrorPage(t, await present(replay, callback), 'the replay')
  noSession(t, replay, 'the replay')
  t.equal(evil.tokenRequests.length, before, 'the code was not sent again')
})

t.test('the real upstream verifies PKCE: a code from another login in the same browser is refused', async (t) => {
  const browser = new Browser()
  const first = await start(browser, 'idp')
  const second = await start(browser, 'idp')
  const secondCallback = await upstreamResponse(browser, second.upstream)
  const injected = await present(browser, tampered(secondCallback, { state: first.state }))
  refusedToRp(t, injected, 'the second login\'s code under the first login\'s state')
  t.ok(stack.logs.some((line) => line.includes('upstream code exchange failed') && line.includes('invalid_grant')), 'the upstream refused the verifier (invalid_grant)')
})

t.test('the nonce stops a code injected from another login even when the upstream does not check PKCE', async (t) => {
  evil.checkPkce = false
  t.teardown(() => { evil.checkPkce = true })
  const browser = new Browser()
  const first = await start(browser, 'evil')
  const second = await start(browser, 'evil')
  const secondCallback = await upstreamResponse(browser, second.upstream)
  const redeemed = evil.tokenRequests.length
  refusedToRp(t, await present(browser, tampered(secondCallback, { state: first.state })), 'the second login\'s code under the first login\'s state')
  t.equal(evil.tokenRequests.length, redeemed + 1, 'the sloppy upstream redeemed the code')
  t.ok(stack.logs.some((line) => line.includes('nonce does not match')), 'the ID token\'s nonce was the other login\'s')
  noSession(t, browser, 'after the injection')
})

t.test('mix-up: a response from provider evil presented at /callback/idp is refused before any code is redeemed', async (t) => {
  for (const [name, changes] of [['as it came', {}], ['with idp\'s iss written in', { iss: stack.upstream.issuer }]] as const) {
    const browser = new Browser()
    const { upstream } = await start(browser, 'evil')
    const callback = await upstreamResponse(browser, upstream)
    const before = evil.tokenRequests.length
    assertErrorPage(t, await present(browser, tampered(callback, changes, '/callback/idp')), `evil's response at idp's callback, ${name}`)
    noSession(t, browser, name)
    t.equal(evil.tokenRequests.length, before, `${name}: no code was redeemed anywhere`)
  }
})

t.test('mix-up: a code from idp presented for a login at evil never reaches evil', async (t) => {
  const victim = new Browser()
  const idpCallback = await upstreamResponse(victim, (await start(victim, 'idp')).upstream)
  const idpCode = idpCallback.searchParams.get('code')!
  for (const [name, iss] of [['idp\'s iss', stack.upstream.issuer], ['no iss', undefined]] as const) {
    const browser = new Browser()
    const { state } = await start(browser, 'evil')
    const forged = new URL(`${stack.issuer}/callback/evil`)
    forged.searchParams.set('code', idpCode)
    forged.searchParams.set('state', state)
    if (iss) forged.searchParams.set('iss', iss)
    refusedToRp(t, await present(browser, forged), `idp's code at evil's callback with ${name}`)
  }
  t.notOk(evil.tokenRequests.some((form) => form.code === idpCode), 'evil\'s token endpoint never saw idp\'s code (RFC 9207 iss check)')
  t.ok(new URL((await present(victim, idpCallback)).location!).searchParams.get('code'), 'the victim\'s own login still completes with it')
})

t.test('a response from idp with evil\'s iss, or with none, is refused at /callback/idp', async (t) => {
  for (const [name, iss] of [['evil\'s iss', evil.issuer], ['no iss', undefined]] as const) {
    const browser = new Browser()
    const callback = await upstreamResponse(browser, (await start(browser, 'idp')).upstream)
    refusedToRp(t, await present(browser, tampered(callback, { iss })), name)
    noSession(t, browser, name)
  }
})

t.test('ID tokens outside the pinned algorithms and the published keys are refused', async (t) => {
  const forgeries: Record<Forgery, string> = {
    none: 'alg none',
    'hs256-with-public-key': 'HS256 keyed with the upstream\'s public key',
    jku: 'a jku header naming the attacker\'s keys',
    'attacker-key': 'an attacker key under the upstream\'s kid',
  }
  t.teardown(() => { evil.forgery = undefined })
  for (const [forgery, name] of Object.entries(forgeries) as Array<[Forgery, string]>) {
    evil.forgery = forgery
    const browser = new Browser()
    const { upstream } = await start(browser, 'evil')
    refusedToRp(t, await present(browser, await upstreamResponse(browser, upstream)), name)
    noSession(t, browser, name)
  }
  t.equal(evil.jkuFetches(), 0, 'the jku URL was never fetched')
  evil.forgery = undefined
  const browser = new Browser()
  const { upstream } = await start(browser, 'evil')
  t.ok(new URL((await present(browser, await upstreamResponse(browser, upstream))).location!).searchParams.get('code'), 'an honest ID token still logs in')
})
