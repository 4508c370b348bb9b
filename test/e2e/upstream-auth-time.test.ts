import * as oidc from 'openid-client'
import t from 'tap'
import { Browser, type BrowserResponse } from '../../harness/browser.js'
import { startFakeOAuth2, type FakeOAuth2 } from '../helpers/fake-oauth2.js'
import { authorizationRequest, discoverClient } from '../helpers/relying-party.js'
import { CLIENTS, RP, startStack, type Stack } from '../helpers/stack.js'

/**
 * `auth_time` is when the user really authenticated at the upstream, end to
 * end: oidc-provider as the upstream, openid-client as the relying party. An
 * upstream with its own session signs a user in silently; the gateway must
 * pass on the upstream's auth_time, not the time of its own round trip, and
 * make a `max_age` hold against it. The upstream's record of when a user
 * signs in is set back (`loginClock`) to stand for a login made earlier, so
 * nothing waits for time to pass.
 */

const realNow = (): number => Math.floor(Date.now() / 1000)
/** How long ago, in seconds, the upstream records the next login as made. */
let loginsAgo = 0
/** The auth_time the upstream recorded for its last login. */
let lastLogin = 0

let stack: Stack
let naver: FakeOAuth2
t.before(async () => {
  naver = await startFakeOAuth2({ clientId: 'naver-client', clientSecret: 'naver-secret' })
  stack = await startStack({
    loginClock: () => (lastLogin = realNow() - loginsAgo),
    extraProviders: [{
      id: 'naver',
      kind: 'oauth2',
      clientId: 'naver-client',
      clientSecret: 'naver-secret',
      reauthenticate: { auth_type: 'reauthenticate' },
      regions: [{ name: 'primary', authorizationEndpoint: naver.authorizationEndpoint, tokenEndpoint: naver.tokenEndpoint, userinfoEndpoint: naver.userinfoEndpoint }],
      claims: { sub: 'response.id', email: 'response.email' },
    }],
    clientOverrides: { providers: ['idp', 'naver'] },
  })
})
t.teardown(async () => {
  await stack.close()
  await naver.close()
})
t.afterEach(() => { loginsAgo = 0 })

type ClientName = 'shop' | 'news'


interface Run {
  landed: BrowserResponse
  /** Every authorization request the browser took to an upstream, in order. */
  upstreamRequests: URLSearchParams[]
  /** How many times the upstream showed its login form. */
  forms: number
}

/** Follows the browser from `url` to the relying party, submitting the upstream's login form whenever it shows one (`beforeLogin` runs first). */
async function drive (browser: Browser, url: string, beforeLogin: (form: number) => void = () => {}): Promise<Run> {
  const upstreamRequests: URLSearchParams[] = []
  const stopAt = (next: URL): boolean => {
    if (next.searchParams.get('client_id') === 'understudy' || next.searchParams.get('client_id') === 'naver-client') upstreamRequests.push(next.searchParams)
    return next.href.startsWith(RP)
  }
  let forms = 0
  let landed = await browser.follow(url, { stopAt })
  // A bound, so a gateway that loops between itself and the upstream fails the test instead of hanging it.
  while (landed.status === 200 && forms < 4) {
    beforeLogin(++forms)
    landed = await browser.submitForm(landed.text, landed.url, { login: 'alice' }, { stopAt })
  }
  return { landed, upstreamRequests, forms }
}

/** A login of `client` with openid-client as the relying party; `maxAge` is sent and checked by openid-client too. */
async function rpLogin (browser: Browser, client: ClientName, options: { maxAge?: number, provider?: string, beforeLogin?: (form: number) => void } = {}) {
  const config = await discoverClient(stack.issuer, client)
  const { url, checks } = await authorizationRequest(config, client, {
    ...(options.maxAge === undefined ? {} : { max_age: String(options.maxAge) }),
    ...(options.provider === undefined ? {} : { provider: options.provider }),
  })
  const run = await drive(browser, url, options.beforeLogin)
  const redirect = new URL(run.landed.location ?? RP)
  const redeem = async () => oidc.authorizationCodeGrant(config, redirect, { ...checks, ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }) })
  return { ...run, config, redirect, redeem }
}

/** Forgets the gateway's session in this browser, keeping the upstream's: a new device for the gateway, a known one for the upstream. */
function dropGatewaySession (browser: Browser): void {
  browser.setCookie(stack.issuer, 'understudy-session', '')
}

t.test('a silent upstream sign-in carries the upstream\'s auth_time from ten minutes ago, not the time of the round trip', async (t) => {
  const browser = new Browser()
  loginsAgo = 600
  const first = await rpLogin(browser, 'news')
  t.equal(first.forms, 1, 'the user signs in at the upstream')
  const upstreamLogin = lastLogin
  t.equal((await first.redeem()).claims()!.auth_time, upstreamLogin, 'an interactive login: the upstream\'s auth_time')

  dropGatewaySession(browser)
  const silent = await rpLogin(browser, 'shop')
  t.equal(silent.forms, 0, 'the upstream signs the user in from its own session, with no form')
  t.equal(silent.upstreamRequests.length, 1, 'through the upstream')
  const claims = (await silent.redeem()).claims()!
  t.equal(claims.auth_time, upstreamLogin, 'auth_time is the upstream\'s login, ten minutes ago')
  t.ok(realNow() - claims.auth_time! >= 600, 'not the time of the round trip')
})

t.test('max_age shorter than the time since the upstream login makes the user authenticate again, and auth_time is that login\'s', async (t) => {
  const browser = new Browser()
  loginsAgo = 600
  const first = await rpLogin(browser, 'shop')
  const old = (await first.redeem()).claims()!.auth_time
  t.equal(old, lastLogin)

  loginsAgo = 0
  const fresh = await rpLogin(browser, 'news', { maxAge: 60 })
  t.equal(fresh.upstreamRequests.length, 1, 'the session is too old for max_age=60: the browser goes to the upstream')
  t.equal(fresh.upstreamRequests[0]!.get('max_age'), '60', 'with max_age passed on')
  t.equal(fresh.forms, 1, 'the upstream asks the user to sign in again')
  const claims = (await fresh.redeem()).claims()!
  t.equal(claims.auth_time, lastLogin, 'auth_time is the new upstream login')
  t.ok(claims.auth_time! > old!, 'later than the old one')
})

t.test('an upstream answering max_age with a login older than asked is sent back once with prompt=login', async (t) => {
  const browser = new Browser()
  loginsAgo = 600
  await (await rpLogin(browser, 'shop')).redeem()

  // The first form's login is still recorded as ten minutes old, as an upstream that ignores max_age would answer.
  const run = await rpLogin(browser, 'news', { maxAge: 60, beforeLogin: (form) => { loginsAgo = form === 1 ? 600 : 0 } })
  t.equal(run.upstreamRequests.length, 2, 'two trips to the upstream')
  t.equal(run.upstreamRequests[0]!.get('prompt'), null, 'the first with max_age only')
  t.equal(run.upstreamRequests[1]!.get('prompt'), 'login', 'the second demands a new login (the provider\'s reauthenticate parameters)')
  t.not(run.upstreamRequests[1]!.get('state'), run.upstreamRequests[0]!.get('state'), 'in a new transaction')
  t.equal(run.forms, 2)
  const claims = (await run.redeem()).claims()!
  t.equal(claims.auth_time, lastLogin, 'auth_time is the re-authentication\'s')
  t.ok(realNow() - claims.auth_time! <= 60, 'within max_age')
})

t.test('a forced re-authentication that still comes back too old is login_required, never a code', async (t) => {
  const browser = new Browser()
  loginsAgo = 600
  await (await rpLogin(browser, 'shop')).redeem()

  const run = await rpLogin(browser, 'news', { maxAge: 60 })
  t.equal(run.upstreamRequests.length, 2, 'sent back to the upstream once, not in a loop')
  t.equal(run.upstreamRequests[1]!.get('prompt'), 'login')
  t.equal(run.redirect.origin + run.redirect.pathname, CLIENTS.news.redirectUris[0], 'back at the relying party')
  t.equal(run.redirect.searchParams.get('error'), 'login_required')
  t.equal(run.redirect.searchParams.has('code'), false, 'no code')
  t.equal(run.redirect.searchParams.get('iss'), stack.issuer)
})

t.test('the upstream\'s amr is passed on in ID tokens of the upstream login, SSO and refresh', async (t) => {
  const browser = new Browser()
  const first = await rpLogin(browser, 'shop')
  const tokens = await first.redeem()
  t.same(tokens.claims()!.amr, ['pwd'], 'upstream login')
  const sso = await rpLogin(browser, 'news')
  t.equal(sso.forms, 0)
  t.same((await sso.redeem()).claims()!.amr, ['pwd'], 'SSO')
  t.same((await oidc.refreshTokenGrant(first.config, tokens.refresh_token!)).claims()!.amr, ['pwd'], 'refresh')
})

t.test('a plain OAuth 2.0 upstream: auth_time is the login through the gateway, no amr, and max_age asks for re-authentication at once', async (t) => {
  const before = realNow()
  const plain = await rpLogin(new Browser(), 'shop', { provider: 'naver' })
  const claims = (await plain.redeem()).claims()!
  t.ok(claims.auth_time! >= before && claims.auth_time! <= realNow(), 'the time of the login through the gateway')
  t.equal(claims.amr, undefined, 'no amr when the upstream sent none')
  t.equal(plain.upstreamRequests[0]!.get('auth_type'), null, 'no re-authentication asked for a plain request')

  const fresh = await rpLogin(new Browser(), 'shop', { provider: 'naver', maxAge: 60 })
  t.equal(fresh.upstreamRequests.length, 1, 'one trip')
  t.equal(fresh.upstreamRequests[0]!.get('auth_type'), 'reauthenticate', 'Naver\'s re-authentication parameter, from the provider config')
  t.equal(fresh.upstreamRequests[0]!.get('prompt'), null, 'not OIDC\'s prompt')
  t.type((await fresh.redeem()).claims()!.auth_time, 'number')
})
